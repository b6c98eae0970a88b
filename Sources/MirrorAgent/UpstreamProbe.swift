import Foundation
import Logging
import MirrorCore
import MirrorHTTP

/// What a probe of the upstream found: the probe file's content, as a digest, or why it could not be fetched.
public enum ProbeResult: Sendable, Hashable {
    /// `wireBytes`: what came over the wire for it (rsync's "Total bytes received", or the HTTP body).
    case fetched(digest: String, wireBytes: Int64?)
    case failed(String)
}

/// Fetches a project's probe file alone (`probe:`), before a run of the master decides whether to walk the tree.
public protocol UpstreamProbing: Sendable {
    func probe(_ job: SyncJob, path: String, logger: Logger) async -> ProbeResult
}

/// The real probe: rsync for an rsync upstream (a daemon's module or a local directory), into a scratch file under
/// the agent's state directory, never the tree; HTTP(S) GET, on the process's one HTTP client, for a program
/// upstream whose url is http or https. The file is at most `maxBytes`; a directory, a link or a device is no probe.
public struct UpstreamProber: UpstreamProbing {
    public var rsync: RsyncProvider
    /// Where the scratch files go, one per project: `STATE/probes`.
    public var scratchDirectory: String
    /// Where the upstream's `passwordFile` may be read from.
    public var bounds: PathBounds?
    public var maxBytes = 1 << 20
    /// The longest a probe may take, whatever the upstream's ioTimeout.
    public var timeout: TimeSpan = TimeSpan(seconds: 60)

    public init(rsync: RsyncProvider, scratchDirectory: String, bounds: PathBounds? = nil) {
        self.rsync = rsync
        self.scratchDirectory = scratchDirectory
        self.bounds = bounds
    }

    public func probe(_ job: SyncJob, path: String, logger: Logger) async -> ProbeResult {
        let seconds = min(job.ioTimeout.seconds, timeout.seconds)
        switch job.source {
        case .command(let upstream):
            guard let url = upstream.url.flatMap({ Probe.httpURL(upstream: $0, probe: path) }) else {
                return .failed("a program's upstream is probed by HTTP(S) alone, and its url is not http(s)")
            }
            do throws(FileFetch.Failure) {
                let bytes = try await FileFetch.get(url, within: TimeInterval(seconds), upTo: maxBytes)
                return .fetched(digest: SHA256.hex(SHA256.hash(bytes)), wireBytes: Int64(bytes.count))
            } catch {
                return .failed(error.description)
            }
        case .masterModule:
            return .failed("a slave's pull is not probed")
        case .rsync(_, let passwordFile):
            var password: String?
            if let passwordFile {
                do throws(SecretRefusal) {
                    password = try (bounds?.secrets(root: job.root) ?? SecretFileRules()).read(
                        passwordFile, field: "passwordFile")
                } catch {
                    return .failed(error.message)
                }
            }
            return await fetch(job, path: path, password: password, seconds: seconds, logger: logger)
        }
    }

    func fetch(_ job: SyncJob, path: String, password: String?, seconds: Int, logger: Logger) async -> ProbeResult {
        let scratch = scratchDirectory + "/" + job.project
        do {
            try FileManager.default.createDirectory(
                atPath: scratchDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            return .failed("cannot make \(scratchDirectory): \(error.localizedDescription)")
        }
        // A fetch that brings nothing (a directory, a link, a file too large: rsync skips them) must not leave the last
        // fetch's file to be read as this one's.
        try? FileManager.default.removeItem(atPath: scratch)
        var arguments = ["--no-motd", "--stats", "--timeout=\(seconds)", "--max-size=\(maxBytes)"]
        // As a pull's (RsyncArguments): without it, each small message of the protocol can wait out a delayed ACK.
        if job.source.isDaemon { arguments += ["--contimeout=\(seconds)", "--sockopts=TCP_NODELAY"] }
        arguments += ["--", job.source.description + path, scratch]
        let invocation = await rsync.invoke(arguments, password: password, logger: logger)
        guard invocation.exitCode == 0 else {
            let said = invocation.stderrTail.last ?? invocation.spawnError ?? "no message"
            return .failed("rsync exited with \(invocation.exitCode.map(String.init) ?? "a signal"): \(said)")
        }
        guard let data = FileManager.default.contents(atPath: scratch) else {
            return .failed("\(path) is not a regular file of at most \(maxBytes) bytes on the upstream")
        }
        return .fetched(digest: SHA256.hex(SHA256.hash(Array(data))), wireBytes: invocation.report.bytesReceived)
    }
}
