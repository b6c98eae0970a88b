import Foundation
import Logging
import MirrorCore

/// What an agent does when a run has ended and been recorded: the master triggers its slaves, a slave reports
/// to the master.
public protocol RunObserver: Sendable {
    /// `revision`: the project's revision after the run (the master's count, or the one a slave serves).
    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async
}

/// One run of a project, from its start to the end of its hook: the runner over every attempt the policy allows, with
/// the backoff between them; then the run's end recorded by the scheduler, the observer told (the master's triggers,
/// a slave's report), and the project's hook.
///
/// The scheduler owns one and starts `perform` in a task of its own as each run starts, off the scheduler's actor so
/// that runs proceed side by side. Everything here is immutable and `Sendable`; every change of state (the attempt,
/// the end, the hook's task and outcome) is made by a call back on the scheduler's actor (SyncScheduler+Runs.swift).
struct RunExecution: Sendable {
    let runner: any SyncRunner
    let observer: (any RunObserver)?
    /// Runs the projects' hooks after their runs; nil runs none.
    let hooks: HookRunner?
    /// Fetches a probed project's probe before its run; nil probes nothing.
    let prober: (any UpstreamProbing)?
    let clock: any AgentClock
    let policy: SyncScheduler.Policy
    let logger: Logger
    /// On the master: where each revision's change list is recorded, before the slaves are told of it.
    var changes: ChangeLog? = nil

    /// Runs `record` of `scheduler`, over every attempt it is allowed.
    func perform(
        _ record: RunRecord, job: SyncJob, probe: ProbePlan? = nil, activity: RunActivity?, for scheduler: SyncScheduler
    ) async {
        var runLogger = logger
        runLogger[metadataKey: "project"] = "\(record.project)"
        runLogger[metadataKey: "run"] = "\(record.id)"
        var probed: (plan: ProbePlan, digest: String?)?
        if let probe, let prober {
            let digest = await Self.probe(probe, job: job, with: prober, activity: activity, logger: runLogger)
            if probe.mayEnd, let digest, digest == probe.last {
                let outcome = SyncOutcome(
                    result: .unchanged,
                    message: "the probe \(probe.path) is as it was at the last successful run: nothing was walked")
                _ = await scheduler.finished(record, outcome: outcome, attempts: 1)
                return
            }
            probed = (probe, digest)
        }
        var attempts = 0
        var outcome: SyncOutcome
        var busy = BusyDaemon()
        while true {
            attempts += 1
            outcome = await runner.run(job, activity: activity, logger: runLogger)
            // A daemon at its max connections: the pull waits its turn, which is no failed attempt, up to a bound.
            if let delay = busy.refused(&outcome, at: clock.now(), policy: policy) {
                attempts -= 1
                runLogger.notice(
                    "the master's rsync daemon is at its max connections; the pull waits its turn",
                    metadata: ["retryIn": "\(String(format: "%.1f", delay))s"])
                activity?.note(
                    "the master's rsync daemon is at its max connections: trying again in \(String(format: "%.1f", delay)) s"
                )
                do { try await clock.sleep(for: delay) } catch {
                    outcome = SyncOutcome(
                        result: .cancelled, reason: "cancelled",
                        message: "stopped while waiting for the master's daemon")
                    break
                }
                continue
            }
            if outcome.result.isSuccess || outcome.result == .cancelled || !outcome.retryable
                || attempts >= policy.maxAttempts
            {
                break
            }
            let delay = policy.backoff(after: attempts)
            runLogger.warning(
                "attempt failed; retrying",
                metadata: [
                    "attempt": "\(attempts)", "retryIn": "\(Int(delay))s", "reason": "\(outcome.message)",
                ])
            await scheduler.attemptFailed(record, outcome: outcome, attempts: attempts, retryIn: delay)
            do {
                try await clock.sleep(for: delay)
                await scheduler.retryStarts(record)
            } catch {
                outcome = SyncOutcome(
                    result: .cancelled, reason: "cancelled",
                    message: "stopped while waiting to retry: \(outcome.message)")
                break
            }
        }
        // On the master, the revision's list is kept before the revision is counted: a slave that learns of it (its
        // trigger, its catch-up) finds the list there.
        if let changes, outcome.result.isSuccess, record.trigger != .firstStage,
            let target = await scheduler.listing(record.project)
        {
            await changes.record(
                project: record.project, revision: target.revision, tree: target.tree, twoStage: target.twoStage)
        }
        let (run, project, settings) = await scheduler.finished(
            record, outcome: outcome, attempts: attempts, probed: probed)
        if let observer, let project, let settings {
            await observer.runFinished(run, revision: project.revision, spec: project.spec, settings: settings)
        }
        // After the run is recorded and the observer told (the master's triggers are on their way): the next run of
        // the project may start while the hook runs, and the hook's outcome is added to the run's record.
        // A first stage is half a sync: the hooks run after the second.
        if let hooks, let project, let settings, let spec = project.spec.hooks, run.trigger != .firstStage {
            let directory = settings.root + "/" + project.spec.path
            let log = activity?.logPath.flatMap {
                activity?.logFailure == nil && FileManager.default.fileExists(atPath: $0) ? $0 : nil
            }
            let task = Task {
                await hooks.run(
                    spec, after: run, revision: project.revision, directory: directory, log: log,
                    upstream: project.spec.upstream.url.description, logger: runLogger)
            }
            await scheduler.startHook(task, run: run.id)
            await scheduler.endHook(await task.value, run: run)
        }
    }

    /// Fetches the probe and says in the run's log what it found and what the run does; the probe's digest, or nil
    /// when it could not be fetched (the run then walks the tree in full).
    static func probe(
        _ plan: ProbePlan, job: SyncJob, with prober: any UpstreamProbing, activity: RunActivity?, logger: Logger
    ) async -> String? {
        switch await prober.probe(job, path: plan.path, logger: logger) {
        case .fetched(let digest, let wire):
            let said =
                if plan.last == nil {
                    "fetched; nothing to compare it with, so the run walks the tree in full"
                } else if digest != plan.last {
                    "changed since the last successful run: the run walks the tree in full"
                } else if plan.mayEnd {
                    "unchanged since the last successful run"
                } else {
                    "unchanged, but the run walks the tree in full (a push, a manual sync, or verifyEvery has passed)"
                }
            activity?.note("probe \(plan.path): \(said)" + (wire.map { " (\($0) bytes received)" } ?? ""))
            return digest
        case .failed(let why):
            logger.warning(
                "the probe failed; the run walks the tree in full",
                metadata: ["probe": "\(plan.path)", "why": "\(why)"])
            activity?.note("probe \(plan.path) failed (\(why)): the run walks the tree in full")
            return nil
        }
    }

    /// `record` as `outcome` ended it, after `attempts` attempts, at `end`.
    static func ended(_ record: RunRecord, outcome: SyncOutcome, attempts: Int, at end: Date) -> RunRecord {
        var run = record
        run.result = outcome.result
        run.endedAt = end
        run.attempts = attempts
        run.exitCode = outcome.exitCode
        run.reason = outcome.reason
        run.message = outcome.message
        run.filesTransferred = outcome.filesTransferred
        run.bytesTransferred = outcome.bytesTransferred
        run.filesDeleted = outcome.filesDeleted
        run.filesTotal = outcome.filesTotal
        run.bytesTotal = outcome.bytesTotal
        run.stderrTail = outcome.stderrTail
        return run
    }
}
