import Foundation
import Logging
import Synchronization
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// Records what the scheduler tells its observer.
final class RecordingObserver: RunObserver {
    private let seen = Mutex<[(run: RunRecord, revision: Int)]>([])

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        seen.withLock { $0.append((run, revision)) }
    }

    var runs: [(run: RunRecord, revision: Int)] { seen.withLock { $0 } }
}

@Suite("A slave's pulls (manual clock)")
struct SlaveSchedulingTests {
    static let settings = AgentSettings(root: "/srv/ftp", master: "http://127.0.0.1:1")

    static func pull() -> AgentProjectSpec {
        AgentProjectSpec(
            upstream: UpstreamSpec(url: .rsync(user: nil, host: "127.0.0.1", port: 8873, path: "p"), credential: .site),
            path: "p",
            interval: .every(DesiredAgent.slaveFallbackInterval))
    }

    @Test(
        "a slave pulls only once the master has a revision; a trigger during a pull queues exactly one more, which brings the newer revision"
    )
    func triggers() async throws {
        let observer = RecordingObserver()
        let h = try SchedulerHarness(role: .slave, observer: observer)
        _ = try await h.scheduler.putSettings(Self.settings)
        _ = try await h.scheduler.putProject("p", spec: Self.pull())
        try await h.idle()
        #expect(await h.scheduler.follow(revisions: ["p": 0]).isEmpty)
        try await h.idle()
        h.clock.advance(by: 7 * 3600)
        try await h.idle()
        #expect(h.runner.startCount("p") == 0, "nothing to pull while the master has no revision")

        _ = try await h.scheduler.requestRun("p", trigger: .trigger, revision: 1)
        try await eventually("the pull starts") { h.runner.startCount("p") == 1 }
        // The pull's source names the site's credential; the job says which master hands it out.
        #expect(h.runner.starts[0].job.source.description.hasPrefix("rsync://"))
        if case .masterModule(_, let master) = h.runner.starts[0].job.source {
            #expect(master == "http://127.0.0.1:1")
        } else {
            Issue.record("not the master's module: \(h.runner.starts[0].job.source)")
        }
        _ = try await h.scheduler.requestRun("p", trigger: .trigger, revision: 2)
        _ = try await h.scheduler.requestRun("p", trigger: .trigger, revision: 3)
        #expect(h.runner.startCount("p") == 1, "never two pulls of one project at once")
        h.runner.finish("p")
        try await eventually("the queued pull starts") { h.runner.startCount("p") == 2 }
        h.runner.finish("p")
        try await eventually("both reported") { observer.runs.count == 2 }
        try await h.idle()
        #expect(h.runner.startCount("p") == 2, "three triggers, one pull in progress: exactly one more")
        // The first pull brought revision 1; the second, queued behind it, the newest: 3.
        #expect(observer.runs.map(\.revision) == [1, 3])
        #expect(observer.runs.map(\.run.trigger) == [.trigger, .trigger])
        #expect(try h.store.project("p")?.revision == 3)
        await h.shutdown()
    }

    @Test("catching up queues every project behind the master, and none that is current, suspended or unknown to it")
    func catchUp() async throws {
        let h = try SchedulerHarness(role: .slave)
        _ = try await h.scheduler.putSettings(Self.settings)
        for name in ["behind", "current", "paused", "unknown"] {
            var spec = Self.pull()
            spec.path = name
            spec.suspended = name == "paused"
            _ = try await h.scheduler.putProject(name, spec: spec)
        }
        let queued = await h.scheduler.follow(revisions: ["behind": 4, "current": 0, "paused": 9])
        #expect(queued == ["behind"])
        try await eventually("behind pulls") { h.runner.startCount("behind") == 1 }
        #expect(h.runner.starts.map(\.project) == ["behind"])
        h.runner.finish("behind")
        try await eventually("behind at 4") { (try h.store.project("behind"))?.revision == 4 }
        // The same answer again: nothing left to do.
        try await h.idle()
        #expect(await h.scheduler.follow(revisions: ["behind": 4, "current": 0]).isEmpty)
        await h.shutdown()
    }

    @Test("the master bumps its own revision and tells its observer after every successful run, not after a failed one")
    func masterRevisions() async throws {
        let observer = RecordingObserver()
        let h = try SchedulerHarness(policy: .init(maxAttempts: 1), observer: observer)
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("p", spec: SchedulerHarness.spec())
        try await eventually("p starts") { h.runner.startCount("p") == 1 }
        h.runner.finish("p")
        try await eventually("reported") { observer.runs.count == 1 }
        _ = try await h.scheduler.requestRun("p")
        try await eventually("p starts again") { h.runner.startCount("p") == 2 }
        h.runner.finish("p", SyncOutcome(result: .failed, message: "upstream down"))
        try await eventually("reported again") { observer.runs.count == 2 }
        #expect(observer.runs.map(\.revision) == [1, 1])
        #expect(observer.runs.map { $0.run.result } == [.success, .failed])
        #expect(await h.scheduler.revisions() == ["p": 1])
        await h.shutdown()
    }
}

@Suite("Delivering triggers and reports (manual clock)")
struct CourierTests {
    /// Peers that are down or answering, and what each has received.
    final class Peers: Sendable {
        let down = Mutex<Set<String>>([])
        let received = Mutex<[String: [Int]]>([:])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)

        func send(_ peer: String, _ revision: Int) async throws(PeerError) {
            if peer == "slow" { await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } } }
            if down.withLock({ $0.contains(peer) }) { throw PeerError("\(peer): connection refused") }
            received.withLock { $0[peer, default: []].append(revision) }
        }

        func got(_ peer: String) -> [Int] { received.withLock { $0[peer] ?? [] } }
    }

    @Test(
        "a peer that is down gets the newest revision once it is back, after a backoff that grows; older pending ones are superseded"
    )
    func supersede() async throws {
        let clock = ManualClock()
        let peers = Peers()
        peers.down.withLock { $0 = ["b"] }
        let courier = Courier<Int>(clock: clock, retryBase: 2, retryMax: 60, logger: testLogger) {
            peer, revision throws(PeerError) in
            try await peers.send(peer, revision)
        }
        await courier.post(1, to: "b", key: "linux")
        try await eventually("a retry is waiting") { clock.sleepers == 1 }
        let first = try #require(clock.nextDeadline).timeIntervalSince(clock.now())
        #expect(first >= 1 && first <= 3, "2 s ± 50%: \(first)")
        clock.advanceToNextDeadline()
        try await eventually("a second retry is waiting") { clock.sleepers == 1 }
        let second = try #require(clock.nextDeadline).timeIntervalSince(clock.now())
        #expect(second >= 2 && second <= 6, "4 s ± 50%: \(second)")
        await courier.post(2, to: "b", key: "linux")
        await courier.post(3, to: "b", key: "linux")
        await courier.post(7, to: "b", key: "tools")
        #expect(await courier.waiting(for: "b") == 2)
        peers.down.withLock { $0 = [] }
        clock.advanceToNextDeadline()
        try await eventually("b has both projects") { peers.got("b").count == 2 }
        #expect(peers.got("b") == [3, 7], "revision 1 and 2 of linux were superseded by 3")
        await courier.stop()
    }

    @Test("a slow peer delays nobody else")
    func independence() async throws {
        let peers = Peers()
        let courier = Courier<Int>(clock: ManualClock(), logger: testLogger) { peer, revision throws(PeerError) in
            try await peers.send(peer, revision)
        }
        await courier.post(1, to: "slow", key: "linux")
        for (i, project) in ["linux", "tools", "gnu"].enumerated() { await courier.post(i, to: "fast", key: project) }
        try await eventually("fast has all three") { peers.got("fast") == [0, 1, 2] }
        #expect(peers.got("slow").isEmpty)
        try await eventually("slow is waiting") { peers.gate.withLock { $0 != nil } }
        peers.gate.withLock {
            $0?.resume()
            $0 = nil
        }
        try await eventually("slow has it") { peers.got("slow") == [1] }
        #expect(await courier.delivered == 4)
        await courier.stop()
    }
}

@Suite("The master's rsyncd.conf")
struct RsyncdConfigTests {
    @Test(
        "one read-only module per project, open to the site's user alone, symlinks as they are; hosts allow from the slaves"
    )
    func render() {
        let text = RsyncdConfig.render(
            modules: [
                .init(name: "tools", path: "/srv/mirror/tools"), .init(name: "linux", path: "/srv/mirror/kernel"),
            ],
            user: "mirrorsync", secretsFile: "/var/lib/m/rsyncd.secrets", logFile: "/var/lib/m/rsyncd.log",
            hostsAllow: RsyncdConfig.hosts(ofSlaves: [
                "b": "http://[::1]:7072", "a": "http://ftp1.example.org:7071", "c": "http://ftp1.example.org:7073",
            ]))
        let lines = text.split(separator: "\n").map(String.init)
        for expected in [
            "use chroot = no", "munge symlinks = no", "read only = yes", "list = no", "auth users = mirrorsync:ro",
            "secrets file = /var/lib/m/rsyncd.secrets", "hosts allow = ::1 ftp1.example.org",
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        #expect(lines.contains { $0.hasPrefix("refuse options =") && $0.contains("copy-links") })
        let modules = lines.filter { $0.hasPrefix("[") }
        #expect(modules == ["[linux]", "[tools]"])
        #expect(lines.contains("    path = /srv/mirror/kernel"))
        // Without slavesOnly, no host list; with it and no slaves, nobody.
        #expect(
            !RsyncdConfig.render(modules: [], user: "u", secretsFile: "s", logFile: "l", hostsAllow: nil).contains(
                "hosts allow"))
        #expect(
            RsyncdConfig.render(modules: [], user: "u", secretsFile: "s", logFile: "l", hostsAllow: []).contains(
                "hosts allow = 0.0.0.0/32"))
    }
}

/// Runs rsync by hand against the master's daemon.
func rsyncList(_ url: String, password: String) async -> (status: Int32, output: String) {
    guard
        let result = try? await runProgram(
            "/usr/bin/rsync", ["--list-only", "--contimeout=5", url],
            environment: ["RSYNC_PASSWORD": password, "LC_ALL": "C"])
    else {
        return (-1, "cannot run rsync")
    }
    return (result.status, result.stdout + result.stderr)
}

/// Holds a TCP port on 127.0.0.1 until closed.
func occupy(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var yes: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    listen(fd, 1)
    return fd
}

@Suite("The master's rsync daemon and site API (real rsync, live HTTP)", .serialized)
struct MasterSiteTests {
    func status(_ agent: AgentHarness) async throws -> SiteStatus {
        try await agent.request("GET", "/v1/status").decode(SiteStatus.self)
    }

    func waitFor(_ agent: AgentHarness, _ what: String, seconds: Double = 20, _ condition: (SiteStatus) -> Bool)
        async throws -> SiteStatus
    {
        let deadline = Date().addingTimeInterval(seconds)
        var last: SiteStatus?
        while Date() < deadline {
            last = try await status(agent)
            if condition(last!) { return last! }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw AgentStartError("never \(what); last: \(String(describing: last?.rsyncd))")
    }

    @Test(
        "a new project's module is served without restarting the daemon, to the site's credential only; the credential needs the token"
    )
    func modules() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 3)
        let port = freePort()
        _ = try await agent.put(
            "/v1/settings",
            AgentSettings(root: agent.scratch.path + "/root", rsyncd: RsyncdSpec(address: "127.0.0.1", port: port)))
        _ = try await agent.put("/v1/projects/one", try AgentHarness.project(upstream, path: "one"))
        _ = try await agent.waitForRun("one", revision: 1)
        let running = try await waitFor(agent, "runs the daemon") {
            $0.rsyncd.state == .running && $0.rsyncd.modules == 1
        }
        #expect(try await agent.request("GET", "/v1/rsyncd/credential", token: .some(nil)).status == 401)
        let credential = try await agent.request("GET", "/v1/rsyncd/credential").decode(RsyncCredential.self)
        #expect(credential.user == "mirrorsync")
        let listed = await rsyncList("rsync://mirrorsync@127.0.0.1:\(port)/one/", password: credential.password)
        #expect(listed.status == 0 && listed.output.contains("hardlink.deb"), "\(listed.output)")
        let refused = await rsyncList("rsync://mirrorsync@127.0.0.1:\(port)/one/", password: "wrong")
        #expect(refused.status != 0 && refused.output.contains("auth failed"))

        _ = try await agent.put("/v1/projects/two", try AgentHarness.project(upstream, path: "two"))
        _ = try await agent.waitForRun("two", revision: 1)
        let after = try await waitFor(agent, "serves two modules") { $0.rsyncd.modules == 2 }
        #expect(after.rsyncd.pid == running.rsyncd.pid && after.rsyncd.restarts == 0, "a new module needs no restart")
        #expect(await rsyncList("rsync://mirrorsync@127.0.0.1:\(port)/two/", password: credential.password).status == 0)
        // The revisions a slave catches up with; the state never holds the credential.
        #expect(
            try await agent.request("GET", "/v1/revisions").decode(RevisionsResponse.self).projects == [
                "one": 1, "two": 1,
            ])
        #expect(try await !agent.request("GET", "/v1/state").text.contains(credential.password))
        await agent.stop()
        #expect(
            await rsyncList("rsync://mirrorsync@127.0.0.1:\(port)/one/", password: credential.password).status != 0,
            "stopped with the agent")
    }

    @Test(
        "a port already taken is an error in the status, retried with backoff rather than in a loop; once free, the daemon runs"
    )
    func portTaken() async throws {
        let agent = try await AgentHarness()
        let port = freePort()
        let holder = occupy(port)
        _ = try await agent.put(
            "/v1/settings",
            AgentSettings(root: agent.scratch.path + "/root", rsyncd: RsyncdSpec(address: "127.0.0.1", port: port)))
        let failed = try await waitFor(agent, "fails") { $0.rsyncd.state == .failed }
        #expect(
            failed.rsyncd.message?.contains("cannot listen on 127.0.0.1:\(port): the address is already in use")
                == true,
            "\(failed.rsyncd.message ?? "")")
        #expect(failed.rsyncd.retryAt != nil)
        try await Task.sleep(for: .seconds(2))
        let later = try await status(agent)
        #expect(later.rsyncd.restarts <= 3, "backoff, not a crash loop: \(later.rsyncd.restarts) restarts in 2 s")
        close(holder)
        _ = try await waitFor(agent, "runs once the port is free", seconds: 30) { $0.rsyncd.state == .running }
        await agent.stop()
    }

    @Test(
        "reports from slaves are checked: a bad body names the field; an unknown slave or a project it does not serve is refused"
    )
    func reports() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 1)
        _ = try await agent.put(
            "/v1/settings",
            AgentSettings(
                root: agent.scratch.path + "/root", slaves: ["a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"]))
        _ = try await agent.put(
            "/v1/projects/linux", try AgentHarness.project(upstream, path: "linux") { $0.slaves = ["a"] })
        _ = try await agent.waitForRun("linux", revision: 1)
        func post(_ json: String) async throws -> AgentHarness.Reply {
            try await agent.request("POST", "/v1/reports", body: Data(json.utf8))
        }
        let good =
            #"{"slave":"a","project":"linux","revision":1,"result":"success","runID":3,"endedAt":"2026-11-26T08:00:00.000Z","durationSeconds":1.5}"#

        let missing = try await post(#"{"slave":"a","project":"linux"}"#)
        #expect(missing.status == 400 && missing.error?.field == "revision")
        let wrongType = try await post(good.replacingOccurrences(of: #""revision":1"#, with: #""revision":"one""#))
        #expect(wrongType.status == 400 && wrongType.error?.field == "revision")
        #expect(try await post("not json").status == 400)
        let unknown = try await post(good.replacingOccurrences(of: #""slave":"a""#, with: #""slave":"zz""#))
        #expect(unknown.status == 404 && unknown.error?.field == "slave")
        let unassigned = try await post(good.replacingOccurrences(of: #""slave":"a""#, with: #""slave":"b""#))
        #expect(unassigned.status == 409)
        #expect(
            try await status(agent).projects["linux"]?.slaves["a"]?.result == nil, "nothing kept from refused reports")

        #expect(try await post(good).status == 202)
        let status = try await status(agent)
        let copy = try #require(status.projects["linux"]?.slaves["a"])
        #expect(copy.revision == 1 && copy.result == .success && copy.behind == 0 && copy.lastSeenAt != nil)
        #expect(!copy.reachable, "nothing answers at 127.0.0.1:1")
        #expect(
            status.slaves.map(\.name) == ["a", "b"] && status.slaves.allSatisfy { !$0.reachable && $0.error != nil })
        // A trigger's body is checked the same way.
        let trigger = try await agent.request("POST", "/v1/projects/linux/sync", body: Data(#"{"revision":"x"}"#.utf8))
        #expect(trigger.status == 400 && trigger.error?.field == "revision")
        await agent.stop()
    }
}
