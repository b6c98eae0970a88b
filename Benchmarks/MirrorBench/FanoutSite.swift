// A master and N slave agents, each a process of its own (this binary's `_agent`), set up from a generated mirrors.d
// as `reconcile` sets them up: what the `fanout` benchmark drives.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import MirrorCore
import MirrorTestSupport

final class FanoutSite: @unchecked Sendable {
    // Set once in init; read by the one benchmark task.
    let work: String
    let master: (process: Process, api: String)
    let slaves: [(name: String, process: Process, api: String)]
    let rsyncdPort: Int
    let token: String
    let masterDesired: DesiredAgent
    private let session: URLSession

    init(work: String, upstream: String, slaves count: Int) async throws {
        self.work = work
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        token = "bench-\(UUID().uuidString)"
        try token.write(toFile: work + "/token", atomically: true, encoding: .utf8)
        chmod(work + "/token", 0o600)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 16
        configuration.timeoutIntervalForRequest = 120
        session = URLSession(configuration: configuration)
        func spawn(_ role: String, _ name: String) throws -> (Process, String) {
            let port = freePort()
            let process = try Bench.spawn(
                "/proc/self/exe",
                [
                    "_agent", "--role", role, "--name", name, "--port", "\(port)", "--token-file", work + "/token",
                    "--state-dir", work + "/\(name)-state",
                ])
            return (process, "http://127.0.0.1:\(port)")
        }
        let (masterProcess, masterAPI) = try spawn("master", "master")
        master = (masterProcess, masterAPI)
        slaves = try (0..<count).map { i in
            let (process, api) = try spawn("slave", "s\(i)")
            return ("s\(i)", process, api)
        }
        rsyncdPort = freePort()
        for agent in [("master", masterAPI)] + slaves.map({ ($0.name, $0.api) }) {
            guard let port = URLComponents(string: agent.1)?.port,
                RsyncDaemon.waitForListener(port: port, seconds: 60)
            else { throw BenchError("agent \(agent.0) did not listen") }
        }
        let yaml = """
            master: { api: "\(masterAPI)", tokenFile: \(work)/token, root: \(work)/master, rsyncd: { address: 127.0.0.1, port: \(rsyncdPort) } }
            intervals: { daily: { every: 24h } }
            upstreams: { up: { url: "\(upstream)", timeout: 1h } }
            slaves:
            \(slaves.map { "  \($0.name): { api: \"\($0.api)\", publicDir: \(work)/\($0.name) }" }.joined(separator: "\n"))
            projects: { bench: { upstream: up, interval: daily, slaves: all } }
            """
        let desired = try Chain.desired(yaml, in: work)
        masterDesired = desired.first { $0.role == .master }!
        // The slaves first, then the master's settings; the master's first sync starts when its project arrives.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slave in desired where slave.role == .slave {
                group.addTask {
                    try await self.put(slave.api + "/v1/settings", slave.settings)
                    for (name, spec) in slave.projects {
                        try await self.put(slave.api + "/v1/projects/\(name)?managed=true", spec)
                    }
                }
            }
            try await group.waitForAll()
        }
        try await put(masterDesired.api + "/v1/settings", masterDesired.settings)
    }

    func tree(_ slave: String) -> String { work + "/\(slave)/bench" }

    /// The master's module and the site's rsync credential from its secrets file, for the plain script's pulls.
    func module() throws -> (url: String, password: String) {
        let secrets = try String(contentsOfFile: work + "/master-state/rsyncd/rsyncd.secrets", encoding: .utf8)
        guard let line = secrets.split(separator: "\n").first, let colon = line.firstIndex(of: ":") else {
            throw BenchError("the master's rsyncd.secrets holds no credential")
        }
        let user = line[..<colon]
        return ("rsync://\(user)@127.0.0.1:\(rsyncdPort)/bench/", String(line[line.index(after: colon)...]))
    }

    func put(_ url: String, _ body: some Encodable & Sendable) async throws {
        _ = try await call("PUT", url, body: try APICoding.encoder().encode(body))
    }

    func call(_ method: String, _ url: String, body: Data? = nil) async throws -> Data {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await session.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, status < 300 else {
            throw BenchError("\(method) \(url): \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }

    /// The master's sync of a new revision: the first comes with the project, later ones on request.
    func startSync(revision: Int) async throws {
        if revision == 1 {
            try await put(masterDesired.api + "/v1/projects/bench?managed=true", masterDesired.spec("bench")!)
        } else {
            _ = try await call("POST", masterDesired.api + "/v1/projects/bench/sync")
        }
    }

    /// Waits until the master's status has every slave serving `revision` (their reports), polling every 50 ms so
    /// that watching costs the agents next to nothing; returns the master's run.
    func waitServed(revision: Int, timeout: TimeInterval = 600) async throws -> RunRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            let status = try APICoding.decoder().decode(
                SiteStatus.self, from: try await call("GET", master.api + "/v1/status"))
            guard let project = status.projects["bench"] else { continue }
            if project.slaves.count == slaves.count,
                project.slaves.values.allSatisfy({ $0.revision >= revision && $0.result?.isSuccess == true }),
                let run = project.lastRun
            {
                return run
            }
            if let failed = project.slaves.values.first(where: { $0.result == .failed }) {
                throw BenchError("a slave's pull failed: \(failed.message ?? "")")
            }
            if let run = project.lastRun, run.result == .failed {
                throw BenchError("the master's sync failed: \(run.message ?? "")")
            }
        }
        throw BenchError("the slaves did not all serve revision \(revision) within \(Int(timeout)) s")
    }

    /// Each slave's last run of the project, from its own state (16 at a time).
    func slaveRuns() async throws -> [RunRecord] {
        try await withThrowingTaskGroup(of: RunRecord.self) { group in
            var runs: [RunRecord] = []
            for (i, slave) in slaves.enumerated() {
                if i >= 16, let run = try await group.next() { runs.append(run) }
                group.addTask {
                    let state = try APICoding.decoder().decode(
                        AgentState.self, from: try await self.call("GET", slave.api + "/v1/state"))
                    guard let run = state.projects["bench"]?.status.lastRun else {
                        throw BenchError("slave \(slave.name) has no run")
                    }
                    return run
                }
            }
            for try await run in group { runs.append(run) }
            return runs
        }
    }

    func stop() {
        let all = [master.process] + slaves.map(\.process)
        for process in all where process.isRunning { process.terminate() }
        for process in all { process.waitUntilExit() }
    }
}
