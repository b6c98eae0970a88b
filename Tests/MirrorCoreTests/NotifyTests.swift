import Foundation
import Testing
@testable import MirrorCore

@Suite("Notifications: notify:, conditions, changes, routes, HMAC")
struct NotifyTests {

    @Test("notify: reads whole, reaches the master's settings, and a PUT reads it back the same")
    func decodesAndTravels() throws {
        let loaded = try Corpus.load(Corpus.fixture("valid/notify.yaml")).get()
        let notify = try #require(loaded.state.notify)
        #expect(notify.webhooks["ops"]?.url == "https://hooks.example.org/mirrorsync")
        #expect(notify.webhooks["ops"]?.timeout == TimeSpan(seconds: 15))
        #expect(notify.mail["admins"]?.severity == .error)
        #expect(notify.mail["admins"]?.to == ["mirror-admins@example.org", "oncall+mirrors@example.org"])
        #expect(notify.routes["debian"]?.to == ["debian-mirror@example.org"])
        #expect(notify.routes["debian"]?.severity == .warning)
        #expect(notify.from == "mirrorsync@mirrors.example.org")
        #expect(notify.maxPerHour == 12 && notify.behindAfter == TimeSpan(seconds: 7200))
        let agents = DesiredAgent.all(from: loaded.state)
        let master = try #require(agents.first { $0.role == .master })
        #expect(master.settings.notify == notify)
        #expect(agents.filter { $0.role == .slave }.allSatisfy { $0.settings.notify == nil })
        // What the reconciler PUTs, the master reads with the same checks.
        let body = try APICoding.encoder().encode(master.settings)
        #expect(try AgentRequest.settings(Array(body)) == master.settings)
    }

    @Test("settings without notify keep their JSON and their generation")
    func absentKeepsGeneration() throws {
        let settings = AgentSettings(root: "/srv/mirror")
        let text = String(decoding: try APICoding.encoder().encode(settings), as: UTF8.self)
        #expect(!text.contains("notify"))
        var with = settings
        with.notify = NotifySpec()
        #expect(Generation.of(with) != Generation.of(settings))
    }

    @Test(
        "mail addresses: no line break, space, quote or second address gets through",
        arguments: [
            "ops@example.org\r\nBcc: all@example.org", "ops@example.org, all@example.org", "Ops <ops@example.org>",
            "\"o p\"@example.org", "ops@", "@example.org", "ops@exa_mple.org", "ops@-example.org", "opé@example.org",
            "ops@example.org\n",
        ])
    func badAddresses(_ address: String) {
        #expect(throws: ValueError.self) { try MailAddress.check(address) }
        #expect(address.wholeMatch(of: try! Regex(String(MailAddress.pattern.dropFirst().dropLast()))) == nil)
    }

    @Test(
        "good mail addresses pass the check and the schema's pattern alike",
        arguments: [
            "ops@example.org", "oncall+mirrors@mirrors.example.org", "a.b-c_d@x.io", "root@localhost",
        ])
    func goodAddresses(_ address: String) throws {
        #expect(try MailAddress.check(address) == address)
        #expect(address.wholeMatch(of: try Regex(String(MailAddress.pattern.dropFirst().dropLast()))) != nil)
    }

    func state(failed: Bool, since: Date) -> ProjectState {
        var run = RunRecord(id: 7, project: "debian", trigger: .schedule, state: .finished, queuedAt: since)
        run.result = failed ? .failed : .success
        run.reason = failed ? "rsync-exit-10" : nil
        run.endedAt = since
        let status = ProjectStatus(
            activity: .idle, revision: 1, lastRun: run, lastSuccessAt: failed ? nil : since, addedAt: since)
        let spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try! UpstreamLocation.parse("rsync://up.example.org/debian/")),
            path: "debian", interval: .every(TimeSpan(seconds: 3600)))
        return ProjectState(spec: spec, generation: "g", status: status, managed: true)
    }

    @Test("a failure is told once as it begins and once as it ends; a project removed is forgotten without a word")
    func changesOnly() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let spec = NotifySpec()
        let failing = NotifyConditions.of(
            projects: ["debian": state(failed: true, since: now)], site: nil, spec: spec, now: now)
        #expect(failing.keys.sorted() == ["project-failing:debian"])
        let began = NotifyConditions.changes(from: [:], to: failing, at: now) { _ in true }
        #expect(began.map(\.resolved) == [false])
        #expect(NotifyConditions.changes(from: failing, to: failing, at: now) { _ in true }.isEmpty)
        let healthy = NotifyConditions.of(
            projects: ["debian": state(failed: false, since: now)], site: nil, spec: spec, now: now)
        let ended = NotifyConditions.changes(from: failing, to: healthy, at: now) { _ in true }
        #expect(ended.map(\.resolved) == [true])
        #expect(NotifyConditions.changes(from: failing, to: [:], at: now) { _ in false }.isEmpty)
        // Two intervals without a success: stale too.
        let later = now.addingTimeInterval(3 * 3600)
        let stale = NotifyConditions.of(
            projects: ["debian": state(failed: false, since: now)], site: nil, spec: spec, now: later)
        #expect(stale.keys.sorted() == ["project-stale:debian"])
    }

    @Test("slaves: unreachable past its bound, behind past its bound, and not behind while unreachable")
    func slaves() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let spec = NotifySpec(unreachableAfter: TimeSpan(seconds: 300), behindAfter: TimeSpan(seconds: 3600))
        func site(seen: TimeInterval, reachable: Bool, lag: Double) -> SiteStatus {
            let copy = SlaveCopy(
                revision: 1, result: .success, reportedAt: now, message: nil, behind: 1, lagSeconds: lag,
                reachable: reachable, lastSeenAt: now.addingTimeInterval(-seen), sizeBytes: nil, reason: nil)
            return SiteStatus(
                name: "master", generatedAt: now, rsyncd: RsyncdStatus(state: .running, modules: 1, restarts: 0),
                slaves: [
                    SlaveHealth(
                        name: "ftp1", api: "http://127.0.0.1:1", reachable: reachable,
                        lastSeenAt: now.addingTimeInterval(-seen), error: nil)
                ],
                projects: [
                    "debian": SiteProject(
                        revision: 2, activity: .idle, lastRun: nil, lastSuccessAt: nil, nextRunAt: nil,
                        slaves: ["ftp1": copy], sizeBytes: nil, stuck: nil)
                ])
        }
        func keys(_ s: SiteStatus) -> [String] {
            NotifyConditions.of(projects: [:], site: s, spec: spec, now: now).keys.sorted()
        }
        #expect(keys(site(seen: 60, reachable: false, lag: 10)) == [])
        #expect(keys(site(seen: 600, reachable: false, lag: 7200)) == ["slave-unreachable:ftp1"])
        #expect(keys(site(seen: 0, reachable: true, lag: 600)) == [])
        #expect(keys(site(seen: 0, reachable: true, lag: 7200)) == ["slave-behind:ftp1"])
    }

    @Test(
        "routes: each target takes its severity and graver, a route its project alone, a recovery where its start went")
    func routes() {
        let now = Date()
        let spec = NotifySpec(
            webhooks: ["all": WebhookTarget(url: "https://h.example.org", secretFile: "/s")],
            mail: ["pager": MailTarget(to: ["p@example.org"], severity: .error)],
            routes: ["debian": MailTarget(to: ["d@example.org"])])
        let events = [
            NotifyEvent(condition: NotifyCondition(kind: .projectFailing, subject: "debian"), resolved: true, at: now),
            NotifyEvent(condition: NotifyCondition(kind: .projectStale, subject: "gnu"), resolved: false, at: now),
            NotifyEvent(condition: NotifyCondition(kind: .slaveBehind, subject: "ftp1"), resolved: false, at: now),
        ]
        let routed = NotifyConditions.route(events, spec: spec)
        #expect(routed.map(\.target) == ["webhook:all", "mail:pager", "route:debian"])
        #expect(routed[0].events.count == 3)
        #expect(routed[1].events.map(\.condition.subject) == ["debian"])
        #expect(routed[2].events.map(\.condition.subject) == ["debian"])
    }

    @Test("HMAC-SHA256 agrees with RFC 4231's test cases 3, 4, 6 and 7 (keys and data past one block)")
    func hmacVectors() {
        let cases: [([UInt8], [UInt8], String)] = [
            (
                [UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
            ),
            (
                Array(1...25), [UInt8](repeating: 0xcd, count: 50),
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
            ),
            (
                [UInt8](repeating: 0xaa, count: 131),
                Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            ),
            (
                [UInt8](repeating: 0xaa, count: 131),
                Array(
                    "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
                        .utf8),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
            ),
        ]
        for (key, data, expected) in cases { #expect(SHA256.hex(SHA256.hmac(key: key, data)) == expected) }
    }
}
