import Logging
import MirrorCore
#if canImport(Glibc)
import Glibc
#endif

/// The slave's copy of the site's credential for the master's rsync daemon, in a file of mode 0600 in its state
/// directory: fetched from the master when the slave has none, forgotten when the daemon refuses it.
actor MasterCredential {
    let file: String
    let peers: PeerClient

    init(file: String, peers: PeerClient) {
        self.file = file
        self.peers = peers
    }

    /// The password file for rsync, fetched first if missing.
    func passwordFile(from masterAPI: String) async throws(PeerError) -> String {
        if access(file, R_OK) == 0 { return file }
        let credential = try await peers.credential(masterAPI)
        do throws(AtomicFile.Failure) { try AtomicFile.write(Array(credential.password.utf8), to: file, mode: 0o600) } catch {
            throw PeerError(error.message)
        }
        return file
    }

    func forget() { unlink(file) }
}

/// A slave's runner: pulls from the master's daemon with the site's credential, and turns the daemon's refusal
/// of it into a message that says so (and a fresh credential for the next pull).
struct SlavePullRunner: SyncRunner {
    let inner: any SyncRunner
    let credential: MasterCredential

    func run(_ job: SyncJob, logger: Logger) async -> SyncOutcome {
        guard let master = job.masterAPI else { return await inner.run(job, logger: logger) }
        var job = job
        do throws(PeerError) { job.passwordFile = try await credential.passwordFile(from: master) } catch {
            return SyncOutcome(result: .failed, reason: "credential",
                               message: "cannot get the rsync credential from the master: \(error.message)", retryable: true)
        }
        var outcome = await inner.run(job, logger: logger)
        if outcome.result == .failed, let refusal = outcome.stderrTail.last(where: { $0.contains("auth failed") }) {
            await credential.forget()
            outcome.reason = "credential-refused"
            outcome.message = "the master's rsync daemon refused this slave's credential (\(refusal)); the slave fetches it "
                + "again from the master before its next pull"
            outcome.retryable = false
        }
        return outcome
    }
}
