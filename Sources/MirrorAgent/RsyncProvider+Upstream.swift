import Foundation
import Logging
import MirrorCore
import Subprocess

/// A run's failure before any transfer, as a `Result`'s error.
struct OutcomeFailure: Error {
    var outcome: SyncOutcome
}

/// How long a run waited for its upstream's own update, and for which markers.
struct UpstreamWait: Sendable {
    var retries = 0
    var seconds = 0
    var markers: [String] = []

    var summary: String {
        "waited \(TimeSpan(seconds: seconds)) for the upstream's own update (\(markers.joined(separator: ", ")) at its top), "
            + "\(retries) time\(retries == 1 ? "" : "s")"
    }
}

// Where a job's source is reached from (a password file, the site's credential), and whether the upstream is itself in
// the middle of an update.
extension RsyncProvider {
    /// The job with its source as rsync reaches it, and the password rsync sends, if any.
    func resolve(_ job: SyncJob, context: TransferContext) async -> Result<(SyncJob, String?), OutcomeFailure> {
        var job = job
        switch job.source {
        case .command:
            return .failure(
                OutcomeFailure(
                    outcome: SyncOutcome(
                        result: .failed, reason: "no-provider", message: "nothing was synced: rsync runs no program")))
        case .rsync(_, nil): return .success((job, nil))
        case .rsync(_, let file?):
            do throws(SecretRefusal) {
                return .success((job, try context.secrets.read(file, field: "passwordFile")))
            } catch {
                // The run's message is read through the API: what the file system said goes to the log alone.
                context.logger.error(
                    "the passwordFile is refused",
                    metadata: ["file": "\(file)", "why": "\(error.detail ?? error.reason)"])
                return .failure(
                    OutcomeFailure(
                        outcome: SyncOutcome(
                            result: .failed, reason: "password-file", message: "nothing was synced: \(error.message)")))
            }
        case .masterModule(let location, let masterAPI):
            guard let masterAPI, let siteCredentials else {
                return .failure(
                    OutcomeFailure(
                        outcome: SyncOutcome(
                            result: .failed, reason: "credential",
                            message:
                                "the project is pulled with the site's credential, but this agent has no master to get it from"
                        )))
            }
            do throws(PeerError) {
                let credential = try await siteCredentials.credential(from: masterAPI)
                job.source = .masterModule(SyncSource.location(location, as: credential.user), masterAPI: masterAPI)
                return .success((job, credential.password))
            } catch {
                return .failure(
                    OutcomeFailure(
                        outcome: SyncOutcome(
                            result: .failed, reason: "credential",
                            message: "cannot get the rsync credential from the master: \(error.message)",
                            retryable: true)))
            }
        }
    }

    /// As ftpsync does before its second stage: while the upstream's top holds another host's
    /// `Archive-Update-in-Progress-*`, waits `busy.wait` on the run's clock and looks again, at most `busy.retries`
    /// times; then the run fails with nothing synced. Each wait is said in the run's log. A listing that fails says
    /// nothing: the transfer that follows meets the same trouble and reports it.
    func waitForUpstream(_ job: SyncJob, _ busy: UpstreamBusy, password: String?, context: TransferContext) async
        -> Result<UpstreamWait, OutcomeFailure>
    {
        var waited = UpstreamWait()
        while true {
            let markers = await upstreamMarkers(job, password: password, logger: context.logger)
                .filter { $0 != busy.ownMarker }
            guard !markers.isEmpty else { return .success(waited) }
            waited.markers = markers
            guard waited.retries < busy.retries else {
                let message =
                    "the upstream is still updating (\(markers.joined(separator: ", ")) at its top) after \(waited.retries) "
                    + "retr\(waited.retries == 1 ? "y" : "ies") \(busy.wait) apart; nothing was synced"
                context.activity?.note(message)
                return .failure(
                    OutcomeFailure(
                        outcome: SyncOutcome(
                            result: .failed, reason: "upstream-in-progress", message: message, retryable: false)))
            }
            waited.retries += 1
            let note =
                "the upstream is updating (\(markers.joined(separator: ", ")) at its top): waiting \(busy.wait) before "
                + "looking again (retry \(waited.retries) of \(busy.retries))"
            context.activity?.note(note)
            context.logger.notice("\(note)")
            do { try await context.clock.sleep(for: TimeInterval(busy.wait.seconds)) } catch {
                return .failure(
                    OutcomeFailure(
                        outcome: SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped")))
            }
            waited.seconds += busy.wait.seconds
        }
    }

    /// The `Archive-Update-in-Progress-*` names at the top of the job's source, from one `rsync --list-only` of its
    /// top directory alone (no recursion): a listing of a few names.
    func upstreamMarkers(_ job: SyncJob, password: String?, logger: Logger) async -> [String] {
        var source = job.source.description
        if !source.hasSuffix("/") { source += "/" }
        var arguments = ["--list-only", "--no-motd", "--timeout=\(job.ioTimeout.seconds)"]
        // As every pass (RsyncArguments): a daemon's connection time bounded, its small messages not held by Nagle.
        if job.source.isDaemon { arguments += ["--contimeout=60", "--sockopts=TCP_NODELAY"] }
        arguments += ["--", source]
        do {
            let result = try await Subprocess.run(
                .name(executable), arguments: Arguments(arguments),
                environment: .inherit.updating(["RSYNC_PASSWORD": password, "LC_ALL": "C"]),
                output: .string(limit: 4 << 20), error: .discarded)
            guard case .exited(0) = result.terminationStatus else { return [] }
            return Self.markers(inListing: result.standardOutput)
        } catch {
            logger.debug("cannot list the upstream's top", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// The marker names in `rsync --list-only`'s lines (`-rw-r--r--  12 2026/12/07 16:00:00 NAME`).
    static func markers(inListing listing: String) -> [String] {
        let needle = " " + DebianTrace.markerPrefix
        return listing.split(whereSeparator: \.isNewline).compactMap { line in
            guard line.first == "-", let range = line.range(of: needle) else { return nil }
            return String(line[line.index(after: range.lowerBound)...])
        }.sorted()
    }
}
