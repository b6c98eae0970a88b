import Foundation
import Hummingbird
import MirrorCore

extension AgentAPI {
    /// `GET /v1/state?since=BOOTID:VERSION`: the state with only the projects whose state changed after VERSION
    /// (`projectsSince`), and the digest of every project, so that the caller can check what it merges; nil (the
    /// whole state) when BOOTID is not this run of the agent or the text is not of that form.
    ///
    /// A reconciler that read the whole state once follows it this way for what changed: after an edit of one
    /// project, one project's JSON rather than a thousand.
    func stateDelta(since text: String) async throws -> Response? {
        guard let colon = text.lastIndex(of: ":"), text[..<colon] == bootID,
            let since = UInt64(text[text.index(after: colon)...])
        else {
            return nil
        }
        let snapshot = try await stateSnapshot()
        // A version from the future (another run's counter under the same id cannot happen, but a hand-made one can):
        // the whole state.
        guard since <= snapshot.version else { return nil }
        let changed = snapshot.entries.filter { $0.entry.stamp > since }
        return Self.jsonResponse(
            try await stateBody(changed, digest: snapshot.digest, version: snapshot.version, since: since))
    }
}
