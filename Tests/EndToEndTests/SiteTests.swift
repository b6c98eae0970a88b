import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// A whole site as separate processes of the built binary: an upstream rsync daemon, the master, two slaves, and
/// `mirrorsync reconcile` to set them up from mirrors.d.
final class Site: @unchecked Sendable {
    // Every property is set once in init; the agents' processes are restarted only by the one test task.
    let scratch: Scratch
    let upstream: String
    let daemon: RsyncDaemon
    let master: AgentProcess
    let a: AgentProcess
    let b: AgentProcess
    let rsyncdPort: Int
    let directory: String

    /// The token mirrors.d names (`master.tokenFile`): the reconciler's. With scoped credentials, the operator's own;
    /// else the token every agent shares.
    let operatorTokenFile: String

    /// `agentArguments`: extra flags for each agent, by its name; `agentEnvironment`: extra environment, by its name.
    /// `scoped`: each agent has a credential of its own and an accept file (`NAME.accepted`), and the tests' calls
    /// carry the operator's token; else every agent and the reconciler share the master's token. `tier`: b pulls from
    /// a (`from: a`), which runs an rsync daemon for it; credentials scoped per hop.
    init(
        _ label: String, scoped: Bool = false, tier: Bool = false, agentArguments: (String) -> [String] = { _ in [] },
        agentEnvironment: (String, Scratch) throws -> [String: String] = { _, _ in [:] }
    ) throws {
        let scoped = scoped || tier
        let scratch = Scratch(label)
        self.scratch = scratch
        func accepting(_ name: String) -> [String] {
            (scoped ? ["--accept-file", scratch.path + "/\(name).accepted"] : []) + agentArguments(name)
        }
        upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream + "/linux", files: 40, bytes: 2048)
        try Tree.generate(at: upstream + "/tools", files: 5, bytes: 100, seed: 3)
        daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        master = try AgentProcess(
            role: .master, name: "master", scratch: scratch, extraArguments: accepting("master"),
            environment: try agentEnvironment("master", scratch))
        a = try AgentProcess(
            role: .slave, name: "a", scratch: scratch, sharing: scoped ? nil : master, extraArguments: accepting("a"),
            environment: try agentEnvironment("a", scratch))
        b = try AgentProcess(
            role: .slave, name: "b", scratch: scratch, sharing: scoped ? nil : master, extraArguments: accepting("b"),
            environment: try agentEnvironment("b", scratch))
        operatorTokenFile = scoped ? scratch.path + "/operator.token" : master.tokenFile
        rsyncdPort = freePort()
        directory = scratch.sub("mirrors.d")
        try """
        master:
          api: \(master.base)
          tokenFile: \(operatorTokenFile)
          root: \(scratch.path)/master-root
          rsyncd: { address: 127.0.0.1, port: \(rsyncdPort) }
        intervals:
          hourly: { every: 1h }
        upstreams:
          up: { url: "\(daemon.url)" }
        slaves:
          a: { api: "\(a.base)", publicDir: \(scratch.path)/a-public\(tier ? ", rsyncd: { address: 127.0.0.1, port: \(freePort()) }" : "") }
          b: { api: "\(b.base)", publicDir: \(scratch.path)/b-public\(tier ? ", from: a" : "") }
        projects:
          linux: { upstream: up, source: linux, interval: hourly, slaves: all }
          tools: { upstream: up, source: tools, interval: hourly, slaves: [a] }

        """.write(toFile: directory + "/site.yaml", atomically: true, encoding: .utf8)
        if scoped { try scopeCredentials(tier: tier) }
    }

    /// Edits the site's mirrors.d (the replaced text must be there), starts every agent and reconciles, until
    /// revision 1 is served everywhere.
    func start(replacing text: String, with replacement: String) async throws {
        let yaml = try String(contentsOfFile: directory + "/site.yaml", encoding: .utf8)
        let edited = yaml.replacingOccurrences(of: text, with: replacement)
        guard edited != yaml else { throw ValueError("site.yaml has no '\(text)'") }
        try edited.write(toFile: directory + "/site.yaml", atomically: true, encoding: .utf8)
        for agent in [master, a, b] { try await agent.start() }
        try await reconcile()
        try await wait("served revision 1 everywhere", atRevision(1))
    }

    /// The operator's token, its verifier in every accept file; the master's in each slave's, each slave's own in the
    /// master's; with `tier`, per hop: the master accepts a, a the master and b, b a as its master. The tests' calls
    /// carry the operator's token.
    func scopeCredentials(tier: Bool = false) throws {
        let operatorToken = "operator-\(UUID().uuidString)"
        try operatorToken.write(toFile: operatorTokenFile, atomically: true, encoding: .utf8)
        chmod(operatorTokenFile, 0o600)
        let verifier = { (role: CredentialRole, agent: AgentProcess) in
            CredentialVerifier(role: role, token: agent.token).line
        }
        let op = CredentialVerifier(role: .operator, token: operatorToken).line
        let accepted =
            tier
            ? [
                "master": [op, verifier(.slave("a"), a)],
                "a": [op, verifier(.master, master), verifier(.slave("b"), b)],
                "b": [op, verifier(.master, a)],
            ]
            : [
                "master": [op, verifier(.slave("a"), a), verifier(.slave("b"), b)],
                "a": [op, verifier(.master, master)],
                "b": [op, verifier(.master, master)],
            ]
        for (name, lines) in accepted {
            let file = scratch.path + "/\(name).accepted"
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o600)
        }
        for agent in [master, a, b] { agent.bearer = operatorToken }
    }

    func tree(_ slave: AgentProcess, _ project: String) -> String { scratch.path + "/\(slave.name)-public/\(project)" }

    /// `mirrorsync reconcile` until every agent has converged.
    func reconcile() async throws {
        let (status, output) = await run(Binary.path, ["reconcile", directory, "--timeout", "30"])
        #expect(status == 0, "reconcile: \(output)")
    }

    func status() async throws -> SiteStatus { try await master.request("GET", "/v1/status").decode(SiteStatus.self) }

    /// Waits until the master's status satisfies `condition`.
    @discardableResult
    func wait(_ what: String, seconds: Double = 60, _ condition: (SiteStatus) -> Bool) async throws -> SiteStatus {
        try await waitForStatus(of: master, what, seconds: seconds, condition)
    }

    /// Master and slaves at `revision` of linux (and of tools on a), reported back to the master.
    func atRevision(_ revision: Int, slaves: [String] = ["a", "b"]) -> (SiteStatus) -> Bool {
        { status in
            guard let linux = status.projects["linux"], linux.revision == revision else { return false }
            return slaves.allSatisfy { linux.slaves[$0]?.revision == revision && linux.slaves[$0]?.result == .success }
        }
    }

    /// Changes a file upstream and has the master sync linux: a new revision.
    func changeUpstream(_ text: String) async throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: upstream + "/linux/pool/1/file-1.deb"))
        let reply = try await master.request("POST", "/v1/projects/linux/sync")
        #expect(reply.status == 202)
    }
}

/// Waits until `master`'s site status (`GET /v1/status`) satisfies `condition`.
@discardableResult
func waitForStatus(
    of master: AgentProcess, _ what: String, seconds: Double = 60, _ condition: (SiteStatus) -> Bool
) async throws -> SiteStatus {
    let deadline = Date().addingTimeInterval(seconds)
    var last: SiteStatus?
    while Date() < deadline {
        if let status = try? await master.request("GET", "/v1/status").decode(SiteStatus.self) {
            last = status
            if condition(status) { return status }
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ValueError("the site never \(what) within \(Int(seconds))s; last status: \(String(describing: last))")
}

/// A program run to its end, its standard output and error together; -1 and the error if it cannot start.
func run(_ executable: String, _ arguments: [String]) async -> (Int32, String) {
    do {
        let result = try await runProgram(executable, arguments)
        return (result.status, result.stdout + result.stderr)
    } catch {
        return (-1, "\(error)")
    }
}

@Suite("The site: upstream → master → slaves (separate processes, real rsync)", .serialized)
struct SiteTests {
    @Test(
        "slaves end byte-identical to the upstream, each with only its projects; a new revision reaches both; a slave away catches up by itself"
    )
    func chain() async throws {
        let site = try Site("site")
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()

        // The master syncs from the upstream, bumps the revision and triggers both slaves; each pulls and reports.
        var status = try await site.wait("served revision 1 everywhere", site.atRevision(1))
        #expect(status.rsyncd.state == .running && status.rsyncd.port == site.rsyncdPort && status.rsyncd.modules == 2)
        try await site.wait("served tools on a") { $0.projects["tools"]?.slaves["a"]?.revision == 1 }
        for slave in [site.a, site.b] {
            #expect(try Tree.snapshot(site.tree(slave, "linux")) == Tree.snapshot(site.upstream + "/linux"))
        }
        // Symlinks and hard links arrive as they are.
        #expect(try Tree.snapshot(site.tree(site.b, "linux"))["current"] == "link -> pool/0")
        #expect(try Tree.snapshot(site.tree(site.b, "linux")).values.contains { $0.contains("linked to") })
        #expect(try Tree.snapshot(site.tree(site.a, "tools")) == Tree.snapshot(site.upstream + "/tools"))
        // tools is assigned to a alone: b neither holds it nor has its files.
        #expect(try await site.b.state().projects["tools"] == nil)
        #expect(!FileManager.default.fileExists(atPath: site.tree(site.b, "tools")))
        #expect(status.projects["tools"]?.slaves.keys.sorted() == ["a"])

        // A changed upstream file reaches both slaves, with the bumped revision in the master's status.
        try await site.changeUpstream("second")
        status = try await site.wait("served revision 2 everywhere", site.atRevision(2))
        #expect(status.projects["linux"]?.slaves.values.allSatisfy { $0.behind == 0 && $0.lagSeconds == 0 } == true)
        for slave in [site.a, site.b] {
            #expect(
                try String(contentsOfFile: site.tree(slave, "linux") + "/pool/1/file-1.deb", encoding: .utf8)
                    == "second")
        }

        // b is stopped while the master triggers: a is served on time, b is marked unreachable and behind.
        await site.b.stop()
        try await site.changeUpstream("third")
        try await site.wait("served revision 3 on a", site.atRevision(3, slaves: ["a"]))
        // The master asks the slaves how they are at most once a second: b shows as unreachable soon after.
        status = try await site.wait("saw b gone", seconds: 5) {
            $0.slaves.first { $0.name == "b" }?.reachable == false
        }
        let away = try #require(status.projects["linux"]?.slaves["b"])
        #expect(!away.reachable && away.behind == 1 && away.revision == 2 && away.lastSeenAt != nil)
        #expect(status.slaves.first { $0.name == "b" }?.reachable == false)
        // Restarted, b asks the master where it stands and catches up by itself.
        try await site.b.start()
        status = try await site.wait("caught up on b", site.atRevision(3))
        // The master asks the slaves how they are at most once a second: b shows as reachable soon after.
        try await site.wait("saw b again", seconds: 5) { $0.projects["linux"]?.slaves["b"]?.reachable == true }
        #expect(try Tree.snapshot(site.tree(site.b, "linux")) == Tree.snapshot(site.upstream + "/linux"))
        // Whichever comes first: b's own catch-up at start, or the master's trigger, retried with backoff.
        let catchUp = try #require(try await site.b.state().projects["linux"]?.status.lastRun)
        #expect([.catchUp, .trigger].contains(catchUp.trigger) && catchUp.result == .success)

        // The master's rsync daemon killed: it is started again, and the slaves' next pulls succeed.
        let pid = try #require(status.rsyncd.pid)
        kill(pid, SIGKILL)
        status = try await site.wait("restarted its rsync daemon") {
            $0.rsyncd.state == .running && $0.rsyncd.pid != pid
        }
        #expect(status.rsyncd.restarts >= 1)
        try await site.changeUpstream("fourth")
        try await site.wait("served revision 4 everywhere", site.atRevision(4))

        // tools moves from a to b: a stops pulling it and keeps its files; b, new to it, pulls the master's revision.
        let yaml = try String(contentsOfFile: site.directory + "/site.yaml", encoding: .utf8)
        try yaml.replacingOccurrences(of: "slaves: [a] }", with: "slaves: [b] }").write(
            toFile: site.directory + "/site.yaml", atomically: true, encoding: .utf8)
        try await site.reconcile()
        let tools = try #require(status.projects["tools"]?.revision)
        try await site.wait("served tools on b") { $0.projects["tools"]?.slaves["b"]?.revision == tools }
        #expect(try Tree.snapshot(site.tree(site.b, "tools")) == Tree.snapshot(site.upstream + "/tools"))
        #expect(try await site.a.state().projects["tools"] == nil)
        #expect(
            try Tree.snapshot(site.tree(site.a, "tools")) == Tree.snapshot(site.upstream + "/tools"),
            "files kept without --prune")
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }

    @Test(
        "a slave with the wrong credential fails saying so while the other is unaffected, then gets the right one; the credential is 0600 and never shown"
    )
    func credential() async throws {
        let site = try Site("credential")
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()
        try await site.wait("served revision 1 everywhere", site.atRevision(1))

        let secrets = site.master.stateDirectory + "/rsyncd/rsyncd.secrets"
        var info = stat()
        #expect(stat(secrets, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let line = try String(contentsOfFile: secrets, encoding: .utf8)
        let password = String(try #require(line.split(separator: ":").last).dropLast())
        #expect(password.count == 64 && line.hasPrefix("mirrorsync:"))
        // The slave's copy is 0600 too.
        let copy = site.a.stateDirectory + "/master-rsync.secret"
        #expect(stat(copy, &info) == 0 && info.st_mode & 0o777 == 0o600)

        // a holds a credential that the master's daemon does not know.
        await site.a.stop()
        try "not-the-site-credential".write(toFile: copy, atomically: true, encoding: .utf8)
        chmod(copy, 0o600)
        try await site.a.start()
        try await site.changeUpstream("second")
        let status = try await site.wait("failed on a and served b") { status in
            status.projects["linux"]?.slaves["b"]?.revision == 2
                && status.projects["linux"]?.slaves["a"]?.result == .failed
        }
        let failed = try #require(status.projects["linux"]?.slaves["a"])
        #expect(failed.revision == 1 && failed.behind == 1)
        #expect(failed.message?.contains("refused this slave's credential") == true, "\(failed.message ?? "")")
        #expect(failed.message?.contains("auth failed") == true)
        // The refused credential is dropped; the next trigger fetches the site's own and succeeds.
        try await site.changeUpstream("third")
        try await site.wait("served revision 3 everywhere", site.atRevision(3))

        // The credential never shows: not in any state, status or log.
        var shown: [String] = []
        for agent in [site.master, site.a, site.b] {
            shown.append(String(decoding: try await agent.request("GET", "/v1/state").body, as: UTF8.self))
            shown.append(String(decoding: try await agent.request("GET", "/v1/status").body, as: UTF8.self))
        }
        for agent in [site.master, site.a, site.b] { await agent.stop() }
        for agent in [site.master, site.a, site.b] {
            shown.append(try String(contentsOfFile: agent.log, encoding: .utf8))
        }
        shown.append(try String(contentsOfFile: site.master.stateDirectory + "/rsyncd/rsyncd.log", encoding: .utf8))
        #expect(shown.allSatisfy { !$0.contains(password) })
        // The logs are not empty: the agents ran at debug level.
        #expect(shown.last?.contains("auth failed") == true || shown.contains { $0.contains("run finished") })
    }
}
