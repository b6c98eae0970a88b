import Foundation
import MirrorCore

// `mirrorsync cancel`: an operator stops a project's sync. Kept apart from the scheduler's loop: it only ends what the
// loop started, the way removing a project does, and records why.

extension SyncScheduler {
    /// The reason a run cancelled by request carries; a run stopped because its project was removed says `cancelled`.
    static let cancelRequestedReason = "cancel-requested"

    /// Stops a project's run: the one in progress (its task cancelled, so rsync's whole process group is ended,
    /// SIGTERM then SIGKILL, or its wait before a retry is cut short) and the one queued behind it, and returns them as
    /// recorded, once they have ended. A cancelled run is not a failure: it leaves the project's last success and last
    /// end as they were, sends no trigger, report or hook, and the project runs again at its next interval, counted
    /// from the start of the cancelled run as after any run (no retry, no backoff).
    ///
    /// Throws `notFound` for a project the agent does not hold, `conflict` when nothing runs or waits to.
    public func cancel(_ name: String) async throws(SchedulerError) -> [RunRecord] {
        guard let entry = entries[name] else { throw .notFound(name) }
        var ended: [RunRecord] = []
        // The queued run first: it would start as soon as the running one ends.
        if let queued = entry.queued { ended.append(dropQueued(name, queued, because: Self.cancelledByRequest)) }
        if let running = entry.running {
            cancelRequests.insert(running.record.id)
            logger.notice(
                "cancelling a run by request", metadata: ["project": "\(name)", "run": "\(running.record.id)"])
            running.task.cancel()
            await running.task.value
            // Already recorded as it ended, if the request came too late to stop it.
            cancelRequests.remove(running.record.id)
            if let run = try self.run(running.record.id) { ended.insert(run, at: 0) }
        }
        guard !ended.isEmpty else {
            throw SchedulerError(
                kind: .conflict, message: "project '\(name)' has no run in progress or queued; nothing was cancelled")
        }
        return ended
    }

    static let cancelledByRequest = "cancelled by request; the project runs again at its next interval"

    /// What a run stopped by request says of itself.
    static func markCancelledByRequest(_ run: inout RunRecord) {
        run.result = .cancelled
        run.reason = cancelRequestedReason
        run.message = cancelledByRequest
    }
}
