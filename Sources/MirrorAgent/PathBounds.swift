import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// What the agent's API may ask it to write to and read from, as the agent's own command line allows: anyone holding
/// the operator's token may change a root or a project, but not what those may reach.
///
/// - A root (the master's root, a slave's public directory, and each project's tree under it) may never overlap the
///   file system's root, a system directory (`systemDirectories`) or the agent's state directory: not be one of them,
///   inside one, or hold one. With `--allow-root` it must also be inside one of the directories named.
/// - A local upstream (an upstream URL that is a path, with the project's `source` under it) must be inside one of the
///   `--allow-local-upstream` directories (none by default), and may not overlap the state directory.
///
/// - A hook's program must resolve to a file inside an `--allow-exec` directory (`ExecAllowlist`), and no root may
///   overlap such a directory, where rsync would then write programs.
///
/// Paths are compared as they resolve: absolute, `.` and `..` taken away, and every symbolic link of the part that
/// exists followed, so that `/srv/../etc` or a link into `/etc` is refused as `/etc` is.
public struct PathBounds: Sendable {
    /// The system's own directories, which no root may overlap whatever the flags: the programs, libraries and
    /// settings of the system, the kernel's and the devices' file systems, root's home, and the state of the
    /// system's other services. `/home`, `/srv`, `/opt`, `/tmp`, `/mnt`, `/media` and the rest of `/var` are
    /// left to `--allow-root`.
    public static let systemDirectories = [
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin",
        "/snap", "/sys", "/usr", "/var/backups", "/var/cache", "/var/lib", "/var/lock", "/var/log", "/var/mail",
        "/var/run", "/var/spool",
    ]

    /// Inside the system directories, what a root may still be in: `/dev/shm`, memory that every user may write to
    /// anyway (the benchmarks' trees live there).
    public static let sharedDirectories = ["/dev/shm"]

    /// System directories that an operator may open part of by naming it with `--allow-root`: root's home, where a
    /// site tried out by root (`make demo`, `mirrorsync up` in a clone) keeps its trees. Without the flag it stays
    /// refused, so a token alone cannot write into `/root/.ssh`.
    public static let homeDirectories = ["/root"]

    /// The `--allow-root` directories, resolved; empty: any directory the refusals leave.
    public let allowedRoots: [String]
    /// The `--allow-local-upstream` directories, resolved; empty: no local upstream at all.
    public let allowedLocalUpstreams: [String]
    /// The agent's state directory, resolved.
    public let stateDirectory: String
    /// The `--allow-exec` directories: what a hook may run.
    public let exec: ExecAllowlist
    /// The agent's own credential files (`--token-file`, `--tls-key`), as given and resolved: no spec may name them
    /// as its secret.
    public var credentialFiles: [String] = []
    /// What no root may overlap, resolved (on a merged /usr, `/lib` is `/usr/lib`), each with what a message calls it.
    let refused: [(directory: String, what: String)]
    /// `sharedDirectories`, and each `--allow-root` inside a home directory, resolved.
    let shared: [String]

    /// The bounds of an agent with these flags; an allowance that could never allow anything (an `--allow-root`
    /// inside a system directory or the state directory, an `--allow-local-upstream` inside the state directory) is
    /// an error that names it. Relative paths are taken from the current directory.
    public init(
        allowRoots: [String] = [], allowLocalUpstreams: [String] = [], stateDirectory: String,
        exec: ExecAllowlist = .none
    ) throws(PathBoundsError) {
        self.stateDirectory = Self.resolve(stateDirectory)
        self.exec = exec
        refused =
            Self.systemDirectories.map { (Self.resolve($0), "the system directory") }
            + [(self.stateDirectory, "the agent's state directory")]
            + exec.directories.map { ($0, "the \(ExecAllowlist.flag) directory") }
        allowedRoots = allowRoots.map(Self.resolve)
        let homes = Self.homeDirectories.map(Self.resolve)
        shared =
            Self.sharedDirectories.map(Self.resolve)
            + allowedRoots.filter { root in homes.contains { Self.isInside(root, $0) && root != $0 } }
        allowedLocalUpstreams = allowLocalUpstreams.map(Self.resolve)
        // An allowance that holds a refused directory still allows the rest of itself (`--allow-root /var` allows
        // /var/www); one inside a refused directory allows nothing.
        for (given, resolved) in zip(allowRoots, allowedRoots) {
            for (directory, what) in refused(around: resolved) where Self.isInside(resolved, directory) {
                throw PathBoundsError(
                    "--allow-root \(given) would allow nothing: \(Self.overlap(resolved, directory, what)!)")
            }
        }
        for (given, resolved) in zip(allowLocalUpstreams, allowedLocalUpstreams)
        where Self.isInside(resolved, self.stateDirectory) {
            throw PathBoundsError(
                "--allow-local-upstream \(given) would allow nothing: "
                    + Self.overlap(resolved, self.stateDirectory, "the agent's state directory")!)
        }
    }

    /// Why `path`, the agent's `field` (`root`, a project's `path`), may not be written to; nil if it may.
    public func checkRoot(_ path: String, field: String = "root") -> PathRefusal? {
        let resolved = Self.resolve(path)
        if let reason = refusal(ofRoot: resolved) {
            return PathRefusal(
                field: field, path: path, resolved: resolved, reason: reason + "; no --allow-root allows it")
        }
        if !allowedRoots.isEmpty, !allowedRoots.contains(where: { Self.isInside(resolved, $0) }) {
            return PathRefusal(
                field: field, path: path, resolved: resolved,
                reason:
                    "it is not inside a directory this agent may write to (--allow-root \(allowedRoots.joined(separator: ", --allow-root "))); "
                    + "start the agent with --allow-root naming it or a directory above it to allow it")
        }
        return nil
    }

    /// Why the local directory `path`, a project's `field` (`upstream.url`, `source`), may not be read; nil if it may.
    public func checkLocalUpstream(_ path: String, field: String = "upstream.url") -> PathRefusal? {
        let resolved = Self.resolve(path)
        if let reason = Self.overlap(resolved, stateDirectory, "the agent's state directory") {
            return PathRefusal(
                field: field, path: path, resolved: resolved, reason: reason + "; no --allow-local-upstream allows it")
        }
        guard allowedLocalUpstreams.contains(where: { Self.isInside(resolved, $0) }) else {
            let allowed =
                allowedLocalUpstreams.isEmpty
                ? "this agent reads no local directory (no --allow-local-upstream)"
                : "it is not inside a directory this agent may read (--allow-local-upstream \(allowedLocalUpstreams.joined(separator: ", --allow-local-upstream ")))"
            return PathRefusal(
                field: field, path: path, resolved: resolved,
                reason:
                    "\(allowed); start the agent with --allow-local-upstream naming it or a directory above it to allow it"
            )
        }
        return nil
    }

    /// Why a project may not be taken: its upstream is a local directory the agent may not read, or its tree under
    /// `root` (when the agent has settings) resolves where the agent may not write.
    public func check(_ spec: AgentProjectSpec, root: String?) -> PathRefusal? {
        if case .local(let path) = spec.upstream.url {
            if let refusal = checkLocalUpstream(path) { return refusal }
            if !spec.source.isEmpty, let refusal = checkLocalUpstream(path + "/" + spec.source, field: "source") {
                return refusal
            }
        }
        if let root, let refusal = checkRoot(root + "/" + spec.path, field: "path") { return refusal }
        let rules = secrets(root: root)
        for (field, file) in [
            ("upstream.passwordFile", spec.upstream.passwordFile), ("pushTokenFile", spec.effectivePushTokenFile),
        ] {
            if let file, let refusal = rules.check(file, field: field) {
                return PathRefusal(
                    field: field, path: file, resolved: file, reason: refusal.reason, code: "forbidden-secret")
            }
        }
        // The programs a spec runs, hooks and an upstream's command alike: only inside --allow-exec.
        for (field, argv) in [
            ("hooks.onSuccess", spec.hooks?.onSuccess), ("hooks.onFailure", spec.hooks?.onFailure),
            ("upstream.command", spec.upstream.command),
        ] {
            guard let program = argv?.first else { continue }
            do throws(ExecRefusal) {
                _ = try exec.resolve(program, trees: [(stateDirectory, "the agent's state directory")])
            } catch {
                return PathRefusal(
                    field: field, path: program, resolved: program, reason: error.reason, code: "forbidden-exec")
            }
        }
        return nil
    }

    /// Why notify's secret files may not be read: a webhook's `secretFile` among the agent's credentials or in its trees.
    public func check(_ notify: NotifySpec?, root: String) -> PathRefusal? {
        let rules = secrets(root: root)
        for (name, hook) in (notify?.webhooks ?? [:]).sorted(by: { $0.key < $1.key }) {
            let field = "notify.webhooks.\(name).secretFile"
            if let refusal = rules.check(hook.secretFile, field: field) {
                return PathRefusal(
                    field: field, path: hook.secretFile, resolved: hook.secretFile, reason: refusal.reason,
                    code: "forbidden-secret")
            }
        }
        return nil
    }

    /// Where a secret a spec names may be read from: not the agent's credentials, not its state directory or `root`.
    public func secrets(root: String?) -> SecretFileRules {
        let roots =
            root.map {
                [
                    SecretFileRules.Tree($0, "the agent's root"),
                    SecretFileRules.Tree(Self.resolve($0), "the agent's root"),
                ]
            } ?? []
        return SecretFileRules(
            credentials: credentialFiles,
            trees: [SecretFileRules.Tree(stateDirectory, "the agent's state directory")] + roots)
    }

    /// Why a run may not start: its source or destination is out of bounds now (settings stored before the agent was
    /// started with narrower flags, a link made since).
    public func check(_ job: SyncJob) -> PathRefusal? {
        if let local = job.source.localPath, let refusal = checkLocalUpstream(local, field: "upstream.url") {
            return refusal
        }
        return checkRoot(job.destination, field: "path")
    }

    /// Why a root that resolves to `resolved` is refused whatever the flags; nil if it is not.
    func refusal(ofRoot resolved: String) -> String? {
        if resolved == "/" { return "it is the file system's root" }
        return refused(around: resolved).lazy.compactMap { Self.overlap(resolved, $0.directory, $0.what) }.first
    }

    /// The refused directories that count for `resolved`: all of them, but for a path in a shared directory, the
    /// system directories that hold it.
    func refused(around resolved: String) -> [(directory: String, what: String)] {
        guard let home = shared.first(where: { Self.isInside(resolved, $0) }) else { return refused }
        return refused.filter { !Self.isInside(home, $0.directory) }
    }

    /// How `path` overlaps `other` (the `what` named), or nil if it does not.
    static func overlap(_ path: String, _ other: String, _ what: String) -> String? {
        if path == other { return "it is \(what) \(other)" }
        if isInside(path, other) { return "it is inside \(what) \(other)" }
        if isInside(other, path) { return "it holds \(what) \(other)" }
        return nil
    }

    /// Whether `path` is `directory` or inside it; both resolved.
    static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }

    /// `path` absolute, without `.`, `..` or repeated slashes, every symbolic link in the part that exists followed
    /// (at most 40, as the kernel does; a loop stops there), and the rest taken as written.
    public static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var pending = absolute.split(separator: "/").reversed().map(String.init)
        var resolved: [String] = []
        var links = 0
        while let component = pending.popLast() {
            if component == "." { continue }
            if component == ".." {
                _ = resolved.popLast()
                continue
            }
            resolved.append(component)
            let current = "/" + resolved.joined(separator: "/")
            var info = stat()
            guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK, links < 40 else { continue }
            links += 1
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count > 0 else { continue }
            let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            resolved.removeLast()
            if target.hasPrefix("/") { resolved = [] }
            pending += target.split(separator: "/").reversed().map(String.init)
        }
        return "/" + resolved.joined(separator: "/")
    }
}

/// A path the agent's bounds refuse: which field, the path as given and as it resolves, and why.
public struct PathRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var path: String
    public var resolved: String
    public var reason: String
    /// The API's error code: `forbidden-path`, or `forbidden-exec` for a program.
    public var code = "forbidden-path"

    public init(field: String, path: String, resolved: String, reason: String, code: String = "forbidden-path") {
        self.field = field
        self.path = path
        self.resolved = resolved
        self.reason = reason
        self.code = code
    }

    /// `root '/srv/../etc' (resolves to /etc) is refused: it is the system directory /etc; no --allow-root allows it`
    public var message: String {
        let shown = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        return "\(field) '\(path)'" + (resolved == shown ? "" : " (resolves to \(resolved))") + " is refused: \(reason)"
    }

    public var description: String { message }
}

/// Flags that bound an agent in a way that could never allow anything.
public struct PathBoundsError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
