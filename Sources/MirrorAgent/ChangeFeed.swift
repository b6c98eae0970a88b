import Foundation
import Logging
import MirrorCore

/// Where a slave's incremental pulls get the master's change lists, keep when they last walked the whole tree, and
/// count what a full walk found that the lists had not said (drift). The test seam of `RsyncProvider`'s pulls.
public protocol ChangeFeed: Sendable {
    /// The lists of revisions `from`+1 through `to` of `project`, oldest first; nil when the master keeps no complete
    /// chain of them (or cannot be asked).
    func lists(project: String, from: Int, to: Int, masterAPI: String) async -> [ChangeList]?
    /// When this slave last walked the whole tree of `project`; nil if never.
    func lastFullWalk(_ project: String) async -> Date?
    /// A full walk of `project` ended well at `at`.
    func fullWalked(_ project: String, at: Date) async
    /// A full walk of `project` that followed its lists found `entries` more to change: the lists and the tree had
    /// drifted apart.
    func drift(_ project: String, entries: Int) async
    func now() -> Date
}

/// The real feed: the master's `GET /v1/projects/{name}/changes`, the full walks' times in the state directory
/// (`pulls/PROJECT.full`, so a restart does not walk again at once), drift in the log and in
/// `mirrorsync_project_drift_total`.
public struct MasterChangeFeed: ChangeFeed {
    let peers: PeerClient
    let directory: String
    let metrics: AgentMetrics
    let clock: any AgentClock
    let logger: Logger

    public init(peers: PeerClient, directory: String, metrics: AgentMetrics, clock: any AgentClock, logger: Logger) {
        self.peers = peers
        self.directory = directory
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
    }

    public func lists(project: String, from: Int, to: Int, masterAPI: String) async -> [ChangeList]? {
        do throws(PeerError) {
            let response = try await peers.changes(masterAPI, project: project, from: from, to: to)
            do throws(ValueError) { return try response.lists() } catch {
                logger.warning(
                    "the master's change lists cannot be read",
                    metadata: ["project": "\(project)", "error": "\(error)"])
                return nil
            }
        } catch {
            if error.status != 404 {
                logger.notice(
                    "cannot get the master's change lists", metadata: ["project": "\(project)", "error": "\(error)"])
            }
            return nil
        }
    }

    func file(_ project: String) -> String { directory + "/" + project + ".full" }

    public func lastFullWalk(_ project: String) async -> Date? {
        guard let data = FileManager.default.contents(atPath: file(project)),
            let seconds = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    public func fullWalked(_ project: String, at: Date) async {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? AtomicFile.write(Array("\(at.timeIntervalSince1970)\n".utf8), to: file(project), mode: 0o640)
    }

    public func drift(_ project: String, entries: Int) async {
        logger.warning(
            "drift: a full walk after the change lists still found entries to change",
            metadata: ["project": "\(project)", "entries": "\(entries)"])
        metrics.recordDrift(of: project)
    }

    public func now() -> Date { clock.now() }
}
