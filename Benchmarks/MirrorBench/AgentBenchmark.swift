// `agent`: an idle agent holding many projects, in a process of its own: its resident memory, and the latency
// of GET /v1/state over loopback.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// Child: the agent itself, as `mirrorsync master` runs it.
func runAgent(_ options: [String: String]) async throws -> Int32 {
    var logger = Logger(label: "bench-agent")
    logger.logLevel = .critical
    var agentOptions = AgentOptions(
        role: options["role"] == "slave" ? .slave : .master, name: options["name"] ?? "master", host: "127.0.0.1",
        port: Int(options["port"] ?? "") ?? 0,
        tokenFile: options["token-file"] ?? "", stateDirectory: options["state-dir"] ?? "")
    if let gap = options["push-gap"].flatMap(Double.init) { agentOptions.policy.pushGap = gap }
    let agent = try AgentDaemon(options: agentOptions, logger: logger)
    try await agent.run()
    return 0
}

func agentBenchmark(_ options: [String: String]) async throws -> Int32 {
    let projects = Int(options["projects"] ?? "") ?? 1000
    let requests = Int(options["requests"] ?? "") ?? 1000
    let (work, token) = try Bench.agentWorkspace("agent")
    defer { try? FileManager.default.removeItem(atPath: work) }
    let port = freePort()
    // The binary users install (--binary, else scripts/release.sh's in .build-release, else the one built beside this
    // benchmark); without any, the same agent code in this binary, which also links what the benchmark's HTTP client needs.
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let binary = installedBinary(options, packageRoot: packageRoot)
    let real = binary != nil
    let agent =
        real
        ? try Bench.spawn(
            binary!,
            [
                "master", "--listen", "127.0.0.1:\(port)", "--token-file", work + "/token", "--state-dir",
                work + "/state", "--log-level", "critical",
            ])
        : try Bench.spawn(
            "/proc/self/exe",
            ["_agent", "--port", "\(port)", "--token-file", work + "/token", "--state-dir", work + "/state"])
    defer {
        agent.terminate()
        agent.waitUntilExit()
    }
    guard RsyncDaemon.waitForListener(port: port, seconds: 10) else { throw BenchError("the agent did not start") }
    let base = "http://127.0.0.1:\(port)"
    let session = URLSession(configuration: .ephemeral)

    func call(_ method: String, _ path: String, _ body: Data? = nil) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await session.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }
    let encoder = APICoding.encoder()
    _ = try await call("PUT", "/v1/settings", try encoder.encode(AgentSettings(root: work + "/root")))
    for i in 0..<projects {
        // Suspended: the agent holds them and runs nothing, which is what idle means here.
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://rsync\(i % 200).example.org/pub/")),
            source: "dists/project-\(i)", path: "pub/project-\(i)", interval: .every(TimeSpan(seconds: 3600)),
            exclude: ["*.tmp"], twoStage: ["Packages*", "Release*"], suspended: true, slaves: ["ftp1", "ftp2"])
        let (status, _) = try await call("PUT", "/v1/projects/project-\(i)", try encoder.encode(spec))
        guard status == 201 else { throw BenchError("PUT project-\(i) answered \(status)") }
    }
    try await Task.sleep(for: .seconds(2))
    let rss = Bench.residentMiB(agent.processIdentifier) ?? .nan
    var bytes = 0
    for _ in 0..<50 { bytes = try await call("GET", "/v1/state").1.count }
    var latencies: [Double] = []
    for _ in 0..<requests {
        let start = ContinuousClock.now
        let (status, _) = try await call("GET", "/v1/state")
        latencies.append(seconds(ContinuousClock.now - start) * 1000)
        guard status == 200 else { throw BenchError("GET /v1/state answered \(status)") }
    }
    let rssAfter = Bench.residentMiB(agent.processIdentifier) ?? .nan
    let memory = Bench.memory(agent.processIdentifier)
    // The same, each GET right after a PUT that changed one project: the state is assembled again, that project re-encoded.
    var afterChange: [Double] = []
    for i in 0..<max(20, requests / 10) {
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://rsync0.example.org/pub/")),
            path: "pub/project-0", interval: .every(TimeSpan(seconds: 3600 + i + 1)), suspended: true)
        _ = try await call("PUT", "/v1/projects/project-0", try encoder.encode(spec))
        let start = ContinuousClock.now
        _ = try await call("GET", "/v1/state")
        afterChange.append(seconds(ContinuousClock.now - start) * 1000)
    }
    func percentile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        return s[min(s.count - 1, max(0, Int((Double(s.count) * p).rounded(.up)) - 1))]
    }
    let p50 = percentile(latencies, 0.5)
    let p99 = percentile(latencies, 0.99)
    print("an idle agent (\(binary ?? "the agent code inside mirrorsync-bench")) holding \(projects) projects;")
    print("\(requests) GET /v1/state of \(bytes) bytes each, one at a time over loopback")
    print(
        String(
            format: "resident memory (VmRSS): %.1f MiB idle, %.1f MiB after the requests  (target < 25 MiB)", rss,
            rssAfter))
    print(
        String(
            format:
                "  of which private (RssAnon) %.1f MiB, shared code and data (RssFile) %.1f MiB; proportional (Pss) %.1f MiB",
            memory.anon, memory.file, memory.pss))
    if let pages = ResidentPages(pid: agent.processIdentifier) {
        print("  \(pages.threads) threads; the largest resident parts:")
        pages.lines().forEach { print($0) }
    }
    print(
        String(
            format: "GET /v1/state: p50 %.2f ms, p99 %.2f ms, max %.2f ms  (target p99 < 10 ms)", p50, p99,
            latencies.max()!))
    print(
        String(
            format: "GET /v1/state right after a change: p50 %.2f ms, p99 %.2f ms", percentile(afterChange, 0.5),
            percentile(afterChange, 0.99)))
    let met = rss < 25 && p99 < 10
    print(met ? "targets met" : "target MISSED")
    return met ? 0 : 1
}
