import Foundation
import MirrorCore

/// On the master, what a probed project's probe said at its last full run (`AgentStore.probeMarks`).
public struct ProbeMark: Sendable, Hashable {
    /// The spec's generation then: a spec changed since makes the mark worth nothing.
    public var generation: String
    /// The probe file's digest then; nil after a full run that did not succeed, or whose probe failed.
    public var digest: String?
    /// When a full run of the project last succeeded.
    public var verifiedAt: Date?

    public init(generation: String, digest: String?, verifiedAt: Date?) {
        self.generation = generation
        self.digest = digest
        self.verifiedAt = verifiedAt
    }
}

/// What a run's probe is to do, as the scheduler decides it when the run starts.
struct ProbePlan: Sendable {
    /// The probe file, inside the project's tree on the upstream.
    var path: String
    /// The spec the run was started with.
    var generation: String
    /// The probe's digest at the last successful full run of this spec; nil: there is nothing to compare with.
    var last: String?
    /// Whether the run may end `unchanged`: a scheduled run (a push and a manual sync always walk), not one resumed
    /// after a stop, and the last full run succeeded within `verifyEvery`.
    var mayEnd: Bool
}

extension SyncScheduler {
    /// The probe a run of `entry` started now by `trigger` makes first; nil on a slave, and for a project without a
    /// probe.
    func probePlan(_ entry: Entry, trigger: RunTrigger, now: Date) -> ProbePlan? {
        guard role == .master, let path = entry.spec.effectiveProbe else { return nil }
        let mark = entry.probe.flatMap { $0.generation == entry.generation ? $0 : nil }
        let verifyBy = mark?.verifiedAt?.addingTimeInterval(TimeInterval(entry.spec.verifyInterval.seconds))
        return ProbePlan(
            path: path, generation: entry.generation, last: mark?.digest,
            mayEnd: trigger == .schedule && !entry.resume && mark?.digest != nil && verifyBy.map { now < $0 } == true)
    }

    /// After a full run of a probed project: its probe's digest is kept when the run succeeded, and forgotten when it
    /// did not, so that the next scheduled run walks the tree.
    func recordProbe(after run: RunRecord, probed: (plan: ProbePlan, digest: String?)?) {
        guard let (plan, digest) = probed, run.result != .unchanged, var entry = entries[run.project] else { return }
        let success = run.result?.isSuccess == true
        let previous = entry.probe.flatMap { $0.generation == plan.generation ? $0.verifiedAt : nil }
        let mark = ProbeMark(
            generation: plan.generation, digest: success ? digest : nil,
            verifiedAt: success ? run.endedAt : previous)
        do { try store.recordProbe(mark, project: run.project) } catch {
            logger.error("cannot record a probe", metadata: ["project": "\(run.project)", "error": "\(error)"])
        }
        entry.probe = mark
        entries[run.project] = entry
    }
}
