import Foundation
import MirrorCore

/// Why a project's row is red.
struct ProjectMark {
    /// Its last run failed.
    var failed: Bool
    /// No success for twice its interval (`Staleness`).
    var stale: Bool
    var suspended: Bool
    var activity: ProjectStatus.Activity
    /// Its runs keep failing with one cause.
    var stuck: FailureStreak?
    /// Its run waits to retry after a failed attempt.
    var retry: RetryWait?
    var bad: Bool { failed || stale }

    init(_ project: SiteProject?, state: ProjectState?, now: Date) {
        let status = state?.status
        failed = (project?.lastRun ?? status?.lastRun)?.result == .failed
        stale = state.map { Staleness.isStale($0.spec, $0.status, now: now) } ?? false
        suspended = state?.spec.suspended ?? false
        activity = project?.activity ?? status?.activity ?? .idle
        stuck = project?.stuck ?? status?.stuck
        retry = activity == .retrying ? project?.retry ?? status?.retry : nil
    }
}

/// How a slave's copy is shown: red when its last pull failed or it is behind and out of reach, amber when behind.
struct CopyMark {
    var bad: Bool
    var behind: Bool

    init(_ copy: SlaveCopy) {
        bad = copy.result == .failed || (copy.behind > 0 && !copy.reachable)
        behind = copy.behind > 0
    }

    var cellClass: String { bad ? "bad" : behind ? "warn" : "ok" }
    var rowClass: String { bad ? " class=\"bad\"" : behind ? " class=\"warn\"" : "" }
}
