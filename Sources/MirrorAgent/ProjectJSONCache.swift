import Foundation
import MirrorCore
import NIOCore
import Synchronization

/// Each project's state as JSON, kept with the state it was encoded from and reused while that state is equal;
/// and the last whole response, with the scheduler's state version it shows.
final class ProjectJSONCache: Sendable {
    private let projects = Mutex<[String: (state: ProjectState, json: [UInt8])]>([:])
    private let last = Mutex<(version: UInt64, body: ByteBuffer)?>(nil)

    func response() -> (version: UInt64, body: ByteBuffer)? { last.withLock { $0 } }

    func store(response: ByteBuffer, version: UInt64) { last.withLock { $0 = (version, response) } }

    /// The projects' JSON, sorted by name.
    func encoded(_ states: [String: ProjectState], encoder: JSONEncoder) throws -> [(String, [UInt8])] {
        let known = projects.withLock { $0 }
        var fresh: [String: (state: ProjectState, json: [UInt8])] = [:]
        fresh.reserveCapacity(states.count)
        for (name, state) in states {
            if let hit = known[name], hit.state == state {
                fresh[name] = hit
            } else {
                fresh[name] = (state, Array(try encoder.encode(state)))
            }
        }
        projects.withLock { $0 = fresh }
        return fresh.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) }
    }
}
