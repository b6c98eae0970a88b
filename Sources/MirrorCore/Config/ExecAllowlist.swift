#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a program that an agent runs for a project (a hook; any later command) may come from: only a regular file
/// inside a directory the host allows (`--allow-exec DIR`, none by default), symlinks included in that rule.
///
/// Whoever holds the operator's token may change a project, so it must not choose what runs: the host does, by naming
/// directories that the agent itself cannot change. An allowed directory, the directories above it and each program
/// are not writable by group or others (a sticky directory above is fine), and when the agent does not run as root
/// none of them is owned by its user; an allowed directory neither lies in nor holds a tree the agent writes (a
/// mirror root, its state directory), where an upstream or the token would put files.
public struct ExecAllowlist: Sendable, Hashable {
    /// The flag that names the directories.
    public static let flag = "--allow-exec"
    /// Nothing allowed: what an agent started without the flag runs.
    public static let none = ExecAllowlist(resolved: [], given: [], user: nil)

    /// The allowed directories, resolved.
    public let directories: [String]
    /// The directories as the flag named them, for messages.
    public let given: [String]
    /// The agent's user: nothing the rule trusts may be owned by it. Nil (or root): ownership is not checked.
    public let user: UInt32?

    init(resolved: [String], given: [String], user: UInt32?) {
        directories = resolved
        self.given = given
        self.user = user
    }

    /// The allowlist of `--allow-exec` `directories`, checked as the agent starts: each exists, it, the directories
    /// above it and the programs in it pass the rule, and it does not overlap any of `trees` (resolved paths, each
    /// with what a message calls it).
    public init(directories: [String], user: UInt32?, trees: [(path: String, what: String)] = [])
        throws(ExecAllowlistError)
    {
        var resolved: [String] = []
        for directory in directories {
            guard let real = Self.realPath(directory) else {
                throw ExecAllowlistError("\(Self.flag) \(directory): no such directory, or it cannot be read")
            }
            let refuse = { (why: String) in ExecAllowlistError("\(Self.flag) \(directory) is refused: \(why)") }
            guard Self.kind(of: real) == S_IFDIR else { throw refuse("it is not a directory") }
            for (tree, what) in trees {
                if Self.isInside(real, tree) { throw refuse("it is inside \(what) \(tree)") }
                if Self.isInside(tree, real) { throw refuse("it holds \(what) \(tree)") }
            }
            let list = ExecAllowlist(resolved: [real], given: [directory], user: user)
            if let why = list.untrusted(above: real, including: true) { throw refuse(why) }
            for entry in Self.entries(of: real) {
                let path = real + "/" + entry
                let kind = Self.kind(of: path)
                guard kind == S_IFREG || kind == S_IFDIR, let why = list.untrusted(path) else { continue }
                throw refuse("it holds \(path), which \(why)")
            }
            resolved.append(real)
        }
        self.init(resolved: resolved, given: directories, user: user)
    }

    /// The file to run for `program`, resolved; or why it may not run. `trees`: resolved paths the program may not
    /// lie in now (the project's tree, the state directory), each with what a message calls it.
    public func resolve(_ program: String, trees: [(path: String, what: String)] = []) throws(ExecRefusal) -> String {
        // Where a program outside the allowed directories leads is not said: the caller learns nothing of the host.
        let outside = ExecRefusal(
            program: program,
            reason: directories.isEmpty
                ? "this agent runs no program (no \(Self.flag)); start the agent with \(Self.flag) naming a directory that holds it to allow it"
                : "it is not a file inside a directory this agent may run programs from (\(Self.flag) \(given.joined(separator: ", \(Self.flag) "))); "
                    + "put it in one, or start the agent with \(Self.flag) naming its directory")
        guard program.hasPrefix("/") else { throw outside }
        // A program named inside an allowed directory (no `..` leading out) may be said to be missing there.
        let plain = !program.split(separator: "/").contains { $0 == ".." || $0 == "." }
        let named = plain ? (directories + given).first { Self.isInside(program, $0) } : nil
        guard let real = Self.realPath(program) else {
            guard let named else { throw outside }
            throw ExecRefusal(
                program: program, reason: "there is no such program in \(Self.flag) \(named), or it cannot be read")
        }
        guard directories.contains(where: { Self.isInside(real, $0) }) else { throw outside }
        if let (tree, what) = trees.first(where: { Self.isInside(real, $0.path) }) {
            throw ExecRefusal(program: program, reason: "it lies in \(what) \(tree)")
        }
        guard Self.kind(of: real) == S_IFREG else {
            throw ExecRefusal(program: program, reason: "\(real) is not a regular file")
        }
        // Checked now as well as at start: a program put there since, or a mode changed.
        if let why = untrusted(above: real, including: false) {
            throw ExecRefusal(program: program, reason: (real == program ? "" : "it resolves to \(real); ") + why)
        }
        if let why = untrusted(real) {
            throw ExecRefusal(
                program: program, reason: (real == program ? "it " : "it resolves to \(real), which ") + why)
        }
        return real
    }

    /// Why `path` (resolved) cannot be trusted to stay as the host made it; nil if it can.
    func untrusted(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return "cannot be read" }
        let mode = info.st_mode & 0o7777
        let sticky = info.st_mode & S_IFMT == S_IFDIR && mode & 0o1000 != 0
        if mode & 0o022 != 0 && !sticky {
            return "is writable by group or others (mode \(String(mode, radix: 8))); run: chmod go-w \(path)"
        }
        if let user, user != 0, info.st_uid == user {
            return "is owned by the agent's own user (uid \(user)), which could change it; make root its owner"
        }
        return nil
    }

    /// Why a directory from `path` up to the file system's root cannot be trusted (`path` itself only when
    /// `including`): whoever may change one of them may put another file in the program's place.
    func untrusted(above path: String, including: Bool) -> String? {
        var current = including ? path : Self.parent(of: path)
        while true {
            if let why = untrusted(current) { return current == path ? "it " + why : "\(current) above it " + why }
            if current == "/" { return nil }
            current = Self.parent(of: current)
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// Whether `path` is `directory` or inside it, both resolved.
    static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }

    /// `path` with every symbolic link followed; nil if it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }

    /// The file type bits of `path` (not following a final link).
    static func kind(of path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    /// The names in a directory, but `.` and `..`.
    static func entries(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// A program the allowlist refuses: which, and why; the message names the flag.
public struct ExecRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var program: String
    public var reason: String

    /// `program '/bin/sh' is refused: this agent runs no program (no --allow-exec); ...`
    public var message: String { "program '\(program)' is refused: \(reason)" }
    public var description: String { message }
}

/// `--allow-exec` directories an agent cannot start with, and why.
public struct ExecAllowlistError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
