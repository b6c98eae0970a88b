import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// The master's notifications end to end: a real master agent, a project whose rsync daemon upstream lacks its
/// directory (rsync exits 23) until the test makes it, a webhook receiver that records what it is sent, and a
/// stand-in sendmail.
@Suite("Notifications: a failing project, its recovery, a restart", .serialized)
struct NotificationTests {
    let scratch = Scratch("notify")
    let secret = "s3cr3t-\(UUID().uuidString)"

    func settings(root: String, hook: String, secretFile: String) -> AgentSettings {
        AgentSettings(
            root: root,
            notify: NotifySpec(
                webhooks: ["ops": WebhookTarget(url: hook, secretFile: secretFile, timeout: TimeSpan(seconds: 5))],
                routes: ["linux": MailTarget(to: ["linux-maint@example.org"])], from: "mirrors@example.org"))
    }

    func events(_ request: WebhookReceiver.Request) throws -> [[String: Any]] {
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        return try #require(body["events"] as? [[String: Any]])
    }

    /// Waits until `count()` is `expected`, then a little more, and checks that it stayed there.
    func settles(_ what: String, at expected: Int, _ count: @escaping () -> Int) async throws {
        try await eventually("\(what): \(expected)", seconds: 30) { count() >= expected }
        try await Task.sleep(for: .milliseconds(1500))
        #expect(count() == expected, "\(what)")
    }

    @Test(
        "a failing project sends one signed webhook and one mail; its recovery one of each; a restart sends what waited, once"
    )
    func failRecoverRestart() async throws {
        let receiver = try await WebhookReceiver(scratch: scratch)
        defer { receiver.stop() }
        let sendmail = try FakeSendmail(scratch: scratch)
        let secretFile = scratch.path + "/webhook.secret"
        try (secret + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile, 0o600)
        let upstream = scratch.sub("upstream")
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        defer { daemon.stop() }
        let root = scratch.sub("root")
        let state = scratch.path + "/state"

        let master = try await AgentHarness(stateDirectory: state, sendmail: sendmail.path)
        #expect(
            try await master.put("/v1/settings", settings(root: root, hook: receiver.url, secretFile: secretFile))
                .status == 200)
        // The module has no linux/ yet: rsync fails (change_dir ... failed, exit 23).
        #expect(
            try await master.put("/v1/projects/linux", AgentHarness.project(daemon.url + "linux/", path: "linux"))
                .status < 300)
        let failed = try await master.waitForRun("linux")
        #expect(failed.result == .failed)

        try await settles("webhooks after the failure", at: 1) { receiver.accepted().count }
        try await settles("mails after the failure", at: 1) { sendmail.mails().count }
        let hook = try #require(receiver.accepted().first)
        #expect(hook.isSigned(with: secret))
        #expect(!hook.isSigned(with: secret + "x"))
        let first = try events(hook)
        #expect(first.count == 1)
        #expect(first.first?["kind"] as? String == "project-failing")
        #expect(first.first?["state"] as? String == "firing")
        #expect(first.first?["project"] as? String == "linux")
        // No message, rsync output or path in the body: the failure's class and stable reason only.
        let text = String(decoding: hook.body, as: UTF8.self)
        #expect(!text.contains(upstream) && !text.contains("change_dir") && !text.contains(secretFile))
        let mail = try #require(sendmail.mails().first)
        #expect(mail.argv == ["-t", "-oi"])
        #expect(mail.header("To") == "linux-maint@example.org")
        #expect(mail.header("From") == "mirrors@example.org")
        #expect(mail.header("Subject")?.contains("project linux is failing") == true)

        // The upstream mended: the next run succeeds, and the recovery is told once on each.
        try FileManager.default.createDirectory(atPath: upstream + "/linux", withIntermediateDirectories: true)
        try "hello\n".write(toFile: upstream + "/linux/README", atomically: true, encoding: .utf8)
        #expect(try await master.request("POST", "/v1/projects/linux/sync").status < 300)
        try await eventually("the run after the fix succeeds") {
            try await master.state().projects["linux"]?.status.lastRun?.result == .success
        }
        try await settles("webhooks after the recovery", at: 2) { receiver.accepted().count }
        try await settles("mails after the recovery", at: 2) { sendmail.mails().count }
        let recovery = try events(receiver.accepted()[1])
        #expect(recovery.first?["state"] as? String == "resolved")
        #expect(receiver.accepted()[1].isSigned(with: secret))
        #expect(sendmail.mails()[1].header("Subject")?.contains("project linux recovered") == true)

        // It fails again while the receiver answers 500 and sendmail fails: the messages wait in the outbox, tried
        // again with backoff, while the agent stops and starts.
        try receiver.answer(500)
        sendmail.failing(true)
        try FileManager.default.removeItem(atPath: upstream + "/linux")
        #expect(try await master.request("POST", "/v1/projects/linux/sync").status < 300)
        try await eventually("the run fails again") {
            try await master.state().projects["linux"]?.status.lastRun?.result == .failed
        }
        try await eventually("the webhook was tried") { receiver.requests().count > 2 }
        await master.stop()
        try receiver.answer(200)
        sendmail.failing(false)
        let restarted = try await AgentHarness(stateDirectory: state, sendmail: sendmail.path)
        try await settles("webhooks after the restart", at: 3) { receiver.accepted().count }
        try await settles("mails after the restart", at: 3) { sendmail.mails().count }
        let again = try events(receiver.accepted()[2])
        #expect(again.map { $0["state"] as? String } == ["firing"])
        // A restart with nothing waiting tells nothing: the failure in force was told.
        await restarted.stop()
        let quiet = try await AgentHarness(stateDirectory: state, sendmail: sendmail.path)
        try await Task.sleep(for: .seconds(2))
        #expect(receiver.accepted().count == 3)
        #expect(sendmail.mails().count == 3)
        await quiet.stop()
    }

    @Test("a webhook's secretFile inside the agent's root or state directory is refused at PUT, and nothing changes")
    func secretFileBounds() async throws {
        let root = scratch.sub("bounded-root")
        let master = try await AgentHarness(stateDirectory: scratch.path + "/bounded-state")
        for file in [root + "/webhook.secret", scratch.path + "/bounded-state/webhook.secret"] {
            let reply = try await master.put(
                "/v1/settings", settings(root: root, hook: "http://127.0.0.1:9/hook", secretFile: file))
            #expect(reply.status == 403, "\(file): \(reply.text)")
            #expect(reply.error?.code == "forbidden-secret")
            #expect(reply.error?.field == "notify.webhooks.ops.secretFile")
        }
        #expect(try await master.state().settings == nil)
        await master.stop()
    }
}
