import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorPresentation
import MirrorTestSupport

/// A project whose runs keep failing with one cause is shown as stuck, with the cause; a success, or another cause,
/// ends it; an agent started again knows it from its store.
@Suite("Stuck projects (manual clock)")
struct StuckProjectTests {
    static let capped = SyncOutcome(
        result: .failed, reason: "deletion-cap", message: "the upstream would delete 900 files")

    func status(_ h: SchedulerHarness) async -> ProjectStatus? { await h.scheduler.projectStates()["a"]?.status }

    /// Runs `a` once on request and ends it with `outcome`.
    func run(_ h: SchedulerHarness, _ outcome: SyncOutcome) async throws {
        let before = h.runner.startCount("a")
        _ = try await h.scheduler.requestRun("a")
        try await eventually("a starts") { h.runner.startCount("a") == before + 1 }
        h.runner.finish("a", outcome)
        try await eventually("a ends") { await self.status(h)?.activity == .idle }
    }

    @Test(
        "three failures in a row with one cause make a project stuck, in its state, the site's status, the metrics and the page; a success ends it"
    )
    func stuckAndMended() async throws {
        let scratch = Scratch("stuck")
        let clock = ManualClock()
        let h = try SchedulerHarness(clock: clock, directory: scratch.path)
        _ = try await h.scheduler.putSettings(AgentSettings(root: scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { h.runner.startCount("a") == 1 }
        h.runner.finish("a", Self.capped)
        try await eventually("a ends") { await self.status(h)?.lastRun?.result == .failed }
        try await run(h, Self.capped)
        #expect(await status(h)?.stuck == nil, "two failures are not yet stuck")
        // Another cause starts the count again.
        try await run(h, SyncOutcome(result: .failed, reason: "rsync-exit-10", message: "refused"))
        try await run(h, Self.capped)
        try await run(h, Self.capped)
        #expect(await status(h)?.stuck == nil)
        try await run(h, Self.capped)
        let stuck = try #require(await status(h)?.stuck)
        #expect(stuck.cause == "deletion-cap" && stuck.runs == 3)

        let metrics = AlertMetrics.render(projects: await h.scheduler.projectStates(), site: nil)
        #expect(metrics.contains(#"mirrorsync_project_stuck_runs{project="a",cause="deletion-cap"} 3"#), "\(metrics)")
        let state = try #require(await h.scheduler.projectStates()["a"])
        let page = StatusPage.project(
            "a", siteName: "site", state: state, site: nil, slaves: [], runs: [], now: clock.now())
        #expect(page.contains("stuck: deletion-cap"), "\(page)")

        // A cancelled run says nothing of the cause; the agent started again counts from its store.
        await h.shutdown()
        let again = try SchedulerHarness(clock: clock, directory: scratch.path)
        try await again.idle()
        #expect(await status(again)?.stuck == FailureStreak(cause: "deletion-cap", runs: 3, since: stuck.since))
        try await run(again, Self.capped)
        #expect(await status(again)?.stuck?.runs == 4)
        try await run(again, SyncOutcome(result: .success, message: "ok", filesTotal: 10))
        #expect(await status(again)?.stuck == nil)
        #expect(!AlertMetrics.render(projects: await again.scheduler.projectStates(), site: nil).contains("stuck"))
        await again.shutdown()
    }

    @Test(
        "a streak: failures with one cause add up; another cause starts anew; a success ends it; a stopped run leaves it"
    )
    func streak() {
        func record(_ result: RunResult, _ reason: String? = nil, at seconds: Double) -> RunRecord {
            var run = RunRecord(
                id: 1, project: "a", trigger: .schedule, state: .finished,
                queuedAt: Date(timeIntervalSince1970: seconds))
            run.result = result
            run.reason = reason
            run.endedAt = Date(timeIntervalSince1970: seconds)
            return run
        }
        // Newest first, as the store lists them.
        let runs = [
            record(.failed, "no-space", at: 5), record(.cancelled, at: 4), record(.failed, "no-space", at: 3),
            record(.failed, "no-space", at: 2), record(.failed, "timeout", at: 1), record(.success, at: 0),
        ]
        #expect(
            FailureStreak.of(runs) == FailureStreak(cause: "no-space", runs: 3, since: Date(timeIntervalSince1970: 2)))
        #expect(FailureStreak.of(runs)?.isStuck == true)
        #expect(
            FailureStreak.of(Array(runs.dropFirst(3)))
                == FailureStreak(cause: "no-space", runs: 1, since: Date(timeIntervalSince1970: 2)))
        #expect(FailureStreak.of([record(.success, at: 9)] + runs) == nil)
    }
}
