// `fanout1000`: a master agent (a process of its own) and a light stand-in for N slaves (default 1,000; one process,
// `StandinSlaves`): from the end of the master's sync of one changed file to every slave serving it, the master's
// daemon bounded by `master.rsyncd.maxConnections`; beside it, from the same round, the full walk alone: the same N
// pulls through the same pool, started at once with no master in the way. The master's resident memory and open
// files are sampled from /proc through each round.
import Foundation
import MirrorCore
import MirrorHTTP
import MirrorTestSupport
import Synchronization

func fanout1000Benchmark(_ options: [String: String]) async throws -> Int32 {
    let count = max(1, Int(options["slaves"] ?? "") ?? 1000)
    let files = max(1, Int(options["files"] ?? "") ?? 200)
    let runs = max(1, Int(options["runs"] ?? "") ?? 3)
    let poolSize = max(1, Int(options["pool"] ?? "") ?? 16)
    let maxConnections = max(1, Int(options["max-connections"] ?? "") ?? 50)
    let given = options["dir"]
    let work = given ?? Bench.workDirectory("fanout1000", mib: 512, copies: 1)
    defer { if given == nil { try? FileManager.default.removeItem(atPath: work) } }
    let fm = FileManager.default
    let upstream = work + "/upstream"
    try Bench.writeSmallFiles(at: upstream, files: files)
    let scratch = Scratch("mirrorsync-fanout1000-bench")
    let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
    defer { daemon.stop() }

    // The master, as `fanout` starts it.
    let site = work + "/site"
    try fm.createDirectory(atPath: site, withIntermediateDirectories: true)
    let token = "bench-\(UUID().uuidString)"
    try token.write(toFile: site + "/token", atomically: true, encoding: .utf8)
    chmod(site + "/token", 0o600)
    let http = APIClient(token: token, timeout: 600)
    func call(_ method: String, _ url: String, body: Data? = nil) async throws -> Data {
        do throws(APICallFailure) { return try await http.call(method, url, body: body) } catch {
            throw BenchError("\(method) \(url): \(error.message(method, url, at: url))")
        }
    }
    let masterPort = freePort()
    let master = try Bench.spawn(
        "/proc/self/exe",
        [
            "_agent", "--role", "master", "--name", "master", "--port", "\(masterPort)", "--token-file",
            site + "/token", "--state-dir", site + "/master-state",
        ])
    defer {
        master.terminate()
        master.waitUntilExit()
    }
    let masterAPI = "http://127.0.0.1:\(masterPort)"
    guard RsyncDaemon.waitForListener(port: masterPort, seconds: 60) else { throw BenchError("no master") }

    // The stand-in's pulls: from the master's module with the site's credential, read once the daemon has written it.
    let rsyncdPort = freePort()
    let credential = Credential()
    let standin = work + "/standin"
    let pool = PullPool(limit: poolSize) { slave in
        let (module, password) = credential.value
        var refusals = 0
        while true {
            let status = await rsyncExit(
                ["-aH", "--delete", "--sockopts=TCP_NODELAY", module, "\(standin)/s\(slave)/"], password: password)
            if status == 5 {
                refusals += 1
                try? await Task.sleep(for: .milliseconds(Int.random(in: 50...300)))
                continue
            }
            return (status == 0, refusals)
        }
    }
    print("binding \(count) stand-in slaves ...")
    let slaves = try await StandinSlaves(count: count, pool: pool)
    let yaml = """
        master: { api: "\(masterAPI)", tokenFile: \(site)/token, root: \(site)/master, rsyncd: { address: 127.0.0.1, port: \(rsyncdPort), maxConnections: \(maxConnections) } }
        intervals: { daily: { every: 24h } }
        upstreams: { up: { url: "\(daemon.url)", timeout: 1h } }
        slaves:
        \(slaves.ports.enumerated().map { "  s\($0.offset): { api: \"http://127.0.0.1:\($0.element)\", publicDir: \(standin)/s\($0.offset) }" }.joined(separator: "\n"))
        projects: { bench: { upstream: up, interval: daily, slaves: all } }
        """
    let desired = try Chain.desired(yaml, in: site)
    let masterDesired = desired.first { $0.role == .master }!
    _ = try await call("PUT", masterAPI + "/v1/settings", body: try APICoding.encoder().encode(masterDesired.settings))
    for i in 0..<count { try fm.createDirectory(atPath: "\(standin)/s\(i)", withIntermediateDirectories: true) }
    try await eventually("the master's daemon has its credential", seconds: 60) {
        guard let secrets = try? String(contentsOfFile: site + "/master-state/rsyncd/rsyncd.secrets", encoding: .utf8),
            let line = secrets.split(separator: "\n").first, let colon = line.firstIndex(of: ":")
        else { return false }
        credential.set(
            ("rsync://\(line[..<colon])@127.0.0.1:\(rsyncdPort)/bench/", String(line[line.index(after: colon)...])))
        return true
    }

    func masterRun() async throws -> RunRecord? {
        try APICoding.decoder().decode(AgentState.self, from: try await call("GET", masterAPI + "/v1/state"))
            .projects["bench"]?.status.lastRun
    }
    /// Waits until every stand-in slave has pulled `revision`, sampling the master's memory and open files.
    func waitPulled(_ revision: Int) async throws -> (ends: [Int: Date], rss: Double, files: Int) {
        var rss = 0.0
        var open = 0
        let deadline = Date().addingTimeInterval(1800)
        while Date() < deadline {
            rss = max(rss, Bench.residentMiB(master.processIdentifier) ?? 0)
            open = max(open, (try? fm.contentsOfDirectory(atPath: "/proc/\(master.processIdentifier)/fd").count) ?? 0)
            let ends = await pool.ended(revision)
            if ends.count == count { return (ends, rss, open) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("the stand-in slaves did not all pull revision \(revision)")
    }

    print("the master's first sync, and \(count) first pulls ...")
    _ = try await call(
        "PUT", masterAPI + "/v1/projects/bench?managed=true",
        body: try APICoding.encoder().encode(masterDesired.spec("bench")!))
    _ = try await waitPulled(1)

    var figures: [Double] = []
    var floors: [Double] = []
    for round in 1...runs {
        let revision = round + 1
        let (file, bytes) = try Bench.rewriteSmallFile(at: upstream, round: round, files: files)
        _ = try await call("POST", masterAPI + "/v1/projects/bench/sync")
        let (ends, rss, open) = try await waitPulled(revision)
        guard let run = try await masterRun(), run.revision == revision, let synced = run.endedAt,
            let last = ends.values.max()
        else { throw BenchError("the master's run of revision \(revision) is not recorded") }
        guard fm.contents(atPath: "\(standin)/s\(count - 1)/\(file)") == bytes else {
            throw BenchError("the last stand-in slave does not serve revision \(revision)")
        }
        // The full walk alone: the same pulls through the same pool, all submitted at once.
        let start = Date()
        for slave in 0..<count { await pool.submit(slave, revision: -round) }
        let (floorEnds, _, _) = try await waitPulled(-round)
        let floor = floorEnds.values.max()!.timeIntervalSince(start)
        let figure = last.timeIntervalSince(synced)
        figures.append(figure)
        floors.append(floor)
        print(
            String(
                format:
                    "round %d: master's run end → %d slaves serving %.3f s; the same pulls alone %.3f s; master's RSS at most %.1f MiB, open files at most %d",
                round, count, figure, floor, rss, open))
    }
    let refused = await pool.refusals
    let failed = await pool.failures
    print("")
    print(
        "fan-out to \(count) stand-in slaves: \(files) files of 1 KiB, one changed per round, pool of \(poolSize) pulls, "
            + "master.rsyncd.maxConnections \(maxConnections), in \(work); median of \(runs)")
    print("                                           figure s   full walk alone s   target")
    print(
        String(
            format: "master's run end → every slave serving   %8.3f   %17.3f   < 60", Bench.median(figures),
            Bench.median(floors)))
    print("pulls refused at max connections and retried: \(refused); failed: \(failed)")
    await slaves.stop()
    return Bench.median(figures) < 60 && failed == 0 ? 0 : 1
}

/// The site's module and credential, set once the master's daemon has written it, read by every pull.
final class Credential: Sendable {
    private let state = Mutex<(String, String)>(("", ""))
    var value: (String, String) { state.withLock { $0 } }
    func set(_ value: (String, String)) { state.withLock { $0 = value } }
}
