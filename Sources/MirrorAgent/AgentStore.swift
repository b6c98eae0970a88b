import Foundation
import GRDB
import MirrorCore

/// The store could not be opened or written; `message` says which file and why.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The disk under the store is full: nothing was written, and a later try may succeed once there is room.
    public var isFull: Bool
    public init(_ message: String, isFull: Bool = false) {
        self.message = message
        self.isFull = isFull
    }
    public var description: String { message }
}

/// A project as the store keeps it: its spec, and what the agent has done with it.
public struct StoredProject: Sendable, Hashable {
    public var name: String
    public var spec: AgentProjectSpec
    public var generation: String
    public var revision: Int
    public var lastSuccessAt: Date?
    /// When the last run started; the next scheduled run counts from here, so a restart runs nothing twice.
    public var lastStartAt: Date?
    /// Files in the tree after the last successful sync: what the deletion cap is a share of.
    public var syncedFiles: Int?
    /// Put there by the reconciler.
    public var managed: Bool
    /// The tree's size in bytes after the last successful sync.
    public var syncedBytes: Int64?
    /// When the last run that succeeded or failed ended.
    public var lastEndAt: Date?
    /// When the project was first stored.
    public var createdAt: Date?
}

/// What an agent was given and what it did, in SQLite (GRDB, WAL), so that a restart loses nothing.
///
/// Every write is one transaction with `synchronous = FULL`: once a request has been answered with a 2xx,
/// neither `kill -9` nor a power cut undoes it.
public final class AgentStore: Sendable {
    let pool: DatabasePool
    /// Runs kept per project; older ones are removed as new ones finish.
    public let runRetention: Int
    public let path: String

    public init(directory: String, runRetention: Int = 200) throws(StoreError) {
        path = directory + "/agent.sqlite"
        self.runRetention = runRetention
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw StoreError("cannot open the store \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE settings (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        spec TEXT NOT NULL,
                        generation TEXT NOT NULL,
                        updatedAt REAL NOT NULL
                    );
                    CREATE TABLE project (
                        name TEXT PRIMARY KEY,
                        spec TEXT NOT NULL,
                        generation TEXT NOT NULL,
                        revision INTEGER NOT NULL DEFAULT 0,
                        lastSuccessAt REAL,
                        lastStartAt REAL,
                        syncedFiles INTEGER,
                        createdAt REAL NOT NULL,
                        updatedAt REAL NOT NULL
                    );
                    CREATE TABLE run (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        project TEXT NOT NULL,
                        trigger TEXT NOT NULL,
                        state TEXT NOT NULL,
                        result TEXT,
                        queuedAt REAL NOT NULL,
                        startedAt REAL,
                        endedAt REAL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        exitCode INTEGER,
                        reason TEXT,
                        message TEXT,
                        filesTransferred INTEGER,
                        bytesTransferred INTEGER,
                        filesDeleted INTEGER,
                        filesTotal INTEGER,
                        stderrTail TEXT NOT NULL DEFAULT '[]',
                        revision INTEGER
                    );
                    CREATE INDEX run_by_project ON run(project, id);
                    """)
        }
        migrator.registerMigration("v2: managed projects") { db in
            // Whether the reconciler put the project there (as opposed to someone, by hand, through the API).
            try db.execute(sql: "ALTER TABLE project ADD COLUMN managed INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v3: slaves' reports") { db in
            // On the master: each slave's last word on each project, and when each slave last answered.
            try db.execute(
                sql: """
                    CREATE TABLE slave_report (
                        slave TEXT NOT NULL,
                        project TEXT NOT NULL,
                        report TEXT NOT NULL,
                        reportedAt REAL NOT NULL,
                        PRIMARY KEY (slave, project)
                    );
                    CREATE TABLE slave_seen (
                        slave TEXT PRIMARY KEY,
                        lastSeenAt REAL NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v4: sizes and ends") { db in
            // The tree's size in bytes (rsync's "Total file size") of each run and of each project after its last
            // success, and when the last run that succeeded or failed ended: what tunasync's last_ended says.
            try db.execute(
                sql: """
                    ALTER TABLE run ADD COLUMN bytesTotal INTEGER;
                    ALTER TABLE project ADD COLUMN syncedBytes INTEGER;
                    ALTER TABLE project ADD COLUMN lastEndAt REAL;
                    """)
        }
        migrator.registerMigration("v5: hook outcomes") { db in
            // How a project's hook ended after the run, as JSON (`HookOutcome`); null when none ran.
            try db.execute(sql: "ALTER TABLE run ADD COLUMN hook TEXT")
        }
        return migrator
    }

    func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.write(body) } catch {
            let full = (error as? DatabaseError)?.resultCode == .SQLITE_FULL
            throw StoreError(
                "cannot \(what) in \(path): " + (full ? "the disk is full (No space left on device)" : "\(error)"),
                isFull: full)
        }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch { throw StoreError("cannot \(what) from \(path): \(error)") }
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try APICoding.encoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try APICoding.decoder().decode(type, from: Data(text.utf8))
    }

    static func date(_ value: DatabaseValue) -> Date? {
        Double.fromDatabaseValue(value).map { Date(timeIntervalSince1970: $0) }
    }

    // MARK: - Settings

    public func settings() throws(StoreError) -> (settings: AgentSettings, generation: String)? {
        try read("read the settings") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT spec, generation FROM settings WHERE id = 1") else {
                return nil
            }
            return (try Self.decode(AgentSettings.self, row["spec"]), row["generation"])
        }
    }

    /// Stores the settings; the same settings twice is one change.
    public func putSettings(_ settings: AgentSettings, at now: Date) throws(StoreError) -> PutResponse.Change {
        let generation = Generation.of(settings)
        return try write("store the settings") { db in
            let old: String? = try String.fetchOne(db, sql: "SELECT generation FROM settings WHERE id = 1")
            if old == generation { return .unchanged }
            try db.execute(
                sql: """
                    INSERT INTO settings (id, spec, generation, updatedAt) VALUES (1, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, generation = excluded.generation, updatedAt = excluded.updatedAt
                    """, arguments: [try Self.json(settings), generation, now.timeIntervalSince1970])
            return old == nil ? .created : .updated
        }
    }

    // MARK: - Projects

    static func project(_ row: Row) throws -> StoredProject {
        StoredProject(
            name: row["name"], spec: try decode(AgentProjectSpec.self, row["spec"]), generation: row["generation"],
            revision: row["revision"], lastSuccessAt: date(row["lastSuccessAt"]), lastStartAt: date(row["lastStartAt"]),
            syncedFiles: row["syncedFiles"], managed: row["managed"], syncedBytes: row["syncedBytes"],
            lastEndAt: date(row["lastEndAt"]), createdAt: date(row["createdAt"]))
    }

    public func projects() throws(StoreError) -> [StoredProject] {
        try read("read the projects") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM project ORDER BY name").map(Self.project)
        }
    }

    public func project(_ name: String) throws(StoreError) -> StoredProject? {
        try read("read project '\(name)'") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM project WHERE name = ?", arguments: [name]).map(Self.project)
        }
    }

    /// Stores a project's spec; the same spec twice is one change, and a new spec keeps the project's history.
    public func putProject(_ name: String, spec: AgentProjectSpec, managed: Bool = false, at now: Date)
        throws(StoreError) -> PutResponse
    {
        let generation = Generation.of(spec)
        let change = try write("store project '\(name)'") { db -> PutResponse.Change in
            let old = try Row.fetchOne(
                db, sql: "SELECT generation, managed FROM project WHERE name = ?", arguments: [name])
            if let old, old["generation"] as String == generation {
                if old["managed"] as Bool != managed {
                    try db.execute(sql: "UPDATE project SET managed = ? WHERE name = ?", arguments: [managed, name])
                }
                return .unchanged
            }
            try db.execute(
                sql: """
                    INSERT INTO project (name, spec, generation, managed, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, generation = excluded.generation, managed = excluded.managed,
                        updatedAt = excluded.updatedAt
                    """,
                arguments: [
                    name, try Self.json(spec), generation, managed, now.timeIntervalSince1970,
                    now.timeIntervalSince1970,
                ])
            return old == nil ? .created : .updated
        }
        return PutResponse(name: name, generation: generation, change: change)
    }

    /// Forgets a project and its runs; returns whether it was there.
    public func deleteProject(_ name: String) throws(StoreError) -> Bool {
        try write("delete project '\(name)'") { db in
            try db.execute(sql: "DELETE FROM run WHERE project = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM project WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    // MARK: - Runs

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

    /// `firstRevisionTime` for every project and revision in `wanted`, in one read: a site with a thousand projects
    /// behind asks once, not a thousand times.
    public func firstRevisionTimes(after wanted: [String: Set<Int>]) throws(StoreError) -> [String: [Int: Date]] {
        try read("read the revisions of \(wanted.count) projects") { db in
            let statement = try db.cachedStatement(
                sql: "SELECT MIN(endedAt) FROM run WHERE project = ? AND revision > ?")
            var out: [String: [Int: Date]] = [:]
            for (project, revisions) in wanted {
                for revision in revisions {
                    let value = try DatabaseValue.fetchOne(statement, arguments: [project, revision]) ?? .null
                    if let since = Self.date(value) { out[project, default: [:]][revision] = since }
                }
            }
            return out
        }
    }

    // MARK: - Slaves (the master)

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

    public func markSeen(_ slave: String, at now: Date) throws(StoreError) {
        try write("mark slave '\(slave)' seen") { db in try Self.markSeen(db, slave, at: now) }
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
