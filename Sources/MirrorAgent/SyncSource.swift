import Foundation
import MirrorCore

/// Where a job's tree comes from, as a value rather than a string to guess from: the provider that brings it is the
/// one that accepts it (`SyncProvider.accepts`).
public enum SyncSource: Sendable, Hashable, CustomStringConvertible {
    /// An upstream rsync reads: a daemon's module or a local directory (the project's `source` below it included), with
    /// the upstream's `passwordFile` when it has one.
    case rsync(UpstreamLocation, passwordFile: String? = nil)
    /// The master's module, pulled by a slave as the site's rsync user, whose credential the master at `masterAPI`
    /// hands out; nil when the slave's settings name no master.
    case masterModule(UpstreamLocation, masterAPI: String?)
    /// A program that brings the tree itself, run in the project's tree (`CommandProvider`).
    case command(CommandUpstream)

    /// An rsync upstream from its text (`rsync://HOST/MODULE/` or an absolute path), as mirrors.d writes it.
    public static func upstream(_ text: String, passwordFile: String? = nil) throws(ValueError) -> SyncSource {
        .rsync(try UpstreamLocation.parse(text), passwordFile: passwordFile)
    }

    /// Where rsync reads, whichever way it is pulled; nil for a program.
    public var location: UpstreamLocation? {
        switch self {
        case .rsync(let location, _), .masterModule(let location, _): location
        case .command: nil
        }
    }

    /// A daemon's module, not a local directory: rsync's connection timeout applies.
    public var isDaemon: Bool {
        if case .rsync? = location { return true }
        return false
    }

    /// The directory of a local upstream; nil for a daemon.
    public var localPath: String? {
        if case .local(let path) = location { return path }
        return nil
    }

    /// The host a trace file names as the upstream mirror: a daemon's, or that of a program's `url`; nil for a local
    /// directory.
    public var host: String? {
        if case .command(let upstream) = self { return upstream.url.flatMap { URL(string: $0)?.host } }
        if case .rsync(_, let host, _, _)? = location { return host }
        return nil
    }

    /// rsync's source argument: the location, ending in '/' so that the tree's contents are copied; for a program,
    /// its argv.
    public var description: String {
        guard let location else {
            if case .command(let upstream) = self { return "command " + upstream.command.joined(separator: " ") }
            return ""
        }
        let text = location.description
        return text.hasSuffix("/") ? text : text + "/"
    }

    /// `self` with `subpath` (a project's `source`) below its location; itself when `subpath` is empty, and for a
    /// program (which knows its own tree).
    public func appending(_ subpath: String) -> SyncSource {
        guard !subpath.isEmpty, let location else { return self }
        let below: UpstreamLocation =
            switch location {
            case .local(let path): .local(path: path.hasSuffix("/") ? path + subpath : path + "/" + subpath)
            case .rsync(let user, let host, let port, let path):
                .rsync(user: user, host: host, port: port, path: path + "/" + subpath)
            // A program's address is the program's to read; `source` is no part of it.
            case .program: location
            }
        return switch self {
        case .rsync(_, let file): .rsync(below, passwordFile: file)
        case .masterModule(_, let master): .masterModule(below, masterAPI: master)
        case .command: self
        }
    }

    /// A daemon's location logged in as `user` (the site's rsync user, for a slave's pull); a local one as it is.
    public static func location(_ location: UpstreamLocation, as user: String) -> UpstreamLocation {
        guard case .rsync(_, let host, let port, let path) = location else { return location }
        return .rsync(user: user, host: host, port: port, path: path)
    }
}
