import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A path inside a tree as the bytes the kernel has, so that names that are not UTF-8 (or hold a newline) survive:
/// Foundation's `String` paths cannot carry them.
public struct RawPath: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }

    public static func < (a: RawPath, b: RawPath) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// `self/name`; the root is the empty path.
    public func appending(_ name: [UInt8]) -> RawPath {
        RawPath(bytes.isEmpty ? name : bytes + [UInt8(ascii: "/")] + name)
    }

    public var components: [[UInt8]] { bytes.split(separator: UInt8(ascii: "/")).map(Array.init) }

    public var parent: RawPath { RawPath(components.dropLast().joined(separator: [UInt8(ascii: "/")]).map { $0 }) }

    public var name: [UInt8] { components.last ?? [] }

    /// Printable: control characters and bytes that are not ASCII as `\xNN`.
    public var description: String {
        bytes.map {
            $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\")
                ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0)
        }
        .joined()
    }

    /// `root/self` as a C string for the system calls.
    public func cString(under root: String) -> [CChar] {
        let full = Array(root.utf8) + (bytes.isEmpty ? [] : [UInt8(ascii: "/")] + bytes)
        return full.map { CChar(bitPattern: $0) } + [0]
    }
}

/// What a tree holds, compared as a mirror must keep it: each entry's type, permission bits and modification time,
/// a file's contents, a link's target, and which files are hard links of one another (by inode inside the tree, so
/// that a revision hard-linked to the one before it is no different from a copy).
public struct RawTree: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case file(size: Int, digest: UInt64)
        case directory
        case symlink(target: [UInt8])
    }

    public struct Entry: Equatable, Sendable {
        public var kind: Kind
        /// Permission bits; a link's are not compared (Linux ignores them).
        public var mode: UInt32
        public var modified: timespec
        /// The first path, in byte order, of the file's hard-link group when it has more than one name in the tree.
        public var linkGroup: RawPath?

        public static func == (a: Entry, b: Entry) -> Bool {
            a.kind == b.kind && a.mode == b.mode && a.modified.tv_sec == b.modified.tv_sec
                && a.modified.tv_nsec == b.modified.tv_nsec && a.linkGroup == b.linkGroup
        }
    }

    public var entries: [RawPath: Entry]

    /// Reads every entry under `root` (not `root` itself), following no link; `skip` leaves out entries by name at
    /// the top (a host's own files beside the mirrored tree).
    public static func read(_ root: String, skipping skip: Set<[UInt8]> = []) throws -> RawTree {
        var entries: [RawPath: Entry] = [:]
        var inodes: [UInt64: [RawPath]] = [:]
        var pending = [RawPath([UInt8]())]
        while let directory = pending.popLast() {
            guard let handle = opendir(directory.cString(under: root)) else {
                throw RawTreeError("cannot open directory \(directory) under \(root): errno \(errno)")
            }
            defer { closedir(handle) }
            while let item = readdir(handle) {
                let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
                if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
                if directory.bytes.isEmpty && skip.contains(name) { continue }
                let path = directory.appending(name)
                var info = stat()
                guard lstat(path.cString(under: root), &info) == 0 else {
                    throw RawTreeError("cannot stat \(path) under \(root)")
                }
                let kind: Kind
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    kind = .directory
                    pending.append(path)
                case S_IFLNK:
                    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let count = readlink(path.cString(under: root), &buffer, buffer.count)
                    kind = .symlink(target: buffer.prefix(max(0, count)).map { UInt8(bitPattern: $0) })
                case S_IFREG:
                    let contents = try readFile(path.cString(under: root))
                    kind = .file(size: contents.count, digest: fnv1a(contents))
                    inodes[UInt64(info.st_ino), default: []].append(path)
                default:
                    throw RawTreeError("\(path) under \(root) is neither a file, a directory nor a link")
                }
                let isLink = info.st_mode & S_IFMT == S_IFLNK
                entries[path] = Entry(
                    kind: kind, mode: isLink ? 0 : UInt32(info.st_mode & 0o7777), modified: info.st_mtim,
                    linkGroup: nil)
            }
        }
        for group in inodes.values where group.count > 1 {
            let first = group.min()!
            for path in group { entries[path]?.linkGroup = first }
        }
        return RawTree(entries: entries)
    }

    /// What differs between `self` (what should be) and `other`, one line an entry, at most `limit` lines.
    public func differences(from other: RawTree, limit: Int = 20) -> [String] {
        var lines: [String] = []
        for path in Set(entries.keys).union(other.entries.keys).sorted() {
            let want = entries[path]
            let have = other.entries[path]
            guard want != have else { continue }
            lines.append(
                "\(path): expected \(want.map(Self.describe) ?? "nothing"), found \(have.map(Self.describe) ?? "nothing")"
            )
            if lines.count == limit { break }
        }
        return lines
    }

    static func describe(_ entry: Entry) -> String {
        let kind =
            switch entry.kind {
            case .file(let size, let digest): "file of \(size) bytes #\(String(digest, radix: 16))"
            case .directory: "directory"
            case .symlink(let target): "link to \(RawPath(target))"
            }
        var text =
            kind + String(format: " mode %o mtime %d.%09d", entry.mode, entry.modified.tv_sec, entry.modified.tv_nsec)
        if let group = entry.linkGroup { text += " linked with \(group)" }
        return text
    }

    static func readFile(_ path: [CChar]) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw RawTreeError("cannot open \(String(cString: path)): errno \(errno)") }
        defer { close(fd) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            contents += buffer.prefix(count)
        }
        return contents
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

public struct RawTreeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
