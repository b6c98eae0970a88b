import Foundation
import Logging
import MirrorCore

// What a run's execution (`RunExecution`) tells the scheduler as it goes: an attempt that failed and is tried again,
// the run's end, and the hook after it. Each is a change of the scheduler's state, so each is made on its actor.

extension SyncScheduler {
    /// Keeps a hook's task so that a stop of the agent stops it.
    func startHook(_ task: Task<HookOutcome?, Never>, run: Int64) {
        if stopping { task.cancel() }
        hookTasks[run] = task
    }

    func endHook(_ outcome: HookOutcome?, run: RunRecord) {
        hookTasks[run.id] = nil
        guard let outcome else { return }
        do { try store.recordHook(outcome, run: run.id) } catch {
            logger.error(
                "cannot record the hook of a run",
                metadata: ["project": "\(run.project)", "run": "\(run.id)", "error": "\(error)"])
        }
        if entries[run.project]?.lastRun?.id == run.id { entries[run.project]?.lastRun?.hook = outcome }
    }

    /// A failed attempt that will be retried: while the run waits, its record (`GET .../runs/{id}`) shows the attempts so
    /// far and the last one's exit code, reason, message and rsync's last lines, so that it says why it is not done yet.
    /// Until the next attempt starts (`retryIn` seconds from now) the project's activity is `retrying`.
    func attemptFailed(_ record: RunRecord, outcome: SyncOutcome, attempts: Int, retryIn delay: TimeInterval) {
        guard var entry = entries[record.project], var running = entry.running, running.record.id == record.id else {
            return
        }
        let now = clock.now()
        running.record.attempts = attempts
        running.record.exitCode = outcome.exitCode
        running.record.reason = outcome.reason
        running.record.message = outcome.message
        running.record.stderrTail = outcome.stderrTail
        running.retry = RetryWait(
            at: now.addingTimeInterval(delay), failedAt: now, attempts: attempts, reason: outcome.reason,
            message: outcome.message)
        entry.running = running
        entries[record.project] = entry
        activities[record.id]?.note("attempt \(attempts) failed: \(outcome.message); it is tried again")
    }

    /// The wait is over: the next attempt starts, and the project is `running` again.
    func retryStarts(_ record: RunRecord) {
        guard entries[record.project]?.running?.record.id == record.id, entries[record.project]?.running?.retry != nil
        else { return }
        entries[record.project]?.running?.retry = nil
    }

    /// Records the end of a run; returns it as stored, with the project's spec and revision now, and the settings.
    func finished(
        _ record: RunRecord, outcome: SyncOutcome, attempts: Int, probed: (plan: ProbePlan, digest: String?)? = nil
    ) -> (
        RunRecord, (spec: AgentProjectSpec, revision: Int)?, AgentSettings?
    ) {
        var run = RunExecution.ended(record, outcome: outcome, attempts: attempts, at: clock.now())
        if outcome.result == .cancelled, cancelRequests.remove(run.id) != nil { Self.markCancelledByRequest(&run) }
        if outcome.result == .cancelled && stopping {
            run.result = .interrupted
            run.reason = "agent-stopped"
            run.message = "the agent stopped while the run was in progress"
        }
        let pulled = entries[run.project]?.running.flatMap { $0.record.id == run.id ? $0.pulling : nil }
        // A first stage leaves the tree at the revision before: the run is recorded, the project is not advanced.
        let firstStage = run.trigger == .firstStage
        do { run = try store.finishRun(run, pulled: pulled, advances: !firstStage) } catch {
            logger.error(
                "cannot record the end of a run",
                metadata: ["project": "\(run.project)", "run": "\(run.id)", "error": "\(error)"])
        }
        metrics.record(run)
        let level: Logger.Level = run.result?.isSuccess == true ? .info : (run.result == .failed ? .error : .notice)
        logger.log(
            level: level, "run finished",
            metadata: [
                "project": "\(run.project)", "run": "\(run.id)", "result": "\(run.result?.rawValue ?? "?")",
                "attempts": "\(attempts)", "message": "\(run.message ?? "")",
            ])
        if var entry = entries[run.project], entry.running?.record.id == run.id {
            entry.running = nil
            entry.lastRun = run
            entry.failures = FailureStreak.after(run, previous: entry.failures)
            entry.staged = staged(after: run, pulled: pulled, outcome: outcome, entry: entry)
            if run.result?.isSuccess == true, !firstStage {
                entry.revision = run.revision ?? pulled ?? entry.revision + 1
                entry.lastSuccessAt = run.endedAt
                entry.syncedFiles = run.filesTotal ?? entry.syncedFiles
                entry.syncedBytes = run.bytesTotal ?? entry.syncedBytes
            }
            if run.result == .unchanged { entry.lastSuccessAt = run.endedAt }
            if run.result?.isSuccess == true || run.result == .failed || run.result == .unchanged {
                entry.lastEndAt = run.endedAt
            }
            if run.result == .interrupted { entry.resume = true }
            entries[run.project] = entry
        }
        recordProbe(after: run, probed: probed)
        endActivity(of: run)
        wake.signal()
        // A first stage's report names the revision it pulled, which the slave does not serve yet.
        return (run, entries[run.project].map { ($0.spec, firstStage ? pulled ?? $0.revision : $0.revision) }, settings)
    }
}
