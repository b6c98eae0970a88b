import Foundation
import MirrorCore
import NIOCore
import Synchronization

/// Each project's state as JSON, kept with the state it was encoded from and reused while that state is equal;
/// and the last whole response, with the scheduler's state version it shows.
///
/// Each project also keeps the state version at which its JSON last changed (its stamp), so that a reconciler that
/// read the state at version V is sent only the projects stamped after V (`GET /v1/state?since=`).
final class ProjectJSONCache: Sendable {
    /// One project's JSON, the state it was encoded from, and the state version at which that state was first seen.
    struct Entry: Sendable {
        var state: ProjectState
        var json: [UInt8]
        var stamp: UInt64
    }

    /// Every project's entry as of one state version, sorted by name, with the digest over them all and the whole
    /// response made of them, once one was asked for.
    struct Snapshot: Sendable {
        var version: UInt64
        var entries: [(name: String, entry: Entry)]
        var digest: String
        var body: ByteBuffer?
    }

    // The entries by name, and the state version they show: never replaced by those of an older version, so that a
    // stamp is never older than the state it stands beside (two requests may encode at once).
    private let projects = Mutex<(version: UInt64, entries: [String: Entry])>((0, [:]))
    private let last = Mutex<Snapshot?>(nil)

    func snapshot() -> Snapshot? { last.withLock { $0 } }

    func store(_ snapshot: Snapshot) {
        last.withLock { if $0 == nil || $0!.version <= snapshot.version { $0 = snapshot } }
    }

    /// The whole response of the snapshot at `version`, kept with it unless a newer one replaced it.
    func store(body: ByteBuffer, version: UInt64) {
        last.withLock { if $0?.version == version { $0?.body = body } }
    }

    /// The entries kept, and the state version they show: none at version 0 before the first `merged`, so that
    /// the first read takes every project, all of them stamped after 0.
    func kept() -> (version: UInt64, entries: [String: Entry]) { projects.withLock { $0 } }

    /// `kept` brought to `version` by the states of the projects that changed since (nil: removed), sorted by name; a
    /// project whose state differs from the one cached is encoded again and stamped with `version`.
    func merged(
        _ kept: (version: UInt64, entries: [String: Entry]), changed: [String: ProjectState?], version: UInt64,
        encoder: JSONEncoder
    ) throws -> [(name: String, entry: Entry)] {
        var fresh = kept.entries
        for (name, state) in changed {
            guard let state else {
                fresh.removeValue(forKey: name)
                continue
            }
            if let hit = fresh[name], hit.state == state { continue }
            fresh[name] = Entry(state: state, json: Array(try encoder.encode(state)), stamp: version)
        }
        projects.withLock { if $0.version <= version { $0 = (version, fresh) } }
        return fresh.sorted { $0.key < $1.key }.map { (name: $0.key, entry: $0.value) }
    }
}
