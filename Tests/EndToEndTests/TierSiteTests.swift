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

/// Tiers as ftpsync's `mhop` makes them: master → a → b → c, each slave pulling from the one above it (`from:`),
/// separate processes, real rsync daemons at every hop, and credentials scoped per hop (each agent accepts only the
/// agent above it as its master and the slave below it).
@Suite("Tiers: master → a → b → c (separate processes, real rsync, credentials per hop)", .serialized)
struct TierSiteTests {
    /// The site: an upstream daemon, the master and three slaves, each with a credential and an accept file.
    final class Chain: @unchecked Sendable {
        // Every property is set once in init; the agents' processes are started and stopped by the one test task.
        let scratch: Scratch
        let upstream: String
        let daemon: RsyncDaemon
        let master: AgentProcess
        let slaves: [AgentProcess]
        let directory: String
        let operatorTokenFile: String
        let ports: [Int]

        init() throws {
            scratch = Scratch("tiers")
            upstream = scratch.path + "/upstream"
            try Tree.generate(at: upstream + "/linux", files: 40, bytes: 2048)
            daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
            let scratch = self.scratch
            let accept = { (name: String) in ["--accept-file", scratch.path + "/\(name).accepted"] }
            master = try AgentProcess(role: .master, name: "master", scratch: scratch, extraArguments: accept("master"))
            slaves = try ["a", "b", "c"].map {
                try AgentProcess(role: .slave, name: $0, scratch: scratch, extraArguments: accept($0))
            }
            ports = (0..<4).map { _ in freePort() }
            operatorTokenFile = scratch.path + "/operator.token"
            directory = scratch.sub("mirrors.d")
            let (a, b, c) = (slaves[0], slaves[1], slaves[2])
            try """
            master:
              api: \(master.base)
              tokenFile: \(operatorTokenFile)
              root: \(scratch.path)/master-root
              rsyncd: { address: 127.0.0.1, port: \(ports[0]) }
            intervals:
              hourly: { every: 1h }
            upstreams:
              up: { url: "\(daemon.url)" }
            slaves:
              a: { api: "\(a.base)", publicDir: \(scratch.path)/a-public, rsyncd: { address: 127.0.0.1, port: \(ports[1]) } }
              b: { api: "\(b.base)", publicDir: \(scratch.path)/b-public, from: a, rsyncd: { address: 127.0.0.1, port: \(ports[2]) } }
              c: { api: "\(c.base)", publicDir: \(scratch.path)/c-public, from: b }
            projects:
              linux: { upstream: up, source: linux, interval: hourly, slaves: all }

            """.write(toFile: directory + "/site.yaml", atomically: true, encoding: .utf8)
            try scopeCredentials()
        }

        /// Per hop: the master accepts a alone; a accepts the master as its master and b; b accepts a as its master
        /// and c; c accepts b as its master. The operator's verifier is in every file.
        func scopeCredentials() throws {
            let operatorToken = "operator-\(UUID().uuidString)"
            try operatorToken.write(toFile: operatorTokenFile, atomically: true, encoding: .utf8)
            chmod(operatorTokenFile, 0o600)
            let op = CredentialVerifier(role: .operator, token: operatorToken).line
            let (a, b, c) = (slaves[0], slaves[1], slaves[2])
            func line(_ role: CredentialRole, _ agent: AgentProcess) -> String {
                CredentialVerifier(role: role, token: agent.token).line
            }
            let accepted = [
                "master": [op, line(.slave("a"), a)], "a": [op, line(.master, master), line(.slave("b"), b)],
                "b": [op, line(.master, a), line(.slave("c"), c)], "c": [op, line(.master, b)],
            ]
            for (name, lines) in accepted {
                let file = scratch.path + "/\(name).accepted"
                try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
                chmod(file, 0o600)
            }
            for agent in [master] + slaves { agent.bearer = operatorToken }
        }

        func tree(_ slave: String) -> String { scratch.path + "/\(slave)-public/linux" }

        /// Waits until the master's status satisfies `condition`.
        @discardableResult
        func wait(_ what: String, seconds: Double = 90, _ condition: (SiteStatus) -> Bool) async throws -> SiteStatus {
            try await waitForStatus(of: master, what, seconds: seconds, condition)
        }

        /// linux at `revision` on the master and every hop, each hop's report relayed up to the master.
        func everywhere(_ revision: Int) -> (SiteStatus) -> Bool {
            { status in
                guard let linux = status.projects["linux"], linux.revision == revision else { return false }
                return ["a", "b", "c"].allSatisfy {
                    linux.slaves[$0]?.revision == revision && linux.slaves[$0]?.result == .success
                }
            }
        }
    }

    @Test(
        "a change reaches the last hop through every tier; an emptied upstream, or an emptied hop, deletes nothing below it; no credential reaches past its hop"
    )
    func chain() async throws {
        let site = try Chain()
        for agent in [site.master] + site.slaves { try await agent.start() }
        let (code, output) = await run(Binary.path, ["reconcile", site.directory, "--timeout", "30"])
        #expect(code == 0, "reconcile: \(output)")

        // Revision 1 runs down the chain: the master triggers a alone, a triggers b, b triggers c.
        var status = try await site.wait("served revision 1 at every hop", site.everywhere(1))
        for slave in ["a", "b", "c"] {
            #expect(try Tree.snapshot(site.tree(slave)) == Tree.snapshot(site.upstream + "/linux"), "\(slave)")
        }
        // The master's status shows the chain; each hop's rsync daemon serves the next.
        #expect(status.slaves.first { $0.name == "a" }?.chain == nil)
        #expect(status.slaves.first { $0.name == "b" }?.chain == ["master", "a"])
        #expect(status.slaves.first { $0.name == "c" }?.chain == ["master", "a", "b"])
        let (a, b, c) = (site.slaves[0], site.slaves[1], site.slaves[2])
        #expect(try await c.state().settings?.chain == ["master", "a", "b"])
        #expect(
            try await c.state().projects["linux"]?.spec.upstream.url.description.contains("\(site.ports[2])") == true)
        // c's pull came from b's daemon, with c's own rsync user there; b's from a's.
        let cRun = try #require(try await c.state().projects["linux"]?.status.lastRun)
        #expect(cRun.trigger == .trigger || cRun.trigger == .catchUp)
        #expect(
            try String(contentsOfFile: b.stateDirectory + "/rsyncd/rsyncd.secrets", encoding: .utf8).contains(
                "mirrorsync-c:"))
        #expect(
            !(try String(contentsOfFile: site.master.stateDirectory + "/rsyncd/rsyncd.secrets", encoding: .utf8))
                .contains("mirrorsync-c:"))

        // A change upstream reaches the last hop.
        try Data("second".utf8).write(to: URL(fileURLWithPath: site.upstream + "/linux/pool/1/file-1.deb"))
        #expect(try await site.master.request("POST", "/v1/projects/linux/sync").status == 202)
        status = try await site.wait("served revision 2 at every hop", site.everywhere(2))
        #expect(try String(contentsOfFile: site.tree("c") + "/pool/1/file-1.deb", encoding: .utf8) == "second")
        // Every hop pulled it by the lists of the hop above: a tier keeps them for the slaves below it; the last hop,
        // which no one pulls from, keeps none.
        for slave in [a, b, c] {
            let message = try await slave.state().projects["linux"]?.status.lastRun?.message ?? ""
            #expect(message.hasPrefix("incremental pull of revisions 1 to 2"), "\(slave.name): \(message)")
        }
        #expect(FileManager.default.fileExists(atPath: b.stateDirectory + "/changes/linux/2.list"))
        #expect(!FileManager.default.fileExists(atPath: c.stateDirectory + "/changes/linux"))

        // Scoped per hop: c's credential reaches b's three calls and nothing else; the master does not know it.
        let cToken = c.token
        func call(_ agent: AgentProcess, _ method: String, _ path: String, token: String) async throws -> Int {
            var request = URLRequest(url: URL(string: agent.base + path)!)
            request.httpMethod = method
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        #expect(try await call(b, "GET", "/v1/revisions", token: cToken) == 200)
        #expect(try await call(b, "GET", "/v1/state", token: cToken) == 403)
        #expect(try await call(a, "GET", "/v1/revisions", token: cToken) == 401)
        #expect(try await call(site.master, "GET", "/v1/revisions", token: cToken) == 401)
        #expect(try await call(site.master, "GET", "/v1/rsyncd/credential", token: cToken) == 401)
        // b, as c's master, may trigger c, not b's own master a.
        #expect(try await call(a, "POST", "/v1/projects/linux/sync", token: b.token) == 403)
        // The master's credential reaches a (its slave), not c.
        #expect(try await call(c, "POST", "/v1/projects/linux/sync", token: site.master.token) == 401)

        // The upstream emptied: the master's deletion cap refuses it, nothing is triggered, no hop deletes a file.
        let before = try Tree.snapshot(site.tree("c"))
        try FileManager.default.removeItem(atPath: site.upstream + "/linux")
        try FileManager.default.createDirectory(atPath: site.upstream + "/linux", withIntermediateDirectories: true)
        #expect(try await site.master.request("POST", "/v1/projects/linux/sync").status == 202)
        status = try await site.wait("refused the emptied upstream") {
            $0.projects["linux"]?.lastRun?.result == .failed && $0.projects["linux"]?.activity == .idle
        }
        #expect(status.projects["linux"]?.revision == 2)
        for slave in ["a", "b", "c"] {
            #expect(try Tree.snapshot(site.tree(slave)) == before, "\(slave) lost files to an emptied upstream")
        }

        // A hop's own tree emptied (by hand, or a broken disk): the next hop's cap refuses it too, and the hop below
        // that is never triggered.
        let aTree = site.tree("a")
        for entry in try FileManager.default.contentsOfDirectory(atPath: aTree) {
            try FileManager.default.removeItem(atPath: aTree + "/" + entry)
        }
        let bRuns = try await b.state().projects["linux"]?.status.lastRun?.id ?? 0
        #expect(try await b.request("POST", "/v1/projects/linux/sync").status == 202)
        let refused = try await b.wait("refused a's emptied tree") { state in
            guard let run = state.projects["linux"]?.status.lastRun, run.id > bRuns else { return false }
            return run.result == .failed
        }
        #expect(["deletion-cap", "empty-upstream"].contains(refused.projects["linux"]?.status.lastRun?.reason ?? ""))
        #expect(try Tree.snapshot(site.tree("b")) == before, "b lost files to a's emptied tree")
        #expect(try Tree.snapshot(site.tree("c")) == before, "c lost files to a's emptied tree")
        for agent in [site.master] + site.slaves { await agent.stop() }
    }
}
