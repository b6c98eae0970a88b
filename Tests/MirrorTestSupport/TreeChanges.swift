import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Random changes to a tree, as a hostile or merely busy upstream makes them: creates, rewrites, deletes and renames;
/// every change of type among file, directory and symlink; symlinks to files, to directories and to nothing; hard
/// links; mode and time changes; empty directories appearing and going; names with spaces, newlines, leading dashes,
/// glob characters and bytes that are not UTF-8. Seeded, so that a round is made again from its seed.
///
/// Every link stays inside the tree by its text (relative, never climbing above the top), as a mirror keeps links
/// (`--safe-links`); so a directory is renamed only within its parent, where the links inside it keep their depth.
public struct TreeChanges {
    public let root: String
    public var random: SeededGenerator
    private var serial = 0

    public init(root: String, seed: UInt64) {
        self.root = root
        random = SeededGenerator(state: seed)
    }

    /// The kinds of change, each as likely as the others.
    public enum Change: CaseIterable, Sendable {
        case create, rewrite, delete, rename, changeType, symlink, hardLink, chmod, touch, emptyDirectory, removeEmpty
    }

    /// Makes `count` random changes; returns what each did, for a failure's message.
    public mutating func round(changes count: Int) throws -> [String] {
        var done: [String] = []
        for _ in 0..<count {
            let change = Change.allCases.randomElement(using: &random)!
            if let line = try make(change) { done.append(line) }
        }
        try settle()
        return done
    }

    /// Gives every entry changed in the last minute (and so every directory a change touched) a time of the past, as
    /// an upstream's tree has by the time a mirror pulls it. rsync takes two times in the same second as equal for a
    /// directory or a link, so a tree pulled within the second it changed may keep the time of its own change there
    /// until the next one: a limit of rsync's, which this test is not about.
    public mutating func settle() throws {
        let recent = time(nil) - 60
        let tree = try RawTree.read(root)
        for (path, entry) in tree.entries.sorted(by: { $0.key < $1.key }) where entry.modified.tv_sec >= recent {
            try setTime(path)
        }
        try setTime(RawPath([UInt8]()))
    }

    /// One change; nil when the tree has nothing it applies to (no file to rewrite, say).
    public mutating func make(_ change: Change) throws -> String? {
        let tree = try RawTree.read(root)
        let files = tree.entries.filter { if case .file = $0.value.kind { true } else { false } }.keys.sorted()
        let directories = [RawPath([UInt8]())] + tree.entries.filter { $0.value.kind == .directory }.keys.sorted()
        let all = tree.entries.keys.sorted()
        switch change {
        case .create:
            let path = newPath(in: directories.randomElement(using: &random)!)
            try writeFile(path)
            return "created file \(path)"
        case .rewrite:
            guard let path = files.randomElement(using: &random) else { return nil }
            try writeFile(path, truncating: true)
            return "rewrote \(path)"
        case .delete:
            guard let path = all.randomElement(using: &random) else { return nil }
            try remove(path)
            return "deleted \(path)"
        case .rename:
            guard let path = all.randomElement(using: &random) else { return nil }
            let isDirectory = tree.entries[path]?.kind == .directory
            // A file may move anywhere; a directory or a link stays at its depth, so that its links stay inside.
            let isFile = files.contains(path)
            let parent = isFile ? directories.randomElement(using: &random)! : path.parent
            let target = newPath(in: parent)
            guard rename(path.cString(under: root), target.cString(under: root)) == 0 else {
                throw fail("rename \(path) to \(target)")
            }
            return "renamed \(isDirectory ? "directory" : "entry") \(path) to \(target)"
        case .changeType:
            guard let path = all.randomElement(using: &random), let was = tree.entries[path]?.kind else { return nil }
            try remove(path)
            let kinds = ["file", "directory", "symlink"].filter { $0 != Self.kindName(was) }
            let kind = kinds.randomElement(using: &random)!
            switch kind {
            case "file": try writeFile(path)
            case "directory": try makeDirectory(path, children: Int.random(in: 0...3, using: &random))
            default: try makeLink(path, among: all.filter { $0 != path && !$0.bytes.starts(with: path.bytes + [0x2F]) })
            }
            return "changed \(path) from a \(Self.kindName(was)) to a \(kind)"
        case .symlink:
            let path = newPath(in: directories.randomElement(using: &random)!)
            let target = try makeLink(path, among: all)
            return "linked \(path) to \(target)"
        case .hardLink:
            guard let file = files.randomElement(using: &random) else { return nil }
            let path = newPath(in: directories.randomElement(using: &random)!)
            guard link(file.cString(under: root), path.cString(under: root)) == 0 else {
                throw fail("hard-link \(file) as \(path)")
            }
            return "hard-linked \(file) as \(path)"
        case .chmod:
            guard let path = (files + directories.dropFirst()).randomElement(using: &random) else { return nil }
            let isDirectory = tree.entries[path]?.kind == .directory
            // Modes others may read: an upstream's rsync daemon reads as nobody, and a mirror serves what all may read.
            let mode = (isDirectory ? [0o755, 0o775, 0o555, 0o705] : [0o644, 0o604, 0o755, 0o444, 0o664])
                .randomElement(using: &random)!
            guard chmod(path.cString(under: root), mode_t(mode)) == 0 else { throw fail("chmod \(path)") }
            return "chmod \(String(mode, radix: 8)) \(path)"
        case .touch:
            guard let path = all.randomElement(using: &random) else { return nil }
            try setTime(path)
            return "touched \(path)"
        case .emptyDirectory:
            let path = newPath(in: directories.randomElement(using: &random)!)
            try makeDirectory(path, children: 0)
            return "made empty directory \(path)"
        case .removeEmpty:
            let empty = directories.dropFirst().filter { directory in
                !tree.entries.keys.contains { $0.parent == directory && $0 != directory }
            }
            guard let path = empty.randomElement(using: &random) else { return nil }
            guard rmdir(path.cString(under: root)) == 0 else { throw fail("rmdir \(path)") }
            return "removed empty directory \(path)"
        }
    }

    /// A file rewritten twice, so that it ends with other contents but the size and time it had before the first
    /// rewrite: what a slave that missed the revision in between must still fetch, though rsync's quick check (size
    /// and time) would take it for unchanged. The upstream cannot make it in one step (the master's own quick check
    /// would miss it too): `rewriteKeepingSize` makes the first step, `finish` the second, with a sync of the master
    /// between them.
    public struct SameSizeRewrite: Sendable {
        public var path: RawPath
        var size: Int
        var time: timespec
    }

    /// The first step: the file's contents and time changed, its size kept; nil if no file has a size to keep.
    public mutating func rewriteKeepingSize() throws -> SameSizeRewrite? {
        let tree = try RawTree.read(root)
        let files = tree.entries.compactMap { path, entry -> (RawPath, Int, timespec)? in
            guard case .file(let size, _) = entry.kind, size > 0, entry.linkGroup == nil else { return nil }
            return (path, size, entry.modified)
        }.sorted { $0.0 < $1.0 }
        guard let (path, size, time) = files.randomElement(using: &random) else { return nil }
        try overwrite(path, size: size, salt: 1)
        try setTime(path)
        return SameSizeRewrite(path: path, size: size, time: time)
    }

    /// The second step: other contents again, of the first size, and the first time back.
    public func finish(_ rewrite: SameSizeRewrite) throws -> String {
        try overwrite(rewrite.path, size: rewrite.size, salt: 2)
        let times = [rewrite.time, rewrite.time]
        guard utimensat(AT_FDCWD, rewrite.path.cString(under: root), times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw fail("set the time of \(rewrite.path)")
        }
        return "rewrote \(rewrite.path) twice, ending with its old size and time"
    }

    /// Writes `size` bytes over the file where it stands (its inode and directory untouched), unlike any it held.
    func overwrite(_ path: RawPath, size: Int, salt: UInt8) throws {
        let old = try RawTree.readFile(path.cString(under: root))
        let contents = (0..<size).map { i in (i < old.count ? old[i] : 0) &+ salt &+ UInt8(truncatingIfNeeded: i) | 1 }
        let fd = open(path.cString(under: root), O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw fail("open \(path)") }
        defer { close(fd) }
        guard contents.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == size else {
            throw fail("write \(path)")
        }
    }

    static func kindName(_ kind: RawTree.Kind) -> String {
        switch kind {
        case .file: "file"
        case .directory: "directory"
        case .symlink: "symlink"
        }
    }

    /// A name no entry of `directory` has: a word, decorated with what breaks careless tools.
    mutating func newPath(in directory: RawPath) -> RawPath {
        let words = ["pool", "dists", "Release", "Packages.gz", "file", "x", "main", "current"]
        let decorations: [[UInt8]] = [
            [], [], Array(" with space".utf8), [0x0A] + Array("line".utf8), Array("*".utf8), Array("?".utf8),
            Array("[ab]".utf8), Array("{a,b}".utf8), [0xFF, 0xFE], [0xC3, 0x28], Array("é".utf8), Array("\\".utf8),
        ]
        while true {
            serial += 1
            var name = Array(words.randomElement(using: &random)!.utf8) + decorations.randomElement(using: &random)!
            name += Array("-\(serial)".utf8)
            if Int.random(in: 0..<6, using: &random) == 0 { name = Array("-".utf8) + name }
            let path = directory.appending(name)
            var info = stat()
            if lstat(path.cString(under: root), &info) != 0 { return path }
        }
    }

    mutating func writeFile(_ path: RawPath, truncating: Bool = false) throws {
        let size = [0, 1, 17, 512, 4096, 70_000].randomElement(using: &random)!
        let byte = UInt8.random(in: 0...255, using: &random)
        let contents = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(byte)) }
        let fd = open(path.cString(under: root), O_WRONLY | O_CREAT | (truncating ? O_TRUNC : O_EXCL), 0o644)
        guard fd >= 0 else { throw fail("create \(path)") }
        defer { close(fd) }
        guard contents.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == size else {
            throw fail("write \(path)")
        }
        if !truncating {
            let mode = [0o644, 0o755, 0o444].randomElement(using: &random)!
            fchmod(fd, mode_t(mode))
        }
        try setTime(path)
    }

    mutating func makeDirectory(_ path: RawPath, children: Int) throws {
        guard mkdir(path.cString(under: root), 0o755) == 0 else { throw fail("mkdir \(path)") }
        for _ in 0..<children {
            let child = newPath(in: path)
            if Bool.random(using: &random) { try writeFile(child) } else { try makeDirectory(child, children: 1) }
        }
        try setTime(path)
    }

    /// A link at `path` to one of `candidates`, or to a name nothing has (dangling), written relative to the link's
    /// own directory; returns the target.
    @discardableResult
    mutating func makeLink(_ path: RawPath, among candidates: [RawPath]) throws -> RawPath {
        let up = Array(repeating: Array("../".utf8), count: path.components.count - 1).flatMap { $0 }
        let target: [UInt8]
        if let aim = candidates.randomElement(using: &random), Int.random(in: 0..<4, using: &random) != 0 {
            target = up + aim.bytes
        } else {
            target = Array("missing-\(serial)".utf8)
        }
        guard symlink(target.map { CChar(bitPattern: $0) } + [0], path.cString(under: root)) == 0 else {
            throw fail("symlink \(path)")
        }
        try setTime(path)
        return RawPath(target)
    }

    /// A time of the past, to the nanosecond, so that a rewrite of the same size is still seen as a change.
    mutating func setTime(_ path: RawPath) throws {
        let time = timespec(
            tv_sec: Int.random(in: 1_500_000_000..<1_700_000_000, using: &random),
            tv_nsec: Int.random(in: 0..<1_000_000_000, using: &random))
        let times = [time, time]
        guard utimensat(AT_FDCWD, path.cString(under: root), times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw fail("set the time of \(path)")
        }
    }

    func remove(_ path: RawPath) throws {
        var info = stat()
        guard lstat(path.cString(under: root), &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            try removeDirectory(path)
        } else if unlink(path.cString(under: root)) != 0 {
            throw fail("unlink \(path)")
        }
    }

    func removeDirectory(_ path: RawPath) throws {
        guard let handle = opendir(path.cString(under: root)) else { throw fail("open \(path)") }
        var names: [[UInt8]] = []
        while let item = readdir(handle) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        closedir(handle)
        for name in names { try remove(path.appending(name)) }
        guard rmdir(path.cString(under: root)) == 0 else { throw fail("rmdir \(path)") }
    }

    func fail(_ what: String) -> RawTreeError { RawTreeError("cannot \(what) under \(root): errno \(errno)") }
}
