import Foundation
import GRDB
import MirrorCore

// Probes: on the master, what each probed project's probe said at its last full run.

extension AgentStore {
    /// Every project's probe mark.
    public func probeMarks() throws(StoreError) -> [String: ProbeMark] {
        try read("read the probes") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT project, generation, digest, verifiedAt FROM probe")
            return Dictionary(
                rows.map { row in
                    (
                        row["project"] as String,
                        ProbeMark(
                            generation: row["generation"], digest: row["digest"],
                            verifiedAt: Self.date(row["verifiedAt"]))
                    )
                }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Keeps `mark` as the project's.
    public func recordProbe(_ mark: ProbeMark, project: String) throws(StoreError) {
        try write("record the probe of '\(project)'") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO probe (project, generation, digest, verifiedAt) VALUES (?, ?, ?, ?)",
                arguments: [project, mark.generation, mark.digest, mark.verifiedAt?.timeIntervalSince1970])
        }
    }
}
