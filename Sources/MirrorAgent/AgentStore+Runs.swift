import Foundation
import GRDB
import MirrorCore

// Runs: queued, started, finished, their hooks; the newest kept per project; open ones closed at start-up.

extension AgentStore {
    static let runColumns = """
        id, project, trigger, state, result, queuedAt, startedAt, endedAt, attempts, exitCode, reason, message,
        filesTransferred, bytesTransferred, filesDeleted, filesTotal, bytesTotal, stderrTail, revision, hook
        """

    static func run(_ row: Row) throws -> RunRecord {
        RunRecord(
            id: row["id"], project: row["project"], trigger: RunTrigger(rawValue: row["trigger"]) ?? .schedule,
            state: RunState(rawValue: row["state"]) ?? .finished,
            result: (row["result"] as String?).flatMap(RunResult.init(rawValue:)),
            queuedAt: date(row["queuedAt"]) ?? Date(timeIntervalSince1970: 0), startedAt: date(row["startedAt"]),
            endedAt: date(row["endedAt"]), attempts: row["attempts"], exitCode: row["exitCode"], reason: row["reason"],
            message: row["message"], filesTransferred: row["filesTransferred"],
            bytesTransferred: row["bytesTransferred"],
            filesDeleted: row["filesDeleted"], filesTotal: row["filesTotal"], bytesTotal: row["bytesTotal"],
            stderrTail: (try? decode([String].self, row["stderrTail"])) ?? [], revision: row["revision"],
            hook: (row["hook"] as String?).flatMap { try? decode(HookOutcome.self, $0) })
    }

    /// Records a run as queued and gives it its id.
    public func queueRun(project: String, trigger: RunTrigger, at now: Date) throws(StoreError) -> RunRecord {
        try write("queue a run of '\(project)'") { db in
            try db.execute(
                sql: "INSERT INTO run (project, trigger, state, queuedAt) VALUES (?, ?, ?, ?)",
                arguments: [project, trigger.rawValue, RunState.queued.rawValue, now.timeIntervalSince1970])
            return RunRecord(id: db.lastInsertedRowID, project: project, trigger: trigger, queuedAt: now)
        }
    }

    /// Marks a run as started, and its project as last started now, in one transaction.
    public func startRun(_ id: Int64, project: String, at now: Date) throws(StoreError) {
        try write("start run \(id)") { db in
            try db.execute(
                sql: "UPDATE run SET state = ?, startedAt = ? WHERE id = ?",
                arguments: [RunState.running.rawValue, now.timeIntervalSince1970, id])
            try db.execute(
                sql: "UPDATE project SET lastStartAt = ? WHERE name = ?",
                arguments: [now.timeIntervalSince1970, project])
        }
    }

    /// Records how a run ended; a success bumps the project's revision (the master), or sets it to the revision
    /// pulled (`pulled`, a slave), in the same transaction, unless `advances` is false (a slave's first stage, which
    /// leaves the tree at the revision before). Returns the record as stored, with the new revision.
    public func finishRun(_ run: RunRecord, pulled: Int? = nil, advances: Bool = true) throws(StoreError) -> RunRecord {
        try write("finish run \(run.id)") { db in
            var run = run
            run.state = .finished
            if run.result?.isSuccess == true, advances, let end = run.endedAt {
                try db.execute(
                    sql: """
                        UPDATE project SET revision = COALESCE(?, revision + 1), lastSuccessAt = ?, syncedFiles = COALESCE(?, syncedFiles),
                            syncedBytes = COALESCE(?, syncedBytes), lastEndAt = ?
                        WHERE name = ?
                        """,
                    arguments: [
                        pulled, end.timeIntervalSince1970, run.filesTotal, run.bytesTotal, end.timeIntervalSince1970,
                        run.project,
                    ])
                run.revision = try Int.fetchOne(
                    db, sql: "SELECT revision FROM project WHERE name = ?", arguments: [run.project])
            } else if run.result == .unchanged, let end = run.endedAt {
                // The upstream is as it was: the tree is current as of now, at the revision it had.
                try db.execute(
                    sql: "UPDATE project SET lastSuccessAt = ?, lastEndAt = ? WHERE name = ?",
                    arguments: [end.timeIntervalSince1970, end.timeIntervalSince1970, run.project])
            } else if run.result == .failed, let end = run.endedAt {
                try db.execute(
                    sql: "UPDATE project SET lastEndAt = ? WHERE name = ?",
                    arguments: [end.timeIntervalSince1970, run.project])
            }
            try db.execute(
                sql: """
                    UPDATE run SET state = ?, result = ?, startedAt = ?, endedAt = ?, attempts = ?, exitCode = ?, reason = ?, message = ?,
                        filesTransferred = ?, bytesTransferred = ?, filesDeleted = ?, filesTotal = ?, bytesTotal = ?, stderrTail = ?, revision = ?
                    WHERE id = ?
                    """,
                arguments: [
                    run.state.rawValue, run.result?.rawValue, run.startedAt?.timeIntervalSince1970,
                    run.endedAt?.timeIntervalSince1970,
                    run.attempts, run.exitCode, run.reason, run.message, run.filesTransferred, run.bytesTransferred,
                    run.filesDeleted, run.filesTotal, run.bytesTotal, try Self.json(run.stderrTail), run.revision,
                    run.id,
                ])
            // Keep the newest runs of the project; the ones still queued or running are never pruned.
            try db.execute(
                sql: """
                    DELETE FROM run WHERE project = ? AND state = 'finished' AND id NOT IN
                        (SELECT id FROM run WHERE project = ? ORDER BY id DESC LIMIT ?)
                    """, arguments: [run.project, run.project, runRetention])
            return run
        }
    }

    /// Records how the hook after a run ended.
    public func recordHook(_ outcome: HookOutcome, run id: Int64) throws(StoreError) {
        try write("record the hook of run \(id)") { db in
            try db.execute(sql: "UPDATE run SET hook = ? WHERE id = ?", arguments: [try Self.json(outcome), id])
        }
    }

    public func run(_ id: Int64) throws(StoreError) -> RunRecord? {
        try read("read run \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.runColumns) FROM run WHERE id = ?", arguments: [id]).map(Self.run)
        }
    }

    /// The newest runs of a project, newest first.
    public func runs(project: String, limit: Int = 20) throws(StoreError) -> [RunRecord] {
        try read("read the runs of '\(project)'") { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.runColumns) FROM run WHERE project = ? ORDER BY id DESC LIMIT ?",
                arguments: [project, limit]
            ).map(Self.run)
        }
    }

    /// The newest finished run of every project.
    public func lastFinishedRuns() throws(StoreError) -> [String: RunRecord] {
        try read("read the last runs") { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.runColumns) FROM run WHERE id IN (SELECT MAX(id) FROM run WHERE state = 'finished' GROUP BY project)
                    """)
            return Dictionary(
                try rows.map {
                    let r = try Self.run($0)
                    return (r.project, r)
                }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// When the master made the first revision of `project` after `revision`: how long a slave at `revision` has
    /// been behind. Nil when no run kept in the store made one.
    public func firstRevisionTime(_ project: String, after revision: Int) throws(StoreError) -> Date? {
        try firstRevisionTimes(after: [project: [revision]])[project]?[revision]
    }

    /// `firstRevisionTime` for every project and revision in `wanted`, in one read and a statement per 500 of them: a
    /// site with a thousand projects behind asks once, not a thousand times.
    ///
    /// A project's revisions grow with its runs' ids (each success makes the next; a project's runs go when it does),
    /// so the first revision after R is made by the first run, after the last one at R or before, that made one. Each
    /// is found from the newest run backwards, through the runs since R alone: a copy a few revisions behind costs a
    /// few rows, not the project's whole history (`MIN(endedAt) ... WHERE revision > R` read every run kept, 200 a
    /// project, for every copy behind).
    public func firstRevisionTimes(after wanted: [String: Set<Int>]) throws(StoreError) -> [String: [Int: Date]] {
        let pairs = wanted.flatMap { project, revisions in revisions.map { (project, $0) } }
        return try read("read the revisions of \(wanted.count) projects") { db in
            var out: [String: [Int: Date]] = [:]
            var start = 0
            while start < pairs.count {
                let chunk = pairs[start..<min(pairs.count, start + 500)]
                start = chunk.endIndex
                let values = Array(repeating: "(?, ?)", count: chunk.count).joined(separator: ", ")
                let sql = """
                    WITH wanted(project, revision) AS (VALUES \(values))
                    SELECT wanted.project, wanted.revision, (
                        SELECT endedAt FROM run
                        WHERE run.project = wanted.project AND run.revision > wanted.revision AND run.id > COALESCE((
                            SELECT id FROM run AS before
                            WHERE before.project = wanted.project AND before.revision <= wanted.revision
                            ORDER BY before.id DESC LIMIT 1), 0)
                        ORDER BY run.id LIMIT 1)
                    FROM wanted
                    """
                var arguments = StatementArguments()
                for (project, revision) in chunk { arguments += [project, revision] }
                for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                    if let since = Self.date(row[2]) { out[row[0], default: [:]][row[1]] = since }
                }
            }
            return out
        }
    }

    /// At start-up: every run that was queued or running when the agent stopped is recorded as interrupted.
    public func interruptOpenRuns(at now: Date) throws(StoreError) -> [RunRecord] {
        try write("close interrupted runs") { db in
            let open = try Row.fetchAll(db, sql: "SELECT \(Self.runColumns) FROM run WHERE state != 'finished'").map(
                Self.run)
            try db.execute(
                sql: """
                    UPDATE run SET state = 'finished', result = 'interrupted', endedAt = ?,
                        message = COALESCE(message, 'the agent stopped before the run ended') WHERE state != 'finished'
                    """, arguments: [now.timeIntervalSince1970])
            return open
        }
    }
}
