import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// A run between two attempts is its own state, `retrying`, on every surface: the scheduler's state (manual clock), and
/// a live master's API, status, status page, mirrorz.json and tunasync's `/jobs`.
@Suite("A run waiting to retry")
struct RetryStateTests {
    static let refused = SyncOutcome(
        result: .failed, exitCode: 10, reason: "rsync-exit-10", message: "Connection refused", retryable: true)

    @Test("the scheduler's state: retrying from the failed attempt until the next starts, then running, then idle")
    func schedulerState() async throws {
        let h = try SchedulerHarness(policy: .init(maxAttempts: 2, retryBase: 30, retryMax: 600))
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { h.runner.startCount("a") == 1 }
        #expect(await h.scheduler.projectStates()["a"]?.status.activity == .running)
        let (before, _) = await h.scheduler.projectStates(changedSince: 0)
        let failedAt = h.clock.now()
        h.runner.finish("a", Self.refused)
        try await eventually("waits to retry") { await h.scheduler.projectStates()["a"]?.status.activity == .retrying }
        let status = try #require(await h.scheduler.projectStates()["a"]?.status)
        let retry = try #require(status.retry)
        #expect(retry.failedAt == failedAt && retry.attempts == 1 && retry.reason == "rsync-exit-10")
        #expect(retry.message == "Connection refused")
        try await eventually("the backoff's deadline is the retry's time") { h.clock.nextDeadline == retry.at }
        #expect(retry.at.timeIntervalSince(failedAt) >= 15 && retry.at.timeIntervalSince(failedAt) <= 45)
        #expect(status.currentRunID != nil && status.lastRun == nil, "the run is still the one in progress")
        // A reader of the changes since (the reconciler's GET /v1/state?since=) is told.
        let (after, changed) = await h.scheduler.projectStates(changedSince: before)
        #expect(after > before && changed["a"]??.status.activity == .retrying)

        h.clock.advanceToNextDeadline()
        try await eventually { h.runner.startCount("a") == 2 }
        try await eventually("running again") { await h.scheduler.projectStates()["a"]?.status.activity == .running }
        #expect(await h.scheduler.projectStates()["a"]?.status.retry == nil)
        h.runner.finish("a", Self.refused)
        try await eventually { await h.scheduler.projectStates()["a"]?.status.activity == .idle }
        #expect(await h.scheduler.projectStates()["a"]?.status.retry == nil)
        await h.shutdown()
    }

    @Test(
        "a live master: GET /v1/state says running with retry (retrying to this client), and the status, the page, mirrorz and /jobs say it"
    )
    func liveSurfaces() async throws {
        // The first attempt fails at once (no one listens); the next waits 15 to 45 s, time to read every surface.
        let agent = try await AgentHarness(policy: .init(maxAttempts: 2, retryBase: 30, retryMax: 60))
        var settings = AgentSettings(root: agent.scratch.path + "/root", publicStatus: true)
        settings.site = SiteSpec(url: "https://mirrors.example.org", abbr: "EX", name: "Example Mirrors")
        _ = try await agent.put("/v1/settings", settings)
        _ = try await agent.put(
            "/v1/projects/down", try AgentHarness.project("rsync://127.0.0.1:\(freePort())/pub/", path: "down"))
        try await eventually("waits to retry", seconds: 30) {
            try await agent.state().projects["down"]?.status.activity == .retrying
        }
        let status = try #require(try await agent.state().projects["down"]?.status)
        let retry = try #require(status.retry)
        #expect(retry.attempts == 1 && retry.reason == "rsync-exit-10" && retry.at > retry.failedAt)

        // The wire: activity "running", which a client of four activities reads, and retry beside it.
        let raw = try await agent.request("GET", "/v1/state").body
        let object = try #require(try JSONSerialization.jsonObject(with: raw) as? [String: Any])
        let project = try #require((object["projects"] as? [String: Any])?["down"] as? [String: Any])
        let wire = try #require(project["status"] as? [String: Any])
        #expect(wire["activity"] as? String == "running" && wire["retry"] is [String: Any])

        let site = try await agent.request("GET", "/v1/status").decode(SiteStatus.self)
        #expect(site.projects["down"]?.activity == .retrying && site.projects["down"]?.retry == retry)
        // The public's status: the retry's time and class, not its message.
        let shown = try await agent.request("GET", "/v1/status", token: .some(nil)).decode(SiteStatus.self)
        #expect(shown.projects["down"]?.retry?.message == "upstream unreachable")

        let page = String(decoding: try await agent.request("GET", "/").body, as: UTF8.self)
        #expect(
            page.contains("<title>Example Mirrors · mirrorsync</title>") && page.contains("<h1>Example Mirrors</h1>"))
        #expect(page.contains(">retrying</span>") && page.contains("attempt 1 failed (rsync-exit-10); the next in "))
        #expect(page.contains("<td>retry in "))
        let projectPage = String(decoding: try await agent.request("GET", "/projects/down").body, as: UTF8.self)
        #expect(projectPage.contains("<dt>Retrying</dt><dd>attempt 1 failed (rsync-exit-10); the next in "))
        #expect(projectPage.contains("← Example Mirrors</a>"))
        #expect(projectPage.contains("<th scope=\"row\">master</th>"), "the hosts' table names the master")

        let mirrorz = try #require(
            try JSONSerialization.jsonObject(with: try await agent.request("GET", "/mirrorz.json").body)
                as? [String: Any])
        let mirror = try #require((mirrorz["mirrors"] as? [[String: Any]])?.first)
        let unix = { (date: Date) in Int64(floor(date.timeIntervalSince1970)) }
        #expect(mirror["status"] as? String == "F\(unix(retry.failedAt))X\(unix(retry.at))N\(unix(status.addedAt!))")
        let jobs = try #require(
            try JSONSerialization.jsonObject(with: try await agent.request("GET", "/jobs").body) as? [[String: Any]])
        #expect(jobs.first?["status"] as? String == "failed")
        #expect((jobs.first?["next_schedule_ts"] as? NSNumber)?.int64Value == unix(retry.at))

        _ = try await agent.request("POST", "/v1/projects/down/cancel")
        try await eventually("idle once cancelled") {
            try await agent.state().projects["down"]?.status.activity == .idle
        }
        await agent.stop()
    }
}
