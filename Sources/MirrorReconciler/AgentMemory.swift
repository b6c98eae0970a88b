import Foundation
import MirrorCore
import Synchronization

/// What the reconciler last read of each agent, kept across the watch loop's reconciles, so that the next reconcile
/// asks each agent only for what changed since (`GET /v1/state?since=`): after an edit of one project, a reconcile
/// reads one project's state, not every agent's every project.
///
/// A delta is merged only onto the read it follows (same run of the agent, same state version) and only if the
/// merged projects have the digest the agent reports for all of its projects; anything else is read in full again.
/// The watch loop forgets everything at each resync, which then reads every agent in full.
public final class AgentMemory: Sendable {
    struct Known: Sendable {
        var bootID: String
        var version: UInt64
        /// The whole state as of `version`, projects included.
        var state: AgentState
    }

    private let known = Mutex<[String: Known]>([:])

    public init() {}

    /// Forgets every agent: the next reads are whole ones.
    public func forget() { known.withLock { $0.removeAll() } }

    /// The run and version of the agent's last whole state, when one is known.
    func since(_ agent: String) -> (bootID: String, version: UInt64)? {
        known.withLock { kept in kept[agent].map { (bootID: $0.bootID, version: $0.version) } }
    }

    /// The agent's whole state from an answer: a whole state is kept (when the agent serves deltas) and returned; a
    /// delta is merged onto the state kept; nil when it cannot be (another run or version, or the merged projects do
    /// not have the agent's digest: a project removed by another hand). An answer without projects (`ifDigest`) is
    /// returned as it is.
    func merge(_ agent: String, _ answer: AgentState) -> AgentState? {
        if answer.projectsOmitted { return answer }
        guard let since = answer.projectsSince else {
            if let version = answer.stateVersion {
                known.withLock { $0[agent] = Known(bootID: answer.bootID, version: version, state: answer) }
            }
            return answer
        }
        guard let version = answer.stateVersion, let before = known.withLock({ $0[agent] }),
            before.bootID == answer.bootID,
            before.version == since
        else {
            known.withLock { _ = $0.removeValue(forKey: agent) }
            return nil
        }
        var state = answer
        state.projectsSince = nil
        state.projects = before.state.projects
        // Unless a project came or went, or changed generation, the digest is the one already checked.
        var sameNames = true
        for (name, project) in answer.projects {
            if let old = state.projects.updateValue(project, forKey: name) {
                if old.generation != project.generation || old.managed != project.managed { sameNames = false }
            } else {
                sameNames = false
            }
        }
        guard let digest = answer.projectsDigest,
            sameNames && digest == before.state.projectsDigest || digest == AgentState.digest(of: state.projects)
        else {
            known.withLock { _ = $0.removeValue(forKey: agent) }
            return nil
        }
        known.withLock { $0[agent] = Known(bootID: answer.bootID, version: version, state: state) }
        return state
    }

    /// A project the reconciler removed from the agent: gone from what is kept as well, so that the next delta adds up.
    func removed(_ project: String, from agent: String) {
        known.withLock { kept in
            _ = kept[agent]?.state.projects.removeValue(forKey: project)
            // The digest kept no longer describes what is kept: the next delta's is checked against the projects.
            kept[agent]?.state.projectsDigest = nil
        }
    }
}
