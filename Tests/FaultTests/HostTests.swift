import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

@Suite(
    "Faults across hosts: each agent in a network namespace of its own", .serialized,
    .enabled(if: NetworkLab.unavailable == nil, Comment(rawValue: NetworkLab.unavailable ?? "")))
struct HostTests {
    @Test(
        "per-host addresses over TLS: the reconciler, the master and the slaves verify each other; the slaves pull from the master's rsync daemon, which refuses any other host"
    )
    func hostsAllow() async throws {
        let site = try LabSite("lab-hosts", tls: true)
        try await site.start()
        let status = try await site.wait("served revision 1 on both slaves") {
            site.atRevision(1, slaves: ["a", "b"])($0)
        }
        #expect(try Tree.snapshot(site.publicTree("a")) == Tree.snapshot(site.upstream + "/linux"))
        #expect(try Tree.snapshot(site.publicTree("b")) == Tree.snapshot(site.upstream + "/linux"))
        #expect(status.slaves.map(\.reachable) == [true, true])
        let config = try String(contentsOfFile: site.scratch.path + "/master-state/rsyncd/rsyncd.conf", encoding: .utf8)
        #expect(config.contains("hosts allow = \(site.lab.address("a")) \(site.lab.address("b"))"), "\(config)")
        // ops is not a slave: the master's daemon turns it away before any credential is asked for, and, as the
        // modules are unlisted, without saying that the module exists.
        let (code, output) = await site.lab.run(on: "ops", ["rsync", "rsync://\(site.lab.address("master"))/linux/"])
        #expect(code == 5, "\(output)")
        #expect(output.contains("@ERROR: Unknown module 'linux'"), "\(output)")
        let log = try String(contentsOfFile: site.scratch.path + "/master-state/rsyncd/rsyncd.log", encoding: .utf8)
        #expect(
            log.split(separator: "\n").contains {
                $0.contains("rsync denied on module linux from") && $0.hasSuffix("(\(site.lab.address("ops")))")
            },
            "\(log)")
        // Allowed by address, never looked up: no connection waits on DNS.
        #expect(!log.contains("name lookup failed"), "\(log)")
        // The agents served https:// only, and every peer call went through it: nothing was refused.
        for host in ["master", "a", "b"] {
            let text = try String(contentsOfFile: site.scratch.path + "/\(host).log", encoding: .utf8)
            #expect(text.contains("api=https"), "\(host)")
            #expect(!text.contains("TLS refused") && !text.contains("plain HTTP"), "\(host): \(text.suffix(2000))")
        }
    }

    @Test(
        "across hosts, refused and said so: a wrong CA, an expired certificate, a plain-HTTP downgrade, and the token over plain HTTP without insecure"
    )
    func refusals() async throws {
        let site = try LabSite("lab-tls-refusals", tls: true)
        try await site.start()
        try await site.wait("served revision 1 on both slaves") { site.atRevision(1, slaves: ["a", "b"])($0) }
        let other = try TestPKI(in: site.scratch.path + "/other-pki", name: "other-ca")
        /// `reconcile --dry-run` from ops with `yaml` as mirrors.d: its exit status and output.
        func dryRun(_ name: String, _ yaml: String) async throws -> (Int32, String) {
            let directory = site.scratch.sub(name)
            try yaml.write(toFile: directory + "/site.yaml", atomically: true, encoding: .utf8)
            return await site.lab.run(
                on: "ops", [binary, "reconcile", directory, "--dry-run", "--timeout", "2", "--agent-timeout", "3"])
        }

        // A wrong CA: every agent refused, by name, nothing applied.
        var (status, output) = try await dryRun("wrong-ca.d", site.siteYAML(caFile: other.caFile))
        #expect(status == 1, "\(output)")
        for agent in ["master", "slave a", "slave b"] {
            let line = output.split(separator: "\n").first { $0.hasPrefix(agent + " ") } ?? ""
            #expect(
                line.contains("TLS refused: the agent's certificate is not signed by the CA in \(other.caFile)"),
                "\(agent): \(output)")
        }

        // A plain-HTTP downgrade of a, allowed by insecure: true in mirrors.d, refused by the agent's TLS port.
        (status, output) = try await dryRun("downgrade.d", site.siteYAML(a: ("http", true)))
        let downgrade = output.split(separator: "\n").first { $0.hasPrefix("slave a ") } ?? ""
        #expect(
            status == 1 && downgrade.contains("serves TLS, and takes no plain HTTP; write the agent's api as https://"),
            "\(output)")

        // Plain HTTP without insecure: validation refuses it, pointing at the api, before anything is sent.
        (status, output) = try await dryRun("plain.d", site.siteYAML(a: ("http", false)))
        #expect(
            status == 1 && output.contains("site.yaml:13:13:")
                && output.contains("plain HTTP to a host that is not loopback"), "\(output)")
        // And the client itself refuses: the master, told by hand that a is at http:// with no leave, never sends it the token.
        let settings =
            #"{"root": "\#(site.scratch.path)/master-root", "rsyncd": {"address": "\#(site.lab.address("master"))", "port": 873, "slavesOnly": true}, "slaves": {"a": "http://\#(site.lab.address("a")):7071", "b": "\#(site.apiURL("b"))"}, "peers": {"\#(site.apiURL("b"))": {"caFile": "\#(site.pki!.caFile)"}}}"#
        _ = try await site.api("master", "PUT", "/v1/settings", body: settings)
        try Tree.generate(at: site.upstream + "/linux/more", files: 3, seed: 3)
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")
        try await eventually("the master refuses to trigger a over plain HTTP", seconds: 30) {
            site.master.output.contains("refused to send the token over plain HTTP to \(site.lab.address("a"))")
        }

        // An expired certificate on b: the reconciler refuses it, and so does the master, each saying so.
        _ = await site.slaves["b"]!.stop()
        let day: TimeInterval = 86_400
        let expired = try site.pki!.issue(
            "b-expired", addresses: [site.lab.address("b")], notBefore: Date().addingTimeInterval(-60 * day),
            notAfter: Date().addingTimeInterval(-30 * day))
        try site.startSlave("b", certificate: expired)
        try await eventually("b listens again", seconds: 30) {
            await site.lab.run(on: "ops", ["curl", "-sk", "--max-time", "2", site.apiURL("b") + "/v1/health"]).status
                == 0
        }
        #expect(site.slaves["b"]!.output.contains("the TLS certificate has expired"))
        (status, output) = try await dryRun("expired.d", site.siteYAML())
        let b = output.split(separator: "\n").first { $0.hasPrefix("slave b ") } ?? ""
        #expect(status == 1 && b.contains("TLS refused: the agent's certificate expired on "), "\(output)")
        // a, with its own certificate, is read as ever (in sync, the plan does not list it).
        #expect(
            !output.split(separator: "\n").contains { $0.hasPrefix("slave a ") && $0.contains("unreachable") },
            "\(output)")
    }

    @Test(
        "a slave cut off mid-pull: the master marks it unreachable and serves the other on time; back, it catches up by itself, never having published a partial pull"
    )
    func partitionDuringPull() async throws {
        let site = try await LabSite.serving("lab-partition")
        let before = try Tree.snapshot(site.publicTree("b"))

        // Revision 2 is 6 MB more; b's link carries 4 Mbit/s, so its pull takes about 12 s and is cut in the middle.
        try Tree.generate(at: site.upstream + "/linux/big", files: 60, bytes: 100_000, seed: 9)
        try site.lab.throttle("b", rate: "4mbit")
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")
        // Mid-pull: the new directories stand and the files are still coming.
        try await eventually("b pulling", seconds: 30) {
            FileManager.default.fileExists(atPath: site.publicTree("b") + "/big/pool")
        }
        try site.lab.link("b", up: false)
        let cutAt = Date()
        #expect(rsyncRunning(into: site.publicTree("b")), "the pull ended before the cut")

        // a is served on time; the master sees b gone, with when it last saw it.
        let during = try await site.wait("served revision 2 on a while b is cut off", seconds: 30) { status in
            site.atRevision(2, slaves: ["a"])(status) && status.slaves.first { $0.name == "b" }?.reachable == false
        }
        let b = try #require(during.slaves.first { $0.name == "b" })
        #expect(
            b.lastSeenAt.map { $0 <= cutAt.addingTimeInterval(1) } == true,
            "last seen \(String(describing: b.lastSeenAt)), cut at \(cutAt)")
        #expect(b.error != nil)
        #expect(during.projects["linux"]?.slaves["b"]?.revision == 1)
        #expect(try Tree.snapshot(site.publicTree("a")) == Tree.snapshot(site.upstream + "/linux"))
        // Nothing of the unfinished pull is published: every file of revision 1 is there as it was, and no file of
        // revision 2 is (but what publication in place lets appear early: `LabSite.unfinished`).
        let (changed, early) = try LabSite.unfinished(site.publicTree("b"), before: before)
        #expect(changed.isEmpty, "changed: \(changed.prefix(10))")
        #expect(early.isEmpty, "published before the pull finished: \(early.prefix(10))")

        try site.lab.link("b", up: true)
        try await site.wait("caught up on b", seconds: 90) { site.atRevision(2, slaves: ["a", "b"])($0) }
        #expect(try Tree.snapshot(site.publicTree("b")) == Tree.snapshot(site.upstream + "/linux"))
        #expect(before.count < Tree.count(site.publicTree("b")))
    }

    @Test(
        "the master cut off from its upstream mid-transfer: the attempt fails with rsync's reason and is retried with backoff, the served tree and revision untouched and no slave triggered; with the link back the retry succeeds and the slaves follow"
    )
    func upstreamCutMidTransfer() async throws {
        // A link cut silently is not seen by rsync's --timeout: its generator's keepalives, sent every half timeout, go
        // into the socket's buffer as if delivered. The connection fails when TCP gives up retransmitting them: after
        // about 15 minutes with the kernel's default tcp_retries2 (15), after a few seconds with 3, set here in the
        // master's namespace alone. Without an ioTimeout no keepalive is written, and nothing would fail but the run's timeout.
        let site = try await LabSite.serving("lab-upstream-cut", upstreamOptions: ", ioTimeout: 5s")
        try site.lab.sysctl("master", "net.ipv4.tcp_retries2=3")
        let before = try Tree.snapshot(site.masterTree)
        let slavesBefore = try ["a", "b"].map { try Tree.snapshot(site.publicTree($0)) }

        // Revision 2 is 6 MB more, coming to the master at 4 Mbit/s: about 12 s, cut in the middle.
        try Tree.generate(at: site.upstream + "/linux/big", files: 60, bytes: 100_000, seed: 9)
        try site.lab.throttle("master", rate: "4mbit")
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")
        try await eventually("the master pulling", seconds: 30) {
            FileManager.default.fileExists(atPath: site.masterTree + "/big/pool")
        }
        try site.lab.link("upstream", up: false)
        let cutAt = Date()
        #expect(rsyncRunning(into: site.masterTree), "the transfer ended before the cut")
        let state = try APICoding.decoder().decode(
            AgentState.self, from: try await site.api("master", "GET", "/v1/state"))
        let id = try #require(state.projects["linux"]?.status.currentRunID)

        // The attempt fails with rsync's own reason, and the run waits to try again.
        var failed = try await site.run("master", id)
        do {
            try await eventually("the first attempt failed", seconds: 60) {
                failed = try await site.run("master", id)
                return failed.attempts == 1
            }
        } catch {
            throw ValueError("\(error): \(failed)\n\(site.logs())")
        }
        let failedAfter = Date().timeIntervalSince(cutAt)
        #expect(failed.state == .running && failed.result == nil, "\(failed)")
        #expect(failed.exitCode != nil && failed.reason == failed.exitCode.map { "rsync-exit-\($0)" }, "\(failed)")
        #expect(
            failed.message?.contains("Connection timed out") == true,
            "rsync's reason: \(failed.message ?? "no message"); stderr: \(failed.stderrTail)")
        let retrying = try #require(
            try String(contentsOfFile: site.scratch.path + "/master.log", encoding: .utf8)
                .split(separator: "\n").last { $0.contains("attempt failed; retrying") })
        let retryIn = try #require(
            retrying.components(separatedBy: "retryIn=").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) },
            "\(retrying)")
        #expect((15...45).contains(retryIn), "the first retry waits 30 s ± 50%: \(retrying)")

        // Meanwhile the master serves revision 1 as it was, and no slave was triggered.
        let status = try await site.status()
        #expect(
            status.projects["linux"]?.revision == 1
                && [.running, .retrying].contains(status.projects["linux"]?.activity))
        let (changed, early) = try LabSite.unfinished(site.masterTree, before: before)
        #expect(changed.isEmpty, "changed on the master: \(changed.prefix(10))")
        #expect(early.isEmpty, "published on the master before the sync finished: \(early.prefix(10))")
        #expect(try ["a", "b"].map { try Tree.snapshot(site.publicTree($0)) } == slavesBefore)
        #expect(["a", "b"].allSatisfy { status.projects["linux"]?.slaves[$0]?.revision == 1 })

        // The link back: the retry succeeds, and both slaves follow.
        try site.lab.link("upstream", up: true)
        try await site.wait("served revision 2 on both slaves after the retry", seconds: 150) {
            site.atRevision(2, slaves: ["a", "b"])($0)
        }
        let done = try await site.run("master", id)
        #expect(done.result == .success && done.attempts == 2 && done.revision == 2, "\(done)")
        #expect(try Tree.snapshot(site.masterTree) == Tree.snapshot(site.upstream + "/linux"))
        #expect(try Tree.snapshot(site.publicTree("b")) == Tree.snapshot(site.upstream + "/linux"))
        print(
            String(
                format:
                    "upstream cut: the attempt failed %.1f s after the cut, retried %d s later; run of %.1f s in all",
                failedAfter, retryIn,
                done.endedAt.flatMap { end in done.startedAt.map { end.timeIntervalSince($0) } } ?? -1))
    }

    @Test(
        "a slave whose link is down when the master triggers it: marked unreachable with the time it was last seen, the other slave served on time; back, it catches up"
    )
    func slaveDownDuringTrigger() async throws {
        let site = try await LabSite.serving("lab-trigger-down")
        let before = try Tree.snapshot(site.publicTree("b"))

        try site.lab.link("b", up: false)
        let cutAt = Date()
        try Data("revision 2\n".utf8).write(to: URL(fileURLWithPath: site.upstream + "/linux/new.txt"))
        let asked = Date()
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")
        let during = try await site.wait("served revision 2 on a while b is down", seconds: 30) { status in
            site.atRevision(2, slaves: ["a"])(status) && status.slaves.first { $0.name == "b" }?.reachable == false
        }
        let onTime = Date().timeIntervalSince(asked)
        let b = try #require(during.slaves.first { $0.name == "b" })
        #expect(
            b.lastSeenAt.map { $0 <= cutAt.addingTimeInterval(1) } == true,
            "last seen \(String(describing: b.lastSeenAt)), cut at \(cutAt)")
        #expect(b.error != nil)
        #expect(during.projects["linux"]?.slaves["b"]?.revision == 1)
        try await eventually("the master retrying its trigger to b", seconds: 30) {
            (try? String(contentsOfFile: site.scratch.path + "/master.log", encoding: .utf8))?.contains(
                "cannot deliver to b; retrying") == true
        }
        #expect(try Tree.snapshot(site.publicTree("b")) == before, "b changed while its link was down")

        try site.lab.link("b", up: true)
        let back = Date()
        try await site.wait("caught up on b", seconds: 90) { site.atRevision(2, slaves: ["a", "b"])($0) }
        #expect(try Tree.snapshot(site.publicTree("b")) == Tree.snapshot(site.upstream + "/linux"))
        print(
            String(
                format:
                    "trigger to a slave that is down: a served %.1f s after the request; b caught up %.1f s after its link came back",
                onTime, Date().timeIntervalSince(back)))
    }
}
