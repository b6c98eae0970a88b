import Foundation
import Logging
import MirrorCore
import Synchronization

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
    /// When each slave was last seen, and when that was last written to the store.
    let sightings = Sightings()
    /// Every slave's last report on every project, as the store holds them: read from it once, then kept in step by
    /// `put`, the only writer of reports.
    let reports = Reports()

    /// A slave's sighting is written to the store at most this often; `all()` reads the newer one from memory.
    static let writeEvery: TimeInterval = 10

    final class Sightings: Sendable {
        let times = Mutex<[String: (seen: Date, written: Date)]>([:])
    }

    /// The reports by slave and project; nil until first read.
    final class Reports: Sendable {
        let table = Mutex<[String: [String: (report: SlaveReport, at: Date)]]?>(nil)
    }

    init(store: AgentStore, clock: any AgentClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// Keeps a slave's report on a project (and marks the slave seen).
    public func put(_ report: SlaveReport) throws(SchedulerError) {
        let now = clock.now()
        do { try store.putReport(report, at: now) } catch { throw SchedulerError(error) }
        sightings.times.withLock { $0[report.slave] = (now, now) }
        // After the store: a first read that comes between the two finds the report there, and this sets it again.
        reports.table.withLock { $0?[report.slave, default: [:]][report.project] = (report, now) }
    }

    /// Marks slaves as seen now: they answered the master. Each answer was a store transaction of its own, with its
    /// fsync, on whichever thread took it: a fan-out to 100 slaves made 100 of them as the triggers were answered, and
    /// every `GET /v1/status` another 100, holding the process's few threads while the triggers still went out. Now a
    /// slave's sighting is kept in memory and written, with the others due, in one transaction at most every
    /// `writeEvery` seconds: after a restart a slave's `lastSeenAt` may be that much older than its last answer.
    public func markSeen(_ slaves: [String]) {
        let now = clock.now()
        let due = sightings.times.withLock { times -> [String] in
            var due: [String] = []
            for slave in slaves {
                let written = times[slave]?.written
                if let written, now.timeIntervalSince(written) < Self.writeEvery {
                    let before = times[slave]?.seen ?? now
                    times[slave]?.seen = max(before, now)
                } else {
                    times[slave] = (now, now)
                    due.append(slave)
                }
            }
            return due
        }
        guard !due.isEmpty else { return }
        do { try store.markSeen(due, at: now) } catch {
            logger.error(
                "cannot record that slaves were seen", metadata: ["slaves": "\(due)", "error": "\(error)"])
        }
    }

    /// What the master knows of its slaves: when each last answered, and each one's last report on each project.
    ///
    /// The reports come from memory: each status read (every `GET /metrics`, `/v1/status` and page) decoded every
    /// report's JSON from the store, 2,000 of them for a thousand projects on two slaves.
    public func all() -> (seen: [String: Date], reports: [String: [String: (report: SlaveReport, at: Date)]]) {
        var seen = (try? store.lastSeen()) ?? [:]
        for (slave, times) in sightings.times.withLock({ $0 }) where seen[slave].map({ $0 < times.seen }) ?? true {
            seen[slave] = times.seen
        }
        // Read under the lock, once: a report put meanwhile waits, and lands in what was read.
        let kept = reports.table.withLock { table in
            if table == nil, let read = try? store.reports() { table = read }
            return table ?? [:]
        }
        return (seen, kept)
    }

    /// For each project and revision, when the master made the first revision after it: how long a slave at that
    /// revision has been behind.
    public func firstRevisionTimes(after wanted: [String: Set<Int>]) -> [String: [Int: Date]] {
        guard !wanted.isEmpty else { return [:] }
        return (try? store.firstRevisionTimes(after: wanted)) ?? [:]
    }
}
