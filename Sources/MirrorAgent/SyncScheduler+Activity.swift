import Foundation
import MirrorCore

/// The runs as they go on: their logs, their progress and their readers. Kept in the scheduler's memory (a line of
/// rsync's output costs no write to the store); a run's `RunActivity` is made when it is queued and ended once its end
/// is recorded.
extension SyncScheduler {
    /// The activity of a run that is queued or running; nil for any other.
    public func activity(of run: Int64) -> RunActivity? { activities[run] }

    /// The run a project's log is read from when none is named: the one running, else the last that ended.
    public func latestRun(of project: String) throws(SchedulerError) -> Int64? {
        guard let entry = entries[project] else { throw .notFound(project) }
        return entry.running?.record.id ?? entry.lastRun?.id
    }

    /// Where a run's log is, if the agent keeps logs.
    public nonisolated func logPath(project: String, run: Int64) -> String? { logs?.path(project: project, run: run) }

    /// The run's end, recorded: its last line in the log, the log closed, its readers told, and the project's oldest
    /// logs beyond its `logRetention` deleted (off the actor: it reads a directory).
    func endActivity(of run: RunRecord) {
        guard let activity = activities.removeValue(forKey: run.id) else { return }
        activity.note("run \(run.id) \(run.result?.rawValue ?? "ended")" + (run.message.map { ": \($0)" } ?? ""))
        activity.end()
        guard let logs else { return }
        let keep = entries[run.project]?.spec.logRetention ?? TreeSpec.defaultLogRetention
        Task.detached { logs.prune(project: run.project, keep: keep) }
    }
}
