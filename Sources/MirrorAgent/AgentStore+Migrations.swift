import Foundation
import GRDB

// The store's schema, one migration per change: a store written by any earlier version opens and is brought up to
// date.

extension AgentStore {
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
        migrator.registerMigration("v6: notifications") { db in
            // On the master: the troubles in force that were told (`NotifyCondition` as JSON, by key), and the
            // messages to send and sent (`NotifyEvent`s as JSON), by target; `delivery` is the first row of the message
            // a row went out in.
            try db.execute(
                sql: """
                    CREATE TABLE notify_condition (
                        key TEXT PRIMARY KEY,
                        condition TEXT NOT NULL
                    );
                    CREATE TABLE notify_outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        target TEXT NOT NULL,
                        events TEXT NOT NULL,
                        createdAt REAL NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        nextAttemptAt REAL NOT NULL,
                        lastError TEXT,
                        sentAt REAL,
                        delivery INTEGER,
                        gaveUp INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX notify_outbox_pending ON notify_outbox(target, sentAt, gaveUp);
                    """)
        }
        migrator.registerMigration("v7: probes") { db in
            // On the master, a probed project's last full run: the probe's digest then (null after a run that did not
            // succeed, or whose probe failed), for the spec of `generation`, and when a full run last succeeded.
            try db.execute(
                sql: """
                    CREATE TABLE probe (
                        project TEXT PRIMARY KEY,
                        generation TEXT NOT NULL,
                        digest TEXT,
                        verifiedAt REAL
                    );
                    """)
        }
        return migrator
    }
}
