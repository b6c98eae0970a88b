import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// A site on loopback ports whose processes the test kills outright: master, slaves a and b, and `reconcile --watch`.
final class KillSite: @unchecked Sendable {
    // Every property but the processes' restarts is set once in init; the one test task restarts them.
    let scratch = Scratch("kill-rounds")
    let upstream: String
    let directory: String
    let tokenFile: String
    let daemon: RsyncDaemon
    let ports: [String: Int]
    var processes: [String: LabProcess] = [:]
    let agents = ["master", "a", "b"]
    /// The watch's --resync: short for the kill rounds, which must repair what a killed agent missed.
    let resync: String
    /// The watch's --timeout: how long one reconcile keeps retrying agents that do not answer.
    let timeout: Int

    init(resync: String = "2s", timeout: Int = 60) throws {
        self.resync = resync
        self.timeout = timeout
        upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream + "/linux", files: 300, bytes: 4096)
        try Tree.generate(at: upstream + "/tools", files: 20, bytes: 512, seed: 5)
        daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        tokenFile = scratch.path + "/token"
        try "token-\(UUID().uuidString)".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        directory = scratch.sub("mirrors.d")
        ports = ["master": freePort(), "a": freePort(), "b": freePort(), "rsyncd": freePort()]
        try writeConfig(variant: 0)
    }

    /// Two shapes of the config the rounds switch between: `tools` on a alone and linux hourly, or `tools` on both
    /// and linux every two hours.
    func writeConfig(variant: Int, atomically: Bool = true, bandwidthLimit: String? = nil) throws {
        try """
        master:
          api: http://127.0.0.1:\(ports["master"]!)
          tokenFile: \(tokenFile)
          root: \(scratch.path)/master-root
          rsyncd: { address: 127.0.0.1, port: \(ports["rsyncd"]!) }
        intervals:
          hourly: { every: \(variant == 0 ? "1h" : "2h") }
        upstreams:
          up: { url: "\(daemon.url)"\(bandwidthLimit.map { ", bandwidthLimit: \($0)" } ?? "") }
        slaves:
          a: { api: "http://127.0.0.1:\(ports["a"]!)", publicDir: \(scratch.path)/a-public }
          b: { api: "http://127.0.0.1:\(ports["b"]!)", publicDir: \(scratch.path)/b-public }
        projects:
          linux: { upstream: up, source: linux, interval: hourly, slaves: all }
          tools: { upstream: up, source: tools, interval: hourly, slaves: \(variant == 0 ? "[a]" : "all") }

        """.write(toFile: directory + "/site.yaml", atomically: atomically, encoding: .utf8)
    }

    func command(_ name: String) -> [String] {
        switch name {
        case "reconcile":
            [
                binary, "reconcile", directory, "--watch", "--resync", resync, "--debounce", "20", "--timeout",
                "\(timeout)",
            ]
        case "master":
            [
                binary, "master", "--listen", "127.0.0.1:\(ports["master"]!)", "--token-file", tokenFile,
                "--state-dir", scratch.path + "/master-state",
            ]
        default:
            [
                binary, "slave", "--name", name, "--listen", "127.0.0.1:\(ports[name]!)", "--token-file", tokenFile,
                "--state-dir", scratch.path + "/\(name)-state", "--catch-up-interval", "2",
            ]
        }
    }

    func start(_ name: String) throws {
        let process = LabProcess(command(name), log: scratch.path + "/\(name).log")
        try process.start()
        processes[name] = process
        if let port = ports[name] {
            guard RsyncDaemon.waitForListener(port: port, seconds: 20) else {
                throw ValueError("\(name) did not listen again")
            }
        }
    }

    func request(_ agent: String, _ method: String, _ path: String) async throws -> Data {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(ports[agent]!)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 5
        // Read each time: a test may rotate it.
        request.setValue("Bearer \(try TokenFile.read(tokenFile))", forHTTPHeaderField: "Authorization")
        return try await URLSession.shared.data(for: request).0
    }

    func state(_ agent: String) async throws -> AgentState {
        try APICoding.decoder().decode(AgentState.self, from: try await request(agent, "GET", "/v1/state"))
    }

    // A test that fails half-way leaves nothing running.
    deinit { for process in processes.values { process.terminate() } }

    /// The reconciler first, as `up` does: with an agent gone, its reconcile in progress would retry it until --timeout.
    func stopAll() async {
        for name in ["reconcile"] + agents { _ = await processes[name]?.stop(SIGTERM) }
    }

    /// rsync processes writing into this site's trees (not the upstream's daemon, not the master's daemon), from /proc.
    func rsyncProcesses() -> [(pid: pid_t, argv: [String])] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> (pid_t, [String])? in
            guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let first = argv.first, (first as NSString).lastPathComponent == "rsync", !argv.contains("--daemon"),
                argv.contains(where: { $0.hasPrefix(scratch.path) })
            else { return nil }
            return (pid, argv)
        }
    }

    /// The same, as `PID: ARGV` lines for a failure's message.
    func rsyncs() -> [String] { rsyncProcesses().map { "\($0.pid): \($0.argv.joined(separator: " "))" } }

    func logs(lines: Int = 12) -> String {
        (agents + ["reconcile"]).map { name in
            let text = (try? String(contentsOfFile: scratch.path + "/\(name).log", encoding: .utf8)) ?? ""
            return "--- \(name):\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

@Suite("Faults: kill -9 rounds", .serialized)
struct KillRoundsTests {
    static let seed: UInt64 =
        ProcessInfo.processInfo.environment["MIRRORSYNC_FAULT_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 1...UInt64(UInt32.max))
    static let rounds = ProcessInfo.processInfo.environment["MIRRORSYNC_KILL_ROUNDS"].flatMap { Int($0) } ?? 20

    @Test(
        "the master, a slave or the watching reconciler killed with SIGKILL at random moments while syncs run and mirrors.d changes: afterwards every store is sound, nothing is left running or 'running', and the site converges to the config and the upstream's last tree"
    )
    func killRounds() async throws {
        let seed = Self.seed
        var random = SeededGenerator(state: seed)
        let site = try KillSite()
        let replay = "seed \(seed) (MIRRORSYNC_FAULT_SEED=\(seed) runs these rounds again)"
        for name in site.agents + ["reconcile"] { try site.start(name) }
        var variant = 0
        var kills: [String] = []
        for round in 1...Self.rounds {
            // Something changes upstream, the master is asked to sync, and mirrors.d is edited, in a random order.
            try Data("round \(round)\n".utf8).write(
                to: URL(fileURLWithPath: site.upstream + "/linux/round-\(round).txt"))
            try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &+ round) })
                .write(to: URL(fileURLWithPath: site.upstream + "/linux/pool/\(round % 10)/file-\(round % 300).deb"))
            _ = try? await site.request("master", "POST", "/v1/projects/linux/sync")
            if Bool.random(using: &random) {
                variant = 1 - variant
                try site.writeConfig(variant: variant, atomically: Bool.random(using: &random))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...1200, using: &random)))
            let victim = (site.agents + ["reconcile"]).randomElement(using: &random)!
            site.processes[victim]?.kill(SIGKILL)
            _ = await site.processes[victim]?.stop(SIGKILL)
            kills.append(victim)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...300, using: &random)))
            do { try site.start(victim) } catch {
                Issue.record(
                    "round \(round): \(victim) did not start again after kill -9: \(error); \(replay)\n\(site.logs())")
                return
            }
        }

        let roundsEnded = Date()
        // Settled: the reconciler applies the last config, the master syncs once more, both slaves follow.
        _ = try? await site.request("master", "POST", "/v1/projects/linux/sync")
        let expected = try Tree.snapshot(site.upstream + "/linux")
        let deadline = Date().addingTimeInterval(120)
        var last = ""
        var settled = false
        while Date() < deadline && !settled {
            try await Task.sleep(for: .milliseconds(300))
            guard let master = try? await site.state("master"), let a = try? await site.state("a"),
                let b = try? await site.state("b"),
                let linux = master.projects["linux"]
            else { continue }
            let slaves = [a, b]
            let trees =
                (try? ["a", "b"].allSatisfy { try Tree.snapshot(site.scratch.path + "/\($0)-public/linux") == expected })
                ?? false
            let idle = ([master] + slaves).allSatisfy { $0.projects.values.allSatisfy { $0.status.activity == .idle } }
            let toolsOnB = b.projects["tools"] != nil
            settled =
                trees && idle && toolsOnB == (variant == 1)
                && slaves.allSatisfy { $0.projects["linux"]?.status.revision == linux.status.revision }
                && (try? Tree.snapshot(site.scratch.path + "/master-root/linux")) == expected
            last =
                "master linux r\(linux.status.revision) \(linux.status.activity); a r\(a.projects["linux"]?.status.revision ?? -1); "
                + "b r\(b.projects["linux"]?.status.revision ?? -1), tools on b: \(toolsOnB) (want \(variant == 1)); trees equal: \(trees)"
            if !settled, linux.status.activity == .idle, !trees {
                _ = try? await site.request("master", "POST", "/v1/projects/linux/sync")
            }
        }
        print(
            "kill rounds: \(Self.rounds) rounds; settled \(String(format: "%.1f", Date().timeIntervalSince(roundsEnded))) s after the last; \(last)"
        )
        #expect(
            settled,
            "the site did not converge after \(Self.rounds) rounds (kills: \(kills)); \(replay); last: \(last)\n\(site.logs())"
        )

        // No run of any agent is left 'running' in its store's history.
        for agent in site.agents {
            let state = try await site.state(agent)
            for (name, project) in state.projects {
                #expect(
                    project.status.lastRun?.state != .running || project.status.activity == .running,
                    "\(agent)/\(name): a run is recorded running with none in progress; \(replay)")
            }
        }
        await site.stopAll()
        #expect(site.rsyncs().isEmpty, "rsync left running: \(site.rsyncs()); \(replay)")
        for agent in site.agents {
            let (status, output) = try NetworkLab.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
                    site.scratch.path + "/\(agent)-state/agent.sqlite",
                ], check: false)
            #expect(status == 0 && output == "ok\n", "\(agent)'s store: \(output); \(replay)")
        }
    }
}
