import Foundation
import Logging
import Testing
@testable import MirrorAgent
import MirrorCore
@testable import MirrorReconciler
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// Agents in this process on loopback ports, and a mirrors.d that names them.
final class LiveSite: @unchecked Sendable {
    // `agents` and `tasks` change only in `start`, called from the test's own task.
    let scratch = Scratch("site")
    /// The master's rsync daemon listens on loopback, on a port of its own per site.
    let rsyncdPort = freePort()
    let token = "site-token-\(UUID().uuidString)"
    let tokenFile: String
    var agents: [String: AgentDaemon] = [:]
    var tasks: [String: Task<Void, Never>] = [:]
    var ports: [String: Int] = [:]

    init(slaves: [String]) throws {
        tokenFile = scratch.path + "/token"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        for name in ["master"] + slaves { ports[name] = freePort() }
    }

    /// `configure`: anything more, such as the API's TLS.
    func start(_ name: String, configure: (inout AgentOptions) -> Void = { _ in }) async throws {
        var options = AgentOptions(
            role: name == "master" ? .master : .slave, name: name, host: "127.0.0.1", port: ports[name]!,
            tokenFile: tokenFile, stateDirectory: scratch.path + "/state-\(name)",
            policy: .init(maxAttempts: 1), handleSignals: false, allowLocalUpstreams: [scratch.path + "/upstream"])
        configure(&options)
        let daemon = try AgentDaemon(options: options, logger: testLogger)
        agents[name] = daemon
        tasks[name] = Task { try? await daemon.run() }
        _ = await daemon.listeningPort()
    }

    func stopAll() async {
        for (name, daemon) in agents {
            await daemon.shutdown()
            await tasks[name]?.value
        }
    }

    /// mirrors.d for these agents, with `projects` (YAML under `projects:`).
    func desired(_ projects: String) throws -> [DesiredAgent] {
        let state = try DesiredStateLoader().load(
            files: [("site.yaml", Array(yaml(projects).utf8))], directory: "mirrors.d"
        ).state
        return DesiredAgent.all(from: state)
    }

    /// The text of a mirrors.d file for these agents, with `projects` (YAML under `projects:`).
    func yaml(_ projects: String) -> String {
        let slaves = ports.keys.filter { $0 != "master" }.sorted()
            .map { "  \($0): { api: \"http://127.0.0.1:\(ports[$0]!)\", publicDir: \(scratch.path)/\($0) }" }.joined(
                separator: "\n")
        let yaml = """
            master: { api: "http://127.0.0.1:\(ports["master"]!)", tokenFile: \(tokenFile), root: \(scratch.path)/master, rsyncd: { address: 127.0.0.1, port: \(rsyncdPort) } }
            intervals: { hourly: { every: 1h } }
            upstreams: { local: { url: \(scratch.path)/upstream } }
            slaves:
            \(slaves)
            projects:
            \(projects)
            """
        return yaml
    }

    func reconciler(_ options: Planner.Options = .init()) -> Reconciler {
        let clients = Dictionary(
            uniqueKeysWithValues: ports.keys.map { name in
                // Generous: an agent that is down refuses at once, and one that is merely slow (the machine shared by
                // every suite of the run and other builds) must not count as unreachable.
                (
                    name,
                    HTTPAgentClient(base: "http://127.0.0.1:\(ports[name]!)", token: token, timeout: 20)
                        as any AgentClient
                )
            })
        return Reconciler(clients: clients, options: options, logger: testLogger, retryBase: 0.05, retryMax: 0.3)
    }

    func state(_ name: String) async throws -> AgentState {
        try await HTTPAgentClient(base: "http://127.0.0.1:\(ports[name]!)", token: token, timeout: 30).state()
    }
}

@Suite("Reconciler (live agents on loopback)", .serialized)
struct ReconcilerTests {
    @Test("apply converges every agent, and applying again changes nothing")
    func applyIsIdempotent() async throws {
        let site = try LiveSite(slaves: ["ftp1", "ftp2"])
        for name in ["master", "ftp1", "ftp2"] { try await site.start(name) }
        let desired = try site.desired(
            "  a: { upstream: local, interval: hourly, suspended: true }\n  b: { upstream: local, interval: hourly, slaves: [ftp1], suspended: true }"
        )
        let first = await site.reconciler().reconcile(desired, timeout: 10)
        #expect(first.converged)
        #expect(first.applied.count == 3 + 3 + 2 && first.applied.allSatisfy { $0.error == nil })
        #expect(first.conditions.allSatisfy { $0.condition.status == .ready })
        #expect(try await site.state("ftp1").projects.keys.sorted() == ["a", "b"])
        #expect(try await site.state("ftp2").projects.keys.sorted() == ["a"])
        #expect(try await site.state("master").projects["a"]?.managed == true)
        let second = await site.reconciler().reconcile(desired, timeout: 10)
        #expect(second.converged && second.applied.isEmpty && second.plan.isEmpty)
        await site.stopAll()
    }

    @Test(
        "an agent down during apply is retried with backoff and converges once it is up; the others converge meanwhile")
    func agentComesBack() async throws {
        let site = try LiveSite(slaves: ["ftp1", "ftp2"])
        try await site.start("master")
        try await site.start("ftp1")
        let desired = try site.desired("  a: { upstream: local, interval: hourly, suspended: true }")
        let reconciler = site.reconciler()
        let run = Task { await reconciler.reconcile(desired, timeout: 30) }
        // ftp1 converges while ftp2 is still down.
        try await eventually("ftp1 given project a while ftp2 is down", seconds: 10) {
            try await site.state("ftp1").projects["a"] != nil
        }
        try await site.start("ftp2")
        let report = await run.value
        #expect(report.converged)
        #expect(report.plan.unreachable.map(\.agent) == ["ftp2"])
        #expect(try await site.state("ftp2").projects["a"] != nil)
        await site.stopAll()
    }

    @Test(
        "an agent that stays down: the run ends at the timeout, not converged, the agent Stalled with AgentUnreachable")
    func agentStaysDown() async throws {
        let site = try LiveSite(slaves: ["ftp1"])
        try await site.start("master")
        let desired = try site.desired("  a: { upstream: local, interval: hourly, suspended: true }")
        let report = await site.reconciler().reconcile(desired, timeout: 1)
        #expect(!report.converged)
        let ftp1 = try #require(report.conditions.first { $0.agent == "ftp1" })
        #expect(ftp1.condition.status == .stalled && ftp1.condition.reason == "AgentUnreachable")
        #expect(report.conditions.first { $0.agent == "master" }?.condition.status == .ready)
        await site.stopAll()
    }

    @Test("removing a project keeps its files; --prune deletes them and removes what was put by hand, nothing else")
    func prune() async throws {
        let site = try LiveSite(slaves: [])
        try await site.start("master")
        try Tree.generate(at: site.scratch.path + "/upstream/a", files: 3)
        try Tree.generate(at: site.scratch.path + "/upstream/b", files: 3)
        try Tree.generate(at: site.scratch.path + "/upstream/c", files: 3)
        let all = try site.desired(
            "  a: { upstream: local, source: a, interval: hourly, slaves: [] }\n  b: { upstream: local, source: b, interval: hourly, slaves: [] }\n  c: { upstream: local, source: c, interval: hourly, slaves: [] }"
        )
        #expect(await site.reconciler().reconcile(all, timeout: 10).converged)
        let master = HTTPAgentClient(base: "http://127.0.0.1:\(site.ports["master"]!)", token: site.token)
        // Wait for the first syncs, then put one project by hand.
        try await eventually("the first syncs", seconds: 10) {
            try await master.state().projects.values.allSatisfy { $0.status.revision > 0 }
        }
        var handmade = all[0].projects["c"]!
        handmade.path = "handmade"
        handmade.suspended = true
        try FileManager.default.createDirectory(
            atPath: site.scratch.path + "/master/handmade", withIntermediateDirectories: true)
        _ = try await site.agents["master"]!.scheduler.putProject("handmade", spec: handmade, managed: false)

        let withoutB = try site.desired(
            "  a: { upstream: local, source: a, interval: hourly, slaves: [] }\n  c: { upstream: local, source: c, interval: hourly, slaves: [] }"
        )
        let kept = await site.reconciler().reconcile(withoutB, timeout: 10)
        #expect(kept.converged)
        #expect(
            kept.applied.map { "\($0.action.change.rawValue) \($0.action.name) purge=\($0.action.purge)" } == [
                "remove b purge=false"
            ])
        #expect(FileManager.default.fileExists(atPath: site.scratch.path + "/master/b/pool/0/file-0.deb"))
        #expect(try await master.state().projects["handmade"] != nil)

        let withoutC = try site.desired("  a: { upstream: local, source: a, interval: hourly, slaves: [] }")
        let pruned = await site.reconciler(.init(prune: true, allowMassRemoval: true)).reconcile(withoutC, timeout: 10)
        #expect(pruned.converged)
        #expect(pruned.applied.map(\.action.name).sorted() == ["c", "handmade"])
        #expect(!FileManager.default.fileExists(atPath: site.scratch.path + "/master/c"))
        #expect(!FileManager.default.fileExists(atPath: site.scratch.path + "/master/handmade"))
        #expect(FileManager.default.fileExists(atPath: site.scratch.path + "/master/a/pool/0/file-0.deb"))
        #expect(FileManager.default.fileExists(atPath: site.scratch.path + "/master/b/pool/0/file-0.deb"))
        #expect(try await master.state().projects.keys.sorted() == ["a"])
        await site.stopAll()
    }

    @Test("a plan that would remove most of what is managed applies nothing")
    func massRemovalAppliesNothing() async throws {
        let site = try LiveSite(slaves: [])
        try await site.start("master")
        let many = try site.desired(
            (0..<6).map { "  p\($0): { upstream: local, interval: hourly, suspended: true, slaves: [] }" }.joined(
                separator: "\n"))
        #expect(await site.reconciler().reconcile(many, timeout: 10).converged)
        let one = try site.desired("  p0: { upstream: local, interval: hourly, suspended: false, slaves: [] }")
        let refused = await site.reconciler().reconcile(one, timeout: 10)
        #expect(!refused.converged && refused.refused != nil && refused.applied.isEmpty)
        let state = try await site.state("master")
        #expect(state.projects.count == 6 && state.projects["p0"]?.spec.suspended == true)
        await site.stopAll()
    }
}
