import Foundation

/// When a project is stale, on the status page and in `mirrorsync status`.
public enum Staleness {
    /// When a project that last succeeded at `since` becomes stale: two of its intervals later; for a cron schedule,
    /// at its second firing after `since` (two runs due since then, and neither succeeded).
    public static func staleAt(_ interval: IntervalSpec, since: Date) -> Date? {
        if let every = interval.every { return since.addingTimeInterval(2 * Double(every.seconds)) }
        guard let first = interval.nextRun(after: since, seed: "") else { return nil }
        return interval.nextRun(after: first, seed: "")
    }

    /// No success for twice the project's interval. A project that never succeeded counts from when the agent was
    /// given it (or, from agents that do not say, is stale once it has run); a suspended project is never stale.
    public static func isStale(_ spec: AgentProjectSpec, _ status: ProjectStatus, now: Date) -> Bool {
        guard !spec.suspended else { return false }
        guard let since = status.lastSuccessAt ?? status.addedAt else { return status.lastRun != nil }
        // A cron schedule's firings cost calendar work: the second is sought only once the first has passed, which
        // for a healthy project it has not.
        if spec.interval.every == nil, let first = spec.interval.nextRun(after: since, seed: ""), first >= now {
            return false
        }
        return staleAt(spec.interval, since: since).map { now > $0 } ?? false
    }
}
