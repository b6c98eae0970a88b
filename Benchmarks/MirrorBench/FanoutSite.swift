// A master and N slave agents, each a process of its own (this binary's `_agent`), set up from a generated mirrors.d
// as `reconcile` sets them up: what the `fanout` benchmark drives.
import Foundation
import MirrorCore
import MirrorHTTP
import MirrorTestSupport

final class FanoutSite: @unchecked Sendable {
    // Set once in init; read by the one benchmark task.
    let work: String
    let master: (process: Process, api: String)
    let slaves: [(name: String, process: Process, api: String)]
    let rsyncdPort: Int
    let token: String
    let masterDesired: DesiredAgent
    /// The agents' own client (AsyncHTTPClient): Foundation's URLSession on Linux crashed under 16 calls at once.
    private let http: APIClient

    init(work: String, upstream: String, slaves count: Int) async throws {
        self.work = work
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        token = "bench-\(UUID().uuidString)"
        try token.write(toFile: work + "/token", atomically: true, encoding: .utf8)
        chmod(work + "/token", 0o600)
        http = APIClient(token: token, timeout: 120)
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
        do throws(APICallFailure) { return try await http.call(method, url, body: body) } catch {
            throw BenchError("\(method) \(url): \(error.message(method, url, at: url))")
        }
    }

    /// The master's sync of a new revision: the first comes with the project, later ones on request.
    func startSync(revision: Int) async throws {
        if revision == 1 {
            try await put(masterDesired.api + "/v1/projects/bench?managed=true", masterDesired.spec("bench")!)
        } else {
            _ = try await call("POST", masterDesired.api + "/v1/projects/bench/sync")
        }
    }

    /// Waits until every slave serves `revision`: its tree holds `file` (a path in the tree) as `bytes`, watched by
    /// reading the trees every 10 ms, so that watching costs the agents nothing (the master's `GET /v1/status` probes
    /// every slave's health once a second, 100 requests, which is load the benchmark would add to what it measures);
    /// then until each slave has recorded the run. Returns their runs.
    func waitServed(revision: Int, file: String, bytes: Data, timeout: TimeInterval = 600) async throws -> [RunRecord] {
        let deadline = Date().addingTimeInterval(timeout)
        var waiting = slaves.map(\.name)
        while !waiting.isEmpty {
            guard Date() < deadline else {
                throw BenchError("\(waiting.count) slaves did not serve revision \(revision) within \(Int(timeout)) s")
            }
            try await Task.sleep(for: .milliseconds(10))
            waiting.removeAll { FileManager.default.contents(atPath: tree($0) + "/" + file) == bytes }
        }
        while Date() < deadline {
            let runs = try await slaveRuns().compactMap { $0 }
            if runs.count == slaves.count, runs.allSatisfy({ $0.endedAt != nil && $0.revision == revision }) {
                guard runs.allSatisfy({ $0.result?.isSuccess == true }) else {
                    throw BenchError(
                        "a slave's pull failed: \(runs.first { $0.result?.isSuccess != true }!.message ?? "")")
                }
                return runs
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the slaves did not record their pulls of revision \(revision) within \(Int(timeout)) s")
    }

    /// The master's view once the slaves serve `revision`: each one's report of it, and the master's run.
    func reported(revision: Int) async throws -> RunRecord {
        for _ in 0..<600 {
            let status = try APICoding.decoder().decode(
                SiteStatus.self, from: try await call("GET", master.api + "/v1/status"))
            if let project = status.projects["bench"], let run = project.lastRun, project.slaves.count == slaves.count,
                project.slaves.values.allSatisfy({ $0.revision >= revision && $0.result?.isSuccess == true })
            {
                return run
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the master did not hear every slave's report of revision \(revision)")
    }

    /// Each slave's last finished run of the project (nil before its first has ended), from its own state, 16 at a time.
    func slaveRuns() async throws -> [RunRecord?] {
        try await withThrowingTaskGroup(of: RunRecord?.self) { group in
            var runs: [RunRecord?] = []
            for (i, slave) in slaves.enumerated() {
                if i >= 16, let run = try await group.next() { runs.append(run) }
                group.addTask {
                    let state = try APICoding.decoder().decode(
                        AgentState.self, from: try await self.call("GET", slave.api + "/v1/state"))
                    return state.projects["bench"]?.status.lastRun
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
