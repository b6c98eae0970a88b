import Foundation

/// Failed runs in a row with one cause. Retrying mends a dropped connection, not a cause that holds run after run (a
/// deletion cap, a refused credential, a tree rsync cannot write): once a streak reaches `stuckAfter` runs the project
/// is shown as stuck, with its cause, in the status, on the page, in the metrics and by the alert rule.
public struct FailureStreak: Codable, Sendable, Hashable {
    /// How many failed runs in a row with one cause make a project stuck.
    public static let stuckAfter = 3

    /// The runs' `reason`, the class of their failure (`deletion-cap`, `rsync-exit-23`, `credential-refused`).
    public var cause: String
    /// How many runs in a row failed with it.
    public var runs: Int
    /// When the first of them ended.
    public var since: Date?

    public init(cause: String, runs: Int, since: Date?) {
        self.cause = cause
        self.runs = runs
        self.since = since
    }

    public var isStuck: Bool { runs >= Self.stuckAfter }

    /// The streak once `run` has ended: a failure with the streak's cause extends it, one with another cause starts a new
    /// one, a success ends it; a run stopped or interrupted leaves it as it was, since it says nothing of the cause.
    public static func after(_ run: RunRecord, previous: FailureStreak?) -> FailureStreak? {
        switch run.result {
        case .success?, .warning?: return nil
        case .failed?:
            let cause = run.reason ?? "failed"
            if var streak = previous, streak.cause == cause {
                streak.runs += 1
                return streak
            }
            return FailureStreak(cause: cause, runs: 1, since: run.endedAt)
        case .cancelled?, .interrupted?, .unchanged?, nil: return previous
        }
    }

    /// The streak that `runs` (the newest first) end with.
    public static func of(_ runs: [RunRecord]) -> FailureStreak? {
        runs.reversed().reduce(nil) { streak, run in after(run, previous: streak) }
    }
}
