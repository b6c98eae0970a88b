import Foundation
import Logging
import MirrorCore

/// What the master keeps of its slaves, in the store the scheduler owns: when each last answered, each one's last
/// report on each project, and when the master made the revisions a slave is behind.
///
/// The scheduler hands it out (`SyncScheduler.slaves`). None of it reads or changes the scheduler's projects, queue or
/// runs, only the store's own tables of slaves and the runs the store has recorded; the store is a `Sendable` class
/// that serialises its writes (`AgentStore`). So the API, the triggers' courier and the site's status call it without
/// waiting for the scheduler's actor.
public struct SlaveRecords: Sendable {
    let store: AgentStore
    let clock: any AgentClock
    let logger: Logger

    /// Keeps a slave's report on a project (and marks the slave seen).
    public func put(_ report: SlaveReport) throws(SchedulerError) {
        do { try store.putReport(report, at: clock.now()) } catch { throw SchedulerError(error) }
    }

    /// Marks slaves as seen now: they answered the master.
    public func markSeen(_ slaves: [String]) {
        let now = clock.now()
        for slave in slaves {
            do { try store.markSeen(slave, at: now) } catch {
                logger.error(
                    "cannot record that a slave was seen", metadata: ["slave": "\(slave)", "error": "\(error)"])
            }
        }
    }

    /// What the master knows of its slaves: when each last answered, and each one's last report on each project.
    public func all() -> (seen: [String: Date], reports: [String: [String: (report: SlaveReport, at: Date)]]) {
        ((try? store.lastSeen()) ?? [:], (try? store.reports()) ?? [:])
    }

    /// For each project and revision, when the master made the first revision after it: how long a slave at that
    /// revision has been behind.
    public func firstRevisionTimes(after wanted: [String: Set<Int>]) -> [String: [Int: Date]] {
        guard !wanted.isEmpty else { return [:] }
        return (try? store.firstRevisionTimes(after: wanted)) ?? [:]
    }
}
