import Foundation
import MirrorCore

/// A slave's `stage: site` pull of one of the master's revisions, from its first stage's trigger to its second stage.
struct StagedPull: Sendable, Hashable {
    /// The master's revision being pulled in two stages.
    var revision: Int
    /// How long the slave waits for the second stage after finishing the first.
    var timeout: TimeInterval
    /// Set once the first stage has succeeded.
    var held: Held?

    struct Held: Sendable, Hashable {
        /// Until when the slave waits for the second stage; then it pulls the whole revision on its own.
        var until: Date
        /// The most files the second stage may delete, as the first stage counted them and the cap allowed.
        var deletionLimit: Int
    }
}

extension SyncScheduler {
    /// The master's trigger of one stage of a `stage: site` project (on a slave). Stage 1 pulls everything but the
    /// index files and then holds the revision back for up to `timeout` seconds; stage 2 brings the index files and
    /// deletes. A stage 2 without a first stage held for that revision pulls the whole revision.
    public func requestStage(_ name: String, revision: Int, stage: Int, timeout: TimeInterval) throws(SchedulerError)
        -> RunRecord
    {
        // Queued, not started: the run starts from the loop, after the staged pull below is set.
        let run = try requestRun(name, trigger: stage == 1 ? .firstStage : .secondStage, revision: revision)
        if stage == 1, entries[name]?.staged?.revision != revision {
            entries[name]?.staged = StagedPull(revision: revision, timeout: timeout)
        }
        return run
    }

    /// Which passes a run makes, from what asked for it and the stage the slave holds.
    func stage(of record: RunRecord, _ entry: Entry) -> SyncStage {
        switch record.trigger {
        case .firstStage:
            return .first
        case .secondStage:
            guard let staged = entry.staged, let held = staged.held, staged.revision == entry.wantedRevision else {
                return .whole
            }
            return .second(deletionLimit: held.deletionLimit)
        default:
            return .whole
        }
    }

    /// The staged pull after a run: a first stage that succeeded holds its revision for the second; a run that pulled
    /// the whole revision, or the second stage, ends it; a failed first stage leaves the revision to the slave's
    /// own catch-up.
    func staged(after run: RunRecord, pulled: Int?, outcome: SyncOutcome, entry: Entry) -> StagedPull? {
        guard var staged = entry.staged else { return nil }
        // A trigger for a newer revision came while this run ran: its own run follows.
        if let pulled, staged.revision > pulled { return staged }
        guard run.trigger == .firstStage, run.result?.isSuccess == true, let end = run.endedAt else { return nil }
        staged.held = StagedPull.Held(
            until: end.addingTimeInterval(staged.timeout), deletionLimit: outcome.deletionLimit ?? 0)
        return staged
    }

    /// Whether a slave holds the first stage of `revision` and still waits for the master's second stage.
    func isWaitingForSecondStage(_ entry: Entry, of revision: Int) -> Bool {
        guard let staged = entry.staged, staged.revision == revision, let held = staged.held else { return false }
        return held.until > clock.now()
    }

    /// `scheduled`, held back while the project's stages are under way: on the master, until its slaves are done;
    /// on a slave, until the second stage comes or the first stage's wait is over.
    func held(_ scheduled: Date?, _ entry: Entry) -> Date? {
        var until = entry.heldUntil
        if let staged = entry.staged, let held = staged.held, staged.revision == entry.wantedRevision {
            until = max(until ?? held.until, held.until)
        }
        guard let until, let scheduled else { return scheduled }
        return max(scheduled, until)
    }

    /// On the master: holds the project's next upstream sync until `until` (nil: no longer).
    public func holdRuns(of name: String, until: Date?) {
        guard entries[name] != nil, entries[name]?.heldUntil != until else { return }
        entries[name]?.heldUntil = until
        wake.signal()
    }
}
