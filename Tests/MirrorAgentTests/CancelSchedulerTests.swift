import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

@Suite("Cancelling a run (manual clock)")
struct CancelSchedulerTests {
    @Test(
        "a run waiting to retry is ended and recorded as cancelled by request, the run queued behind it dropped; nothing retries, nothing counts as failed, and the next run is an interval after the cancelled one's start"
    )
    func cancelWhileWaitingToRetry() async throws {
        let h = try SchedulerHarness(policy: .init(maxAttempts: 3, retryBase: 30, retryMax: 600))
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { h.runner.startCount("a") == 1 }
        let start = h.clock.now()
        h.runner.finish(
            "a",
            SyncOutcome(
                result: .failed, exitCode: 10, reason: "rsync-exit-10", message: "Connection refused", retryable: true))
        try await eventually("waits to retry") {
            h.clock.nextDeadline.map { $0.timeIntervalSince(start) < 50 } ?? false
        }
        let queued = try await h.scheduler.requestRun("a")

        let ended = try await h.scheduler.cancel("a")
        #expect(ended.map(\.result) == [.cancelled, .cancelled] && ended.allSatisfy { $0.state == .finished })
        #expect(
            ended[0].reason == "cancel-requested" && ended[0].attempts == 1
                && ended[0].message?.hasPrefix("cancelled by request") == true)
        #expect(ended[1].id == queued.id && ended[1].startedAt == nil)
        let status = try #require(await h.scheduler.projectStates()["a"]).status
        #expect(
            status.activity == .idle && status.lastRun?.id == ended[0].id && status.lastEndedAt == nil
                && status.lastSuccessAt == nil)
        #expect(status.nextRunAt == start.addingTimeInterval(3600))
        // No retry and no backoff: nothing runs until the interval is up.
        try await h.idle()
        h.clock.advance(by: 3599)
        try await h.idle()
        #expect(h.runner.startCount("a") == 1)
        h.clock.advance(by: 1)
        try await eventually("runs at its next interval") { h.runner.startCount("a") == 2 }
        let metrics = await h.scheduler.metrics.render()
        #expect(
            metrics.contains(#"mirrorsync_runs_total{project="a",result="cancelled"} 1"#)
                && !metrics.contains(#"result="failed""#), "\(metrics)")
        await h.shutdown()
    }

    @Test("nothing running or queued is a conflict that changes nothing; an unknown project is not found")
    func nothingToCancel() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { h.runner.startCount("a") == 1 }
        h.runner.finish("a")
        try await eventually { try h.store.runs(project: "a").first?.result == .success }
        await #expect { try await h.scheduler.cancel("a") } throws: { ($0 as? SchedulerError)?.kind == .conflict }
        await #expect { try await h.scheduler.cancel("b") } throws: { ($0 as? SchedulerError)?.kind == .notFound }
        #expect(try h.store.runs(project: "a").map(\.result) == [.success])
        await h.shutdown()
    }
}
