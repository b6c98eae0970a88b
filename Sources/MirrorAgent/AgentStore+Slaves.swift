import Foundation
import GRDB
import MirrorCore

// On the master: each slave's last report on each project, and when each slave last answered.

extension AgentStore {
    /// Keeps a slave's report on a project, replacing the one before, and marks the slave as seen.
    public func putReport(_ report: SlaveReport, at now: Date) throws(StoreError) {
        try write("store the report of slave '\(report.slave)' on '\(report.project)'") { db in
            try db.execute(
                sql: """
                    INSERT INTO slave_report (slave, project, report, reportedAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT(slave, project) DO UPDATE SET report = excluded.report, reportedAt = excluded.reportedAt
                    """, arguments: [report.slave, report.project, try Self.json(report), now.timeIntervalSince1970])
            try Self.markSeen(db, report.slave, at: now)
        }
    }

    /// Every slave's last report on every project, with when it came: `[slave: [project: report]]`.
    public func reports() throws(StoreError) -> [String: [String: (report: SlaveReport, at: Date)]] {
        try read("read the slaves' reports") { db in
            var out: [String: [String: (report: SlaveReport, at: Date)]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT report, reportedAt FROM slave_report") {
                let report = try Self.decode(SlaveReport.self, row["report"])
                out[report.slave, default: [:]][report.project] = (
                    report, Self.date(row["reportedAt"]) ?? Date(timeIntervalSince1970: 0)
                )
            }
            return out
        }
    }

    /// Marks `slaves` seen at `now`, in one transaction.
    public func markSeen(_ slaves: [String], at now: Date) throws(StoreError) {
        try write("mark slaves \(slaves.joined(separator: ", ")) seen") { db in
            for slave in slaves { try Self.markSeen(db, slave, at: now) }
        }
    }

    static func markSeen(_ db: Database, _ slave: String, at now: Date) throws {
        try db.execute(
            sql: """
                INSERT INTO slave_seen (slave, lastSeenAt) VALUES (?, ?)
                ON CONFLICT(slave) DO UPDATE SET lastSeenAt = MAX(lastSeenAt, excluded.lastSeenAt)
                """, arguments: [slave, now.timeIntervalSince1970])
    }

    /// When each slave last answered the master or reported to it.
    public func lastSeen() throws(StoreError) -> [String: Date] {
        try read("read when the slaves were seen") { db in
            var out: [String: Date] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT slave, lastSeenAt FROM slave_seen") {
                out[row["slave"]] = Self.date(row["lastSeenAt"])
            }
            return out
        }
    }
}
