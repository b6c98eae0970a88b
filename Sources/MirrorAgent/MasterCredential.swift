import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// The site's credential for the master's rsync daemon, as the runner asks for it when a job's source names it
/// (`SyncSource.masterModule`): a slave's pull from the master's module.
public protocol SiteCredentials: Sendable {
    /// The user and password, from the master at `masterAPI` if they are not at hand.
    func credential(from masterAPI: String) async throws(PeerError) -> RsyncCredential
    /// The master's daemon refused them: the next pull asks the master again.
    func forget() async
}

/// The slave's copy of its rsync credential in its state directory: the password in a file of mode 0600, the user
/// name beside it, and the verifier of the slave's own token it was fetched with; fetched from the master when the
/// slave has none or its token changed (the master derives the password from it), forgotten when the daemon refuses it.
actor MasterCredential: SiteCredentials {
    let file: String
    let userFile: String
    let ownerFile: String
    /// The SHA-256 of the token this slave sends, in hex.
    let owner: String
    let peers: PeerClient

    init(file: String, peers: PeerClient, token: String) {
        self.file = file
        self.userFile = file + ".user"
        self.ownerFile = file + ".for"
        self.owner = SHA256.hex(SHA256.hash(Array(token.utf8)))
        self.peers = peers
    }

    func credential(from masterAPI: String) async throws(PeerError) -> RsyncCredential {
        if let password = Self.read(file), let user = Self.read(userFile), !user.isEmpty, Self.read(ownerFile) == owner
        {
            return RsyncCredential(user: user, password: password)
        }
        let credential = try await peers.credential(masterAPI)
        do throws(AtomicFile.Failure) {
            try AtomicFile.write(Array(owner.utf8), to: ownerFile, mode: 0o600)
            try AtomicFile.write(Array(credential.user.utf8), to: userFile, mode: 0o600)
            try AtomicFile.write(Array(credential.password.utf8), to: file, mode: 0o600)
        } catch {
            throw PeerError(error.message)
        }
        return credential
    }

    func forget() { unlink(file) }

    static func read(_ path: String) -> String? {
        guard access(path, R_OK) == 0, let bytes = try? DesiredStateLoader.readFile(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
    }
}
