import Foundation
import Logging
import MirrorCore
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// The credentials an agent accepts: its accept file's verifiers (`--accept-file`), read again when the file changes,
/// so that a slave's credential is rotated or revoked on the master without a restart; or, without an accept file,
/// the one token of `--token-file`, shared by every role (the old way).
public final class AgentCredentials: Sendable {
    /// The accept file; nil: the shared token.
    public let file: String?
    let logger: Logger
    private let state: Mutex<(accepted: AcceptedCredentials, stamp: [Int])>
    /// Signalled when a read of the file finds other verifiers: the master's rsync daemon rewrites its users.
    let changed = WakeSignal()

    /// Reads the accept file; a start with a file that cannot be read or parsed fails, saying where and why.
    public init(acceptFile: String?, sharedToken: String, logger: Logger) throws(ValueError) {
        file = acceptFile
        self.logger = logger
        guard let acceptFile else {
            state = Mutex((.shared(token: sharedToken), []))
            return
        }
        let accepted = try AcceptedCredentials.read(acceptFile)
        state = Mutex((accepted, Self.stamp(acceptFile)))
    }

    /// The verifiers as of now: the file is read again if its inode, size or time changed. A file that became
    /// unreadable or invalid leaves the last good verifiers in force, and says so in the log.
    public var accepted: AcceptedCredentials {
        guard let file else { return state.withLock { $0.accepted } }
        let stamp = Self.stamp(file)
        let (current, known) = state.withLock { ($0.accepted, $0.stamp) }
        guard stamp != known else { return current }
        do throws(ValueError) {
            let fresh = try AcceptedCredentials.read(file)
            state.withLock { $0 = (fresh, stamp) }
            if fresh != current {
                logger.notice(
                    "accept file read again", metadata: ["file": "\(file)", "credentials": "\(fresh.verifiers.count)"])
                changed.signal()
            }
            return fresh
        } catch {
            state.withLock { $0.stamp = stamp }
            logger.error(
                "the accept file cannot be used; the credentials read before stay in force",
                metadata: ["error": "\(error.message)"])
            return current
        }
    }

    static func stamp(_ path: String) -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [-1] }
        return [
            Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_mode),
        ]
    }
}

/// The role of the credential the request in progress came with, set by `BearerAuthMiddleware`; nil on a public route.
enum Caller {
    @TaskLocal static var role: CredentialRole?
}

extension CredentialRole {
    /// Whether this credential may make a call of `method` to `path` on an agent of `agent`'s role. The operator and
    /// a shared token may make every call; the master, on a slave, the trigger (`POST /v1/projects/{name}/sync`);
    /// a slave, on the master (or on the slave it pulls from, in a tier), its report, its rsync credential, the
    /// revisions and a project's changes (which report, which credential and which project are the routes' to check).
    func may(_ method: String, _ path: String, on agent: AgentRole) -> Bool {
        switch (self, agent) {
        case (.operator, _), (.shared, _): return true
        case (.master, .slave):
            let parts = path.split(separator: "/")
            return method == "POST" && parts.count == 4 && parts[0] == "v1" && parts[1] == "projects"
                && parts[3] == "sync"
        // On a slave, a slave's credential is accepted only for a slave that pulls from it (a tier): the same calls.
        case (.slave, .master), (.slave, .slave):
            return (method == "POST" && path == "/v1/reports")
                || (method == "GET" && (path == "/v1/rsyncd/credential" || path == "/v1/revisions"))
                || (method == "GET" && Self.isChanges(path))
        case (.master, .master): return false
        }
    }

    /// `/v1/projects/{name}/changes`.
    static func isChanges(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        return parts.count == 4 && parts[0] == "v1" && parts[1] == "projects" && parts[3] == "changes"
    }
}
