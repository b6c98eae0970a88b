// `chain`: the whole chain, upstream → master → two slaves, through mirrorsync (three agents, each a process of
// its own, set up from mirrors.d as the reconciler would), against a plain script of the same three rsync commands:
// the upstream pull, then both slave pulls at once from a plain rsync daemon over the master's tree.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport

func chainBenchmark(_ options: [String: String]) async throws -> Int32 {
    let tree = Bench.TreeWork(options, name: "chain", files: 20_000, copies: 7.5)
    defer { tree.remove() }
    let files = tree.files
    let mib = tree.mib
    let runs = max(1, Int(options["runs"] ?? "") ?? 4)
    let work = tree.path
    let fm = FileManager.default
    let upstream = work + "/upstream"
    try Bench.writeTree(at: upstream, files: files, mib: mib)
    let scratch = Scratch("mirrorsync-chain-bench")
    let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
    defer { daemon.stop() }

    // The script's master serves its tree from an rsync daemon configured as mirrorsync's (the same rsyncd.conf
    // settings and credential scheme), started by hand: so the comparison is of what mirrorsync adds around rsync.
    let scriptMaster = work + "/script/master"
    try fm.createDirectory(atPath: scriptMaster, withIntermediateDirectories: true)
    let scriptPassword = UUID().uuidString
    let daemonDirectory = scratch.sub("script-rsyncd")
    try "mirrorsync:\(scriptPassword)\n".write(toFile: daemonDirectory + "/secrets", atomically: true, encoding: .utf8)
    chmod(daemonDirectory + "/secrets", 0o600)
    try RsyncdConfig.render(
        modules: [.init(name: "bench", path: scriptMaster)], user: "mirrorsync",
        secretsFile: daemonDirectory + "/secrets",
        logFile: daemonDirectory + "/log", hostsAllow: nil
    )
    .write(toFile: daemonDirectory + "/rsyncd.conf", atomically: true, encoding: .utf8)
    let scriptPort = freePort()
    let scriptDaemon = try Bench.spawn(
        "/usr/bin/rsync",
        [
            "--daemon", "--no-detach", "--config=\(daemonDirectory)/rsyncd.conf",
            "--port=\(scriptPort)", "--address=127.0.0.1",
        ])
    defer {
        scriptDaemon.terminate()
        scriptDaemon.waitUntilExit()
    }
    guard RsyncDaemon.waitForListener(port: scriptPort, seconds: 10) else {
        throw BenchError("the script's rsync daemon did not listen")
    }
    let scriptModule = "rsync://mirrorsync@127.0.0.1:\(scriptPort)/bench/"
    func arguments(_ source: String, _ destination: String) throws -> [String] {
        RsyncArguments.arguments(
            for: SyncJob(
                project: "bench", source: try .upstream(source), destination: destination + "/",
                timeout: TimeSpan(seconds: 3600)),
            pass: .first)
    }
    // The plain script, as an operator would write it: the upstream pull, then both slave pulls at once.
    func quoted(_ argv: [String]) -> String {
        argv.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }
    let scriptFile = work + "/chain.sh"
    try """
    set -e
    rsync \(quoted(try arguments(daemon.url, scriptMaster))) >/dev/null
    rsync \(quoted(try arguments(scriptModule, work + "/script/a/bench"))) >/dev/null &
    a=$!
    rsync \(quoted(try arguments(scriptModule, work + "/script/b/bench"))) >/dev/null &
    b=$!
    wait $a
    wait $b

    """.write(toFile: scriptFile, atomically: true, encoding: .utf8)
    print("script (\(scriptFile)):")
    print(try String(contentsOfFile: scriptFile, encoding: .utf8))
    func script() throws -> Double {
        let (time, status) = try Bench.timed(
            "/bin/sh", [scriptFile],
            environment: ["LC_ALL": "C", "PATH": "/usr/bin:/bin", "RSYNC_PASSWORD": scriptPassword])
        guard status == 0 else { throw BenchError("the script exited \(status)") }
        return time
    }

    var scriptTimes = (full: [Double](), again: [Double]())
    var chainTimes = (full: [Double](), again: [Double]())
    // Each side deletes its own trees from the round before just ahead of its own full sync, so that both write into
    // memory freed a moment ago: in this kind of VM, memory freed earlier is handed back to the host and faulted in
    // again, which made whichever side came second seconds slower. A first round warms up and is not counted.
    func freshScriptTrees() throws {
        for dir in ["script/master", "script/a", "script/b"] {
            try? fm.removeItem(atPath: work + "/" + dir)
            try fm.createDirectory(atPath: work + "/" + dir, withIntermediateDirectories: true)
        }
    }
    for run in 0...runs {
        func scriptSide() throws {
            try freshScriptTrees()
            let full = try script()
            let again = try script()
            if run > 0 {
                scriptTimes.full.append(full)
                scriptTimes.again.append(again)
            }
        }
        func chainSide() async throws -> Chain {
            try? fm.removeItem(atPath: work + "/mirrorsync")
            let chain = try await Chain(work: work + "/mirrorsync", upstream: daemon.url)
            let full = try await chain.sync(revision: 1, files: files)
            let again = try await chain.sync(revision: 2, files: 0)
            if run > 0 {
                chainTimes.full.append(full)
                chainTimes.again.append(again)
            }
            return chain
        }
        // Alternate who goes first.
        let chain: Chain
        if run % 2 == 1 {
            try scriptSide()
            chain = try await chainSide()
        } else {
            chain = try await chainSide()
            try scriptSide()
        }
        chain.stop()
        try Chain.verify(upstream, against: work + "/script/b/bench")
        try Chain.verify(upstream, against: chain.tree("b"))
        if run == 0 {
            print("warm-up round done")
            continue
        }
        print(
            String(
                format: "run %d: full %.2f s script, %.2f s mirrorsync; no-change %.3f s script, %.3f s mirrorsync",
                run, scriptTimes.full.last!, chainTimes.full.last!, scriptTimes.again.last!, chainTimes.again.last!))
    }
    return Bench.compare(
        "upstream → master → 2 slaves: \(files) files, \(mib) MiB, in \(work)", baseline: "script", scriptTimes,
        mirrorsync: chainTimes)
}

/// A master and two slaves, each a process (this binary's `_agent`, which runs `AgentDaemon` as `mirrorsync
/// master` and `mirrorsync slave` do), given their specs from a generated mirrors.d as the reconciler gives them.
extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

final class Chain: @unchecked Sendable {
    // Set once in init; `stop()` is called from the one benchmark task.
    let work: String
    let agents: [String: (process: Process, api: String)]
    let token: String

    /// `pushToken`: the token an upstream pushes with, in a file named by the upstream's `pushTokenFile`.
    init(work: String, upstream: String, pushToken: String? = nil) async throws {
        self.work = work
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        token = "bench-\(UUID().uuidString)"
        try token.write(toFile: work + "/token", atomically: true, encoding: .utf8)
        chmod(work + "/token", 0o600)
        var pushField = ""
        if let pushToken {
            try pushToken.write(toFile: work + "/push-token", atomically: true, encoding: .utf8)
            chmod(work + "/push-token", 0o600)
            pushField = ", pushTokenFile: \(work)/push-token"
        }
        let ports = ["master": freePort(), "a": freePort(), "b": freePort()]
        let rsyncd = freePort()
        var agents: [String: (process: Process, api: String)] = [:]
        for (name, port) in ports {
            // Pushes as fast as the benchmark sends them: the gap between runs that pushes start is not what it measures.
            let process = try Bench.spawn(
                "/proc/self/exe",
                [
                    "_agent", "--role", name == "master" ? "master" : "slave", "--name", name,
                    "--port", "\(port)", "--token-file", work + "/token", "--state-dir", work + "/\(name)-state",
                    "--push-gap", "0",
                ])
            agents[name] = (process, "http://127.0.0.1:\(port)")
        }
        self.agents = agents
        for (name, port) in ports where !RsyncDaemon.waitForListener(port: port, seconds: 20) {
            throw BenchError("agent \(name) did not listen")
        }
        let yaml = """
            master: { api: "\(agents["master"]!.api)", tokenFile: \(work)/token, root: \(work)/master, rsyncd: { address: 127.0.0.1, port: \(rsyncd) } }
            intervals: { daily: { every: 24h } }
            upstreams: { up: { url: "\(upstream)", timeout: 1h\(pushField) } }
            slaves:
              a: { api: "\(agents["a"]!.api)", publicDir: \(work)/a }
              b: { api: "\(agents["b"]!.api)", publicDir: \(work)/b }
            projects: { bench: { upstream: up, interval: daily, slaves: all } }
            """
        // The slaves first, then the master's settings; the master's first sync starts when its project arrives.
        let desired = try Self.desired(yaml, in: work)
        masterDesired = desired[0]
        for slave in desired where slave.role == .slave {
            try await put(slave.api + "/v1/settings", slave.settings)
            for (name, spec) in slave.projects { try await put(slave.api + "/v1/projects/\(name)?managed=true", spec) }
        }
        try await put(masterDesired.api + "/v1/settings", masterDesired.settings)
    }

    let masterDesired: DesiredAgent

    /// What each agent should hold, from `yaml` written as `work/mirrors.d/site.yaml` and loaded as `reconcile` loads it.
    static func desired(_ yaml: String, in work: String) throws -> [DesiredAgent] {
        try FileManager.default.createDirectory(atPath: work + "/mirrors.d", withIntermediateDirectories: true)
        try yaml.write(toFile: work + "/mirrors.d/site.yaml", atomically: true, encoding: .utf8)
        let state: DesiredState
        do throws(ConfigError) { state = try DesiredStateLoader().load(directory: work + "/mirrors.d").state } catch {
            throw BenchError("the generated mirrors.d is invalid: \(error.errors.map(\.message))")
        }
        return DesiredAgent.all(from: state)
    }

    func tree(_ slave: String) -> String { work + "/\(slave)/bench" }

    func put(_ url: String, _ body: some Encodable) async throws {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "PUT"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.httpBody = try APICoding.encoder().encode(body)
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, status < 300 else {
            throw BenchError("PUT \(url): \(String(decoding: data, as: UTF8.self))")
        }
    }

    func status() async throws -> SiteStatus {
        var request = URLRequest(url: URL(string: agents["master"]!.api + "/v1/status")!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        return try APICoding.decoder().decode(SiteStatus.self, from: try await URLSession.shared.data(for: request).0)
    }

    /// Starts the master's sync (its first one comes with the project; later ones on request) and returns the
    /// seconds until both slaves' pulls of `revision` had finished, by the end times in their reports. The status
    /// is polled only every 50 ms, so that watching costs the agents next to nothing.
    /// `pushedWith`: start it as the upstream's push with this token (`POST .../trigger`) rather than by hand
    /// (`POST .../sync` with the agents' token).
    func sync(revision: Int, files: Int, pushedWith pushToken: String? = nil) async throws -> Double {
        let start = Date()
        if revision == 1 {
            try await put(masterDesired.api + "/v1/projects/bench?managed=true", masterDesired.spec("bench")!)
        } else {
            var request = URLRequest(
                url: URL(string: masterDesired.api + "/v1/projects/bench/" + (pushToken == nil ? "sync" : "trigger"))!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(pushToken ?? token)", forHTTPHeaderField: "Authorization")
            let (data, response) = try await URLSession.shared.data(for: request)
            guard (response as? HTTPURLResponse)?.statusCode == 202 else {
                throw BenchError("\(request.url!): \(String(decoding: data, as: UTF8.self))")
            }
        }
        while true {
            try await Task.sleep(for: .milliseconds(50))
            let status = try await status()
            if let copies = status.projects["bench"]?.slaves, copies.count == 2,
                copies.values.allSatisfy({ $0.revision == revision && $0.result?.isSuccess == true })
            {
                let pulls = try await ["a", "b"].asyncMap { try await self.lastRun(of: $0) }
                guard let end = pulls.compactMap(\.endedAt).max(), pulls.allSatisfy({ $0.revision == revision }),
                    let upstream = status.projects["bench"]?.lastRun, let synced = upstream.endedAt,
                    let began = upstream.startedAt
                else {
                    throw BenchError("the slaves' runs do not match their reports")
                }
                // Where the time went: the master's own sync, the trigger's way to each slave, and the pulls.
                func ms(_ from: Date, _ to: Date?) -> String {
                    String(format: "%.0f", (to ?? from).timeIntervalSince(from) * 1000)
                }
                print(
                    "  mirrorsync: request→master rsync \(ms(start, began)) ms, master sync \(ms(began, synced)) ms, "
                        + pulls.map {
                            "slave: trigger \(ms(synced, $0.startedAt)) ms, pull \(ms($0.startedAt ?? synced, $0.endedAt)) ms"
                        }.joined(separator: "; "))
                return end.timeIntervalSince(start)
            }
            if let failed = status.projects["bench"]?.slaves.values.first(where: { $0.result == .failed }) {
                throw BenchError("a slave's pull failed: \(failed.message ?? "")")
            }
            if let run = status.projects["bench"]?.lastRun, run.result == .failed {
                throw BenchError("the master's sync failed: \(run.message ?? "")")
            }
        }
    }

    func lastRun(of slave: String) async throws -> RunRecord {
        var request = URLRequest(url: URL(string: agents[slave]!.api + "/v1/state")!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let state = try APICoding.decoder().decode(
            AgentState.self, from: try await URLSession.shared.data(for: request).0)
        guard let run = state.projects["bench"]?.status.lastRun else { throw BenchError("slave \(slave) has no run") }
        return run
    }

    static func verify(_ upstream: String, against copy: String) throws {
        guard Tree.count(upstream) == Tree.count(copy) else {
            throw BenchError("\(copy) holds \(Tree.count(copy)) entries, the upstream \(Tree.count(upstream))")
        }
    }

    func stop() {
        for (_, agent) in agents where agent.process.isRunning {
            agent.process.terminate()
            agent.process.waitUntilExit()
        }
    }
}
