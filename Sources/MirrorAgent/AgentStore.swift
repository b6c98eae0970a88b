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
            try db.execute(sql: "DELETE FROM probe WHERE project = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM project WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }
}
