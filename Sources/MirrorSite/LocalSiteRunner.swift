import Foundation
import Logging
import MirrorCore
import MirrorProcess
import ServiceLifecycle
#if canImport(Glibc)
    import Glibc
#endif

/// Runs a `LocalSite`: every component as a child process of its own, on a ServiceGroup that SIGTERM, SIGINT and
/// SIGHUP stop gracefully, the reconciler first, then the agents, each with its whole process group.
public struct LocalSiteRunner: Sendable {
    public let site: LocalSite
    public let executable: String
    public let output: SiteOutput
    public let logger: Logger
    public var grace: Duration = .seconds(15)

    public init(site: LocalSite, executable: String, output: SiteOutput, logger: Logger) {
        self.site = site
        self.executable = executable
        self.output = output
        self.logger = logger
    }

    /// Until SIGTERM, SIGINT or SIGHUP (the terminal closed); then every process of the site has ended.
    public func run() async throws {
        // A terminal or pipe that goes away must not kill `up` before it has stopped the site: writes to it then fail
        // instead, and are dropped.
        signal(SIGPIPE, SIG_IGN)
        for stopped in Self.stopLeftovers(of: site, executable: executable) {
            output.write("up", "stopped \(stopped), left running by an earlier 'mirrorsync up'")
        }
        let listeners = site.components.compactMap(\.listen)
        // ServiceGroup stops its services in the reverse of their order: the reconciler, then the slaves, then the master.
        let services = site.components.map { component in
            SiteProcess(
                component, executable: executable, output: output,
                waitFor: component.kind == .reconciler ? listeners : [], grace: grace)
        }
        var configuration = ServiceGroupConfiguration(
            services: services.map {
                .init(
                    service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: logger)
        configuration.maximumGracefulShutdownDuration = grace * (services.count + 1)
        try await ServiceGroup(configuration: configuration).run()
    }

    /// Processes of this site's components that a killed `up` left behind (same executable name, same arguments but
    /// for the agents' bounds, which follow mirrors.d): they would hold the agents' ports and stores. Ends them
    /// (SIGTERM to their group, SIGKILL after 10 s).
    static func stopLeftovers(of site: LocalSite, executable: String) -> [String] {
        let name = (executable as NSString).lastPathComponent
        func component(_ argv: [String]) -> SiteComponent? {
            site.components.first { LocalSite.identity(argv.dropFirst()) == LocalSite.identity($0.arguments) }
        }
        return LeftoverProcesses.stop(grace: 10) { argv in
            LeftoverProcesses.program(argv) == name && component(argv) != nil
        }.map { found in "\(component(found.argv)?.name ?? "a process") (pid \(found.pid))" }
    }
}

/// The token a site's agents share, made by `up` when the desired state's token file does not exist.
public enum SiteToken {
    /// Makes `path` (mode 0600, in a directory made 0700 if missing) with 32 random bytes in hex, unless it exists.
    /// Returns whether it made it.
    @discardableResult
    public static func ensure(_ path: String) throws(ValueError) -> Bool {
        try place(fresh(), at: path, replacing: false)
    }

    /// Replaces `path` with a fresh token, at once: a reader sees the old token or the new one.
    public static func rotate(_ path: String) throws(ValueError) {
        try place(fresh(), at: path, replacing: true)
    }

    static func fresh() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            + "\n"
    }

    /// Writes `text` to `path` (mode 0600, written and synced under another name first); `replacing`: whatever is
    /// there is replaced, else a file there is kept and nothing is written. Returns whether it wrote.
    @discardableResult
    public static func place(_ text: String, at path: String, replacing: Bool) throws(ValueError) -> Bool {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try SiteDirectory.make(directory) }
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ValueError("cannot create \(path): \(String(cString: strerror(errno)))") }
        // A file replaced keeps its owner, group and mode (the package's are 0640 root:mirrorsync, which the agent
        // reads), never writable by group or others.
        var existing = stat()
        if replacing, stat(path, &existing) == 0 {
            _ = fchown(fd, existing.st_uid, existing.st_gid)
            fchmod(fd, existing.st_mode & 0o750)
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(temporary)
            throw ValueError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { unlink(temporary) }
        if replacing {
            guard rename(temporary, path) == 0 else {
                throw ValueError("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
            return true
        }
        // link() rather than rename(): a token made meanwhile by another `up` is kept, never replaced.
        if link(temporary, path) != 0 {
            if errno == EEXIST { return false }
            throw ValueError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return true
    }
}

/// The directories `up` keeps its state in.
public enum SiteDirectory {
    /// Makes `path` and its parents with `mode` (0700: private), unless it exists as a directory.
    public static func make(_ path: String, mode: Int = 0o700) throws(ValueError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ValueError("\(path) exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw ValueError("cannot create \(path): \(error.localizedDescription)")
        }
    }
}
