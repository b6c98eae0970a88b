import Foundation
import GRDB
import MirrorCore

// On the master: the troubles it has told of, and its notifications' outbox. A change of the conditions and the
// messages it makes are one transaction, so that after a crash either both happened or neither: nothing is told twice,
// and nothing is lost.

extension AgentStore {
    /// One message waiting in the outbox, or a row of one.
    public struct OutboxRow: Sendable, Hashable {
        public var id: Int64
        public var target: String
        public var events: [NotifyEvent]
        public var attempts: Int
        public var nextAttemptAt: Date
    }

    /// The conditions told of and not yet ended, by key.
    public func notifyConditions() throws(StoreError) -> [String: NotifyCondition] {
        try read("read the notifications' conditions") { db in
            var out: [String: NotifyCondition] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, condition FROM notify_condition") {
                out[row["key"]] = try Self.decode(NotifyCondition.self, row["condition"])
            }
            return out
        }
    }

    /// Keeps `conditions` as the ones in force and queues `messages`, in one transaction.
    public func recordNotifications(
        conditions: [String: NotifyCondition], messages: [(target: String, events: [NotifyEvent])], at now: Date
    ) throws(StoreError) {
        try write("record notifications") { db in
            try db.execute(sql: "DELETE FROM notify_condition")
            for (key, condition) in conditions {
                try db.execute(
                    sql: "INSERT INTO notify_condition (key, condition) VALUES (?, ?)",
                    arguments: [key, try Self.json(condition)])
            }
            for message in messages {
                try db.execute(
                    sql: "INSERT INTO notify_outbox (target, events, createdAt, nextAttemptAt) VALUES (?, ?, ?, ?)",
                    arguments: [
                        message.target, try Self.json(message.events), now.timeIntervalSince1970,
                        now.timeIntervalSince1970,
                    ])
            }
            // What went out, or was given up on, a week ago is forgotten.
            try db.execute(
                sql: "DELETE FROM notify_outbox WHERE (sentAt IS NOT NULL OR gaveUp = 1) AND createdAt < ?",
                arguments: [now.timeIntervalSince1970 - 7 * 86_400])
        }
    }

    /// Every row not yet sent nor given up on, oldest first.
    public func pendingNotifications() throws(StoreError) -> [OutboxRow] {
        try read("read the notifications' outbox") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, target, events, attempts, nextAttemptAt FROM notify_outbox
                    WHERE sentAt IS NULL AND gaveUp = 0 ORDER BY id
                    """
            ).map { row in
                OutboxRow(
                    id: row["id"], target: row["target"], events: try Self.decode([NotifyEvent].self, row["events"]),
                    attempts: row["attempts"], nextAttemptAt: Self.date(row["nextAttemptAt"]) ?? .distantPast)
            }
        }
    }

    /// When each target's messages of the last hour went out, the oldest first: what its rate limit counts.
    public func sentNotifications(since: Date) throws(StoreError) -> [String: [Date]] {
        try read("read the notifications sent") { db in
            var out: [String: [Date]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT target, MIN(sentAt) AS at FROM notify_outbox WHERE sentAt >= ?
                    GROUP BY target, delivery ORDER BY at
                    """, arguments: [since.timeIntervalSince1970])
            {
                if let at = Self.date(row["at"]) { out[row["target"], default: []].append(at) }
            }
            return out
        }
    }

    /// The rows `ids` went out together, as the message of the first.
    public func markNotificationsSent(_ ids: [Int64], at now: Date) throws(StoreError) {
        guard let first = ids.min() else { return }
        try write("record a notification sent") { db in
            for id in ids {
                try db.execute(
                    sql: "UPDATE notify_outbox SET sentAt = ?, delivery = ?, attempts = attempts + 1 WHERE id = ?",
                    arguments: [now.timeIntervalSince1970, first, id])
            }
        }
    }

    /// The rows `ids` failed to go out: tried again at `retryAt`, or given up on (`retryAt` nil).
    public func markNotificationsFailed(_ ids: [Int64], error: String, retryAt: Date?) throws(StoreError) {
        try write("record a notification that failed") { db in
            for id in ids {
                try db.execute(
                    sql: """
                        UPDATE notify_outbox SET attempts = attempts + 1, lastError = ?, nextAttemptAt = ?, gaveUp = ?
                        WHERE id = ?
                        """,
                    arguments: [
                        error, (retryAt ?? .distantFuture).timeIntervalSince1970, retryAt == nil ? 1 : 0, id,
                    ])
            }
        }
    }
}
