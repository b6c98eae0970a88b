import Foundation
import Logging
import Synchronization
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// A runner that starts when the scheduler says and ends when the test says: the scheduler's rules are about
/// when runs happen, so its tests drive time and outcomes by hand (rsync itself is tested in RsyncRunnerTests).
final class ScriptedRunner: SyncRunner {
    struct Start: Sendable {
        var project: String
        var job: SyncJob
    }

    private struct State {
        var starts: [Start] = []
        var waiting: [String: CheckedContinuation<SyncOutcome, Never>] = [:]
    }

    private let state = Mutex(State())

    func run(_ job: SyncJob, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock {
                    $0.starts.append(Start(project: job.project, job: job))
                    $0.waiting[job.project] = continuation
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiting.removeValue(forKey: job.project) }
            waiter?.resume(returning: SyncOutcome(result: .cancelled, message: "cancelled"))
        }
    }

    var starts: [Start] { state.withLock { $0.starts } }
    var running: Set<String> { state.withLock { Set($0.waiting.keys) } }
    func startCount(_ project: String) -> Int { starts.filter { $0.project == project }.count }

    func finish(
        _ project: String, _ outcome: SyncOutcome = SyncOutcome(result: .success, message: "ok", filesTotal: 10)
    ) {
        let waiter = state.withLock { $0.waiting.removeValue(forKey: project) }
        waiter?.resume(returning: outcome)
    }
}

/// Waits (in real time, briefly) for concurrent work to reach a state; the schedule itself runs on the manual clock.
func eventually(_ what: String = "", _ condition: @Sendable () async throws -> Bool) async throws {
    for _ in 0..<500 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("never happened: \(what)")
}

/// A scheduler over a real store in a scratch directory, its loop running until the test ends.
final class SchedulerHarness: Sendable {
    let scratch = Scratch("scheduler")
    let clock: ManualClock
    let runner = ScriptedRunner()
    let scheduler: SyncScheduler
    let store: AgentStore
    let loop: Task<Void, Never>

    init(
        clock: ManualClock = ManualClock(), directory: String? = nil,
        policy: SyncScheduler.Policy = .init(retryBase: 30),
        role: AgentRole = .master, observer: (any RunObserver)? = nil
    ) throws {
        self.clock = clock
        store = try AgentStore(directory: directory ?? scratch.path)
        scheduler = try SyncScheduler(
            store: store, role: role, runner: runner, observer: observer, clock: clock, policy: policy,
            logger: testLogger)
        let scheduler = self.scheduler
        loop = Task { await scheduler.run() }
    }

    func shutdown() async {
        await scheduler.stop()
        await loop.value
    }

    static func spec(every seconds: Int = 3600, suspended: Bool = false, exclude: [String] = []) -> AgentProjectSpec {
        AgentProjectSpec(
            upstream: UpstreamSpec(url: .local(path: "/srv/upstream")), path: "p",
            interval: .every(TimeSpan(seconds: seconds)),
            exclude: exclude, suspended: suspended)
    }

    /// Waits until the loop sleeps with nothing left to start.
    func idle() async throws {
        try await eventually("the loop waits") { await self.scheduler.isIdle() }
    }
}

@Suite("Scheduler (manual clock)")
struct SyncSchedulerTests {
    @Test("a new project runs at once; the next run comes one interval after the last start, not before")
    func firstRunAndInterval() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        var spec = SchedulerHarness.spec(every: 3600)
        spec.path = "a"
        _ = try await h.scheduler.putProject("a", spec: spec)
        try await eventually("a starts") { h.runner.startCount("a") == 1 }
        h.clock.advance(by: 120)
        h.runner.finish("a")
        try await eventually("a recorded") { (try h.store.project("a"))?.revision == 1 }
        try await h.idle()
        h.clock.advance(by: 3600 - 121)
        try await h.idle()
        #expect(h.runner.startCount("a") == 1)
        h.clock.advance(by: 1)
        try await eventually("a runs again") { h.runner.startCount("a") == 2 }
        #expect(h.runner.starts.last?.job.destination == h.scratch.path + "/a/")
        await h.shutdown()
    }

    @Test("restarting the agent twice within a minute runs no project twice")
    func restartsRunNothingTwice() async throws {
        let scratch = Scratch("restart")
        let clock = ManualClock()
        let first = try SchedulerHarness(clock: clock, directory: scratch.path)
        _ = try await first.scheduler.putSettings(AgentSettings(root: scratch.path))
        _ = try await first.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { first.runner.startCount("a") == 1 }
        first.runner.finish("a")
        try await eventually { (try first.store.project("a"))?.revision == 1 }
        await first.shutdown()
        for _ in 0..<2 {
            clock.advance(by: 20)
            let again = try SchedulerHarness(clock: clock, directory: scratch.path)
            try await again.idle()
            #expect(again.runner.starts.isEmpty)
            await again.shutdown()
        }
    }

    @Test("at most maxConcurrentSyncs run at once; the rest wait their turn, first come first served")
    func concurrencyAndFairness() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path, maxConcurrentSyncs: 2))
        for name in ["a", "b", "c", "d"] { _ = try await h.scheduler.putProject(name, spec: SchedulerHarness.spec()) }
        try await eventually("two start") { h.runner.running.count == 2 }
        try await h.idle()
        #expect(h.runner.running == ["a", "b"])
        h.runner.finish("b")
        try await eventually("c starts") { h.runner.running == ["a", "c"] }
        h.runner.finish("a")
        try await eventually("d starts") { h.runner.running == ["c", "d"] }
        #expect(h.runner.starts.map(\.project) == ["a", "b", "c", "d"])
        await h.shutdown()
    }

    @Test("never two runs of one project at once: a request during a run queues exactly one more")
    func oneRunPerProject() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path, maxConcurrentSyncs: 4))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { h.runner.startCount("a") == 1 }
        let first = try await h.scheduler.requestRun("a")
        let second = try await h.scheduler.requestRun("a")
        #expect(first.id == second.id)
        try await h.idle()
        #expect(h.runner.startCount("a") == 1)
        h.runner.finish("a")
        try await eventually("the queued run starts") { h.runner.startCount("a") == 2 }
        #expect(try await h.scheduler.run(first.id)?.state == .running)
        await h.shutdown()
    }

    @Test("suspended projects never run, and a sync request for one is refused")
    func suspended() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("s", spec: SchedulerHarness.spec(suspended: true))
        try await h.idle()
        h.clock.advance(by: 86_400)
        try await h.idle()
        #expect(h.runner.starts.isEmpty)
        await #expect(throws: SchedulerError.self) { try await h.scheduler.requestRun("s") }
        await h.shutdown()
    }

    @Test("the states changed since a version, applied to the states of that version, give every state as built afresh")
    func changedSinceAddsUp() async throws {
        let h = try SchedulerHarness()
        var (version, held) = (UInt64(0), [String: ProjectState]())
        // After each step: what changed since the last look, applied, equals every state built now; and each step
        // that changes what a project shows names it.
        func follow(_ step: String, changes expected: Set<String>? = nil) async throws {
            // The loop done with what the step started, so that the two reads below see one state.
            try await h.idle()
            let (now, changed) = await h.scheduler.projectStates(changedSince: version)
            for (name, state) in changed { held[name] = state }
            #expect(held == (await h.scheduler.projectStates()), "after \(step)")
            if let expected {
                let shown = Set(changed.filter { name, state in state != nil || expected.contains(name) }.keys)
                #expect(expected.isSubset(of: shown), "after \(step): \(shown.sorted())")
            }
            #expect(now >= version, "after \(step)")
            version = now
        }
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        for name in ["a", "b", "c"] {
            var spec = SchedulerHarness.spec(every: 3600)
            spec.path = name
            _ = try await h.scheduler.putProject(name, spec: spec)
        }
        try await follow("three projects", changes: ["a", "b", "c"])
        try await eventually("a runs") { h.runner.startCount("a") == 1 }
        try await follow("a running")
        h.clock.advance(by: 60)
        h.runner.finish("a")
        try await eventually("a recorded") { (try h.store.project("a"))?.revision == 1 }
        try await follow("a done", changes: ["a"])
        var suspended = SchedulerHarness.spec(every: 3600, suspended: true)
        suspended.path = "b"
        _ = try await h.scheduler.putProject("b", spec: suspended)
        try await follow("b suspended", changes: ["b"])
        try await h.scheduler.removeProject("c", purge: false)
        try await follow("c removed", changes: ["c"])
        #expect(held["c"] == nil)
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path + "/elsewhere"))
        try await follow("new settings", changes: ["a", "b"])
        // Nothing changed: nothing sent, the version kept.
        let (again, none) = await h.scheduler.projectStates(changedSince: version)
        #expect(none.isEmpty && again == version)
        await h.shutdown()
    }

    @Test("a spec changed during a run applies to the next run; a project removed during a run has it stopped")
    func changeAndRemoveDuringRun() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec(exclude: ["old"]))
        try await eventually { h.runner.startCount("a") == 1 }
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec(exclude: ["new"]))
        #expect(h.runner.starts[0].job.exclude == ["old"])
        _ = try await h.scheduler.requestRun("a")
        h.runner.finish("a")
        try await eventually { h.runner.startCount("a") == 2 }
        #expect(h.runner.starts[1].job.exclude == ["new"])
        try await h.scheduler.removeProject("a", purge: false)
        #expect(h.runner.running.isEmpty)
        #expect(try h.store.project("a") == nil)
        await h.shutdown()
    }

    @Test("a failed attempt is retried after a growing backoff, and the run records every attempt")
    func retries() async throws {
        let h = try SchedulerHarness(policy: .init(maxAttempts: 3, retryBase: 30, retryMax: 600))
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        let refused = SyncOutcome(
            result: .failed, exitCode: 10, reason: "rsync-exit-10", message: "Connection refused", retryable: true)
        try await eventually { h.runner.startCount("a") == 1 }
        let start = h.clock.now()
        h.runner.finish("a", refused)
        try await eventually("waits to retry") {
            h.clock.nextDeadline.map { $0.timeIntervalSince(start) < 50 } ?? false
        }
        let firstWait = h.clock.nextDeadline!.timeIntervalSince(start)
        #expect(firstWait >= 15 && firstWait <= 45)
        // While it waits, the run says why: its attempts so far and the last one's reason.
        let id = try #require(try h.store.runs(project: "a").first?.id)
        let waiting = try #require(try await h.scheduler.run(id))
        #expect(waiting.state == .running && waiting.result == nil && waiting.attempts == 1, "\(waiting)")
        #expect(
            waiting.exitCode == 10 && waiting.reason == "rsync-exit-10" && waiting.message == "Connection refused",
            "\(waiting)")
        h.clock.advanceToNextDeadline()
        try await eventually { h.runner.startCount("a") == 2 }
        let secondStart = h.clock.now()
        h.runner.finish("a", refused)
        try await eventually("waits longer") {
            h.clock.nextDeadline.map { $0.timeIntervalSince(secondStart) < 100 } ?? false
        }
        #expect(h.clock.nextDeadline!.timeIntervalSince(secondStart) >= 30)
        h.clock.advanceToNextDeadline()
        try await eventually { h.runner.startCount("a") == 3 }
        h.runner.finish("a", refused)
        try await eventually { try h.store.runs(project: "a").first?.state == .finished }
        let run = try #require(try h.store.runs(project: "a").first)
        #expect(run.result == .failed && run.attempts == 3 && run.message == "Connection refused")
        // A failure that retrying cannot mend is recorded at once.
        _ = try await h.scheduler.requestRun("a")
        try await eventually { h.runner.startCount("a") == 4 }
        h.runner.finish("a", SyncOutcome(result: .failed, reason: "deletion-cap", message: "too many deletions"))
        try await eventually { try h.store.runs(project: "a").first?.reason == "deletion-cap" }
        #expect(try h.store.runs(project: "a").first?.attempts == 1)
        await h.shutdown()
    }

    @Test("a run cut short by a crash is recorded as interrupted at the next start, and runs again at once")
    func interruptedRunsResume() async throws {
        let scratch = Scratch("crash")
        let clock = ManualClock()
        do {
            let store = try AgentStore(directory: scratch.path)
            _ = try store.putSettings(AgentSettings(root: scratch.path), at: clock.now())
            _ = try store.putProject("a", spec: SchedulerHarness.spec(), at: clock.now())
            let run = try store.queueRun(project: "a", trigger: .schedule, at: clock.now())
            try store.startRun(run.id, project: "a", at: clock.now())
        }
        clock.advance(by: 30)
        let h = try SchedulerHarness(clock: clock, directory: scratch.path)
        try await eventually("a runs again") { h.runner.startCount("a") == 1 }
        let runs = try h.store.runs(project: "a")
        #expect(runs.contains { $0.result == .interrupted })
        await h.shutdown()
    }

    @Test("stopping the agent ends the runs in progress and records them as interrupted")
    func stopInterrupts() async throws {
        let h = try SchedulerHarness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path))
        _ = try await h.scheduler.putProject("a", spec: SchedulerHarness.spec())
        try await eventually { h.runner.startCount("a") == 1 }
        await h.shutdown()
        let run = try #require(try h.store.runs(project: "a").first)
        #expect(run.result == .interrupted && run.state == .finished)
    }
}
