// `status`: what the master's site status costs at every scrape of `GET /metrics` (and every `GET /v1/status` and status
// page): a master holding many projects, each with a full history of runs, served by two slaves that are down and
// behind on every project, so that each project's lag is worked out from the store at every request. Beside it, the
// floor of the same agent over the same loopback: `GET /v1/health`, which reads nothing.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import GRDB
import MirrorAgent
import MirrorCore
import MirrorTestSupport

func statusBenchmark(_ options: [String: String]) async throws -> Int32 {
    let projects = Int(options["projects"] ?? "") ?? 1000
    let runs = Int(options["runs"] ?? "") ?? 200
    let requests = Int(options["requests"] ?? "") ?? 50
    let (work, token) = try Bench.agentWorkspace("status")
    defer { try? FileManager.default.removeItem(atPath: work) }
    let port = freePort()
    let session = URLSession(configuration: .ephemeral)
    func call(_ method: String, _ path: String, _ body: Data? = nil) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)" + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await session.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }
    // This binary's agent code (the code under test), as `mirrorsync master` runs it.
    func startAgent() throws -> Process {
        let agent = try Bench.spawn(
            "/proc/self/exe",
            ["_agent", "--port", "\(port)", "--token-file", work + "/token", "--state-dir", work + "/state"])
        guard RsyncDaemon.waitForListener(port: port, seconds: 10) else { throw BenchError("the agent did not start") }
        return agent
    }

    // The projects and the settings, through the API; two slaves whose API no one listens on (refused at once).
    var agent = try startAgent()
    let encoder = APICoding.encoder()
    let slaves = ["ftp1": "http://127.0.0.1:\(freePort())", "ftp2": "http://127.0.0.1:\(freePort())"]
    _ = try await call("PUT", "/v1/settings", try encoder.encode(AgentSettings(root: work + "/root", slaves: slaves)))
    for i in 0..<projects {
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://rsync\(i % 200).example.org/pub/")),
            source: "project-\(i)", path: "pub/project-\(i)", interval: .every(TimeSpan(seconds: 3600)),
            suspended: true, slaves: ["ftp1", "ftp2"])
        let (status, _) = try await call("PUT", "/v1/projects/project-\(i)", try encoder.encode(spec))
        guard status == 201 else { throw BenchError("PUT project-\(i) answered \(status)") }
    }
    agent.terminate()
    agent.waitUntilExit()

    // Each project's history, as an hourly master keeps it (the store keeps 200 runs a project): `runs` successes, one
    // revision each; each slave last reported the revision of ten runs ago, and has been down since.
    let database = try DatabaseQueue(path: work + "/state/agent.sqlite")
    let start = Date().timeIntervalSince1970 - Double(runs) * 3600
    try await database.write { db in
        for i in 0..<projects {
            let project = "project-\(i)"
            for revision in 1...runs {
                let ended = start + Double(revision) * 3600
                try db.execute(
                    sql: """
                        INSERT INTO run (project, trigger, state, queuedAt, startedAt, endedAt, result, attempts, revision, bytesTotal)
                        VALUES (?, 'schedule', 'finished', ?, ?, ?, 'success', 1, ?, ?)
                        """, arguments: [project, ended - 60, ended - 60, ended, revision, 1 << 30])
            }
            try db.execute(
                sql:
                    "UPDATE project SET revision = ?, lastSuccessAt = ?, lastEndAt = ?, syncedBytes = ? WHERE name = ?",
                arguments: [runs, start + Double(runs) * 3600, start + Double(runs) * 3600, 1 << 30, project])
            for slave in slaves.keys {
                let revision = max(0, runs - 10)
                let ended = Date(timeIntervalSince1970: start + Double(revision) * 3600 + 120)
                let report = SlaveReport(
                    slave: slave, project: project, revision: revision, result: .success, runID: Int64(revision),
                    startedAt: ended.addingTimeInterval(-30), endedAt: ended, durationSeconds: 30, bytesTotal: 1 << 30)
                try db.execute(
                    sql: "INSERT INTO slave_report (slave, project, report, reportedAt) VALUES (?, ?, ?, ?)",
                    arguments: [
                        slave, project, String(decoding: try encoder.encode(report), as: UTF8.self),
                        ended.timeIntervalSince1970,
                    ])
            }
        }
    }
    try database.close()

    agent = try startAgent()
    defer {
        agent.terminate()
        agent.waitUntilExit()
    }
    func timings(_ path: String) async throws -> [Double] {
        var out: [Double] = []
        for _ in 0..<requests {
            let begin = ContinuousClock.now
            let (status, _) = try await call("GET", path)
            out.append(seconds(ContinuousClock.now - begin) * 1000)
            guard status == 200 else { throw BenchError("GET \(path) answered \(status)") }
        }
        return out
    }
    let (_, body) = try await call("GET", "/metrics")
    let lagging = String(decoding: body, as: UTF8.self).split(separator: "\n").filter {
        $0.hasPrefix("mirrorsync_slave_lag_seconds{") && !$0.hasSuffix(" 0")
    }.count
    guard lagging == 2 * projects else {
        throw BenchError("GET /metrics shows \(lagging) lagging copies, not \(2 * projects): the setup is wrong")
    }
    let health = try await timings("/v1/health")
    let metrics = try await timings("/metrics")
    let status = try await timings("/v1/status")
    func line(_ what: String, _ values: [Double]) -> String {
        String(format: "%@ median %7.2f ms   max %7.2f ms", what, Bench.median(values), values.max()!)
    }
    print("a master (the agent code inside mirrorsync-bench) holding \(projects) projects of \(runs) runs each, served")
    print(
        "by two slaves that are down and \(min(10, runs)) revisions behind on every project; \(requests) requests each:"
    )
    print(line("  floor: GET /v1/health ", health))
    print(line("  GET /metrics          ", metrics))
    print(line("  GET /v1/status        ", status))
    let met = Bench.median(metrics) < 50
    print(met ? "target met (GET /metrics median < 50 ms)" : "target MISSED (GET /metrics median < 50 ms)")
    return met ? 0 : 1
}
