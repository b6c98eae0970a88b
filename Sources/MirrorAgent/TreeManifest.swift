import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// What a tree holds, entry by entry, as a list of changes compares it: each path's type, permissions, owner, size,
/// time, a file's inode (rsync writes every file it changes as a new one, so a file rewritten with its old size and
/// time still shows) and a link's target. Sorted by path, as bytes.
struct TreeManifest: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var path: [UInt8]
        var kind: ChangeEntry.Kind
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var size: Int64
        var seconds: Int64
        var nanoseconds: Int64
        var inode: UInt64
        var target: [UInt8]

        /// Whether `self` and `other` (one path, one kind) differ as a mirror must see it.
        func differs(from other: Entry) -> Bool {
            if mode != other.mode || uid != other.uid || gid != other.gid || seconds != other.seconds
                || nanoseconds != other.nanoseconds
            {
                return true
            }
            switch kind {
            case .file: return size != other.size || inode != other.inode
            case .symlink: return target != other.target
            case .directory: return false
            }
        }
    }

    var entries: [Entry]

    /// Names left out at any depth: rsync's holding directories of `--delay-updates`.
    static let skipped: Set<[UInt8]> = [Array(".~tmp~".utf8)]

    /// Walks `root` (followed if it is a link, as a tree published by revisions is), the top included as the empty
    /// path; nil if `root` cannot be read.
    static func read(_ root: String) -> TreeManifest? {
        var info = stat()
        guard stat(root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
        var entries = [entry([], info, target: [])]
        // Paths, not open directories: a wide tree would hold a descriptor for each directory waiting its turn.
        var pending: [[UInt8]] = [[]]
        while let directory = pending.popLast() {
            let fd = open(
                ListedTree.cPath(root, directory),
                O_RDONLY | O_DIRECTORY | O_CLOEXEC | (directory.isEmpty ? 0 : O_NOFOLLOW))
            guard fd >= 0 else { return nil }
            guard let handle = fdopendir(fd) else {
                close(fd)
                return nil
            }
            defer { closedir(handle) }
            while let item = readdir(handle) {
                let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
                if name == [0x2E] || name == [0x2E, 0x2E] || skipped.contains(name) { continue }
                let path = directory.isEmpty ? name : directory + [UInt8(ascii: "/")] + name
                let cName = name.map { CChar(bitPattern: $0) } + [0]
                guard fstatat(fd, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                var target: [UInt8] = []
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    pending.append(path)
                case S_IFLNK:
                    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let count = readlinkat(fd, cName, &buffer, buffer.count)
                    target = buffer.prefix(max(0, count)).map { UInt8(bitPattern: $0) }
                case S_IFREG: break
                default: continue
                }
                entries.append(entry(path, info, target: target))
            }
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        return TreeManifest(entries: entries)
    }

    static func entry(_ path: [UInt8], _ info: stat, target: [UInt8]) -> Entry {
        let kind: ChangeEntry.Kind =
            switch info.st_mode & S_IFMT {
            case S_IFDIR: .directory
            case S_IFLNK: .symlink
            default: .file
            }
        return Entry(
            path: path, kind: kind, mode: kind == .symlink ? 0 : UInt32(info.st_mode & 0o7777), uid: info.st_uid,
            gid: info.st_gid, size: Int64(info.st_size), seconds: Int64(info.st_mtim.tv_sec),
            nanoseconds: Int64(info.st_mtim.tv_nsec), inode: UInt64(info.st_ino), target: target)
    }

    /// What `self` (the tree before) became in `new`, as a change list: deletions before creations of one path (a
    /// change of type), every name of a hard-linked file listed with any that is, `twoStage` marked.
    func changes(to new: TreeManifest, twoStage: StagePatterns, revision: Int) -> ChangeList {
        var listed: [ChangeEntry] = []
        var touched: [Entry] = []
        var (i, j) = (0, 0)
        let (old, now) = (entries, new.entries)
        func stage(_ e: Entry) -> Bool { twoStage.matches(e.path, isDirectory: e.kind == .directory) }
        while i < old.count || j < now.count {
            if j == now.count || (i < old.count && old[i].path.lexicographicallyPrecedes(now[j].path)) {
                listed.append(ChangeEntry(.deleted, old[i].kind, old[i].path, twoStage: stage(old[i])))
                i += 1
            } else if i == old.count || now[j].path.lexicographicallyPrecedes(old[i].path) {
                listed.append(ChangeEntry(.created, now[j].kind, now[j].path, twoStage: stage(now[j])))
                touched.append(now[j])
                j += 1
            } else {
                if old[i].kind != now[j].kind {
                    listed.append(ChangeEntry(.deleted, old[i].kind, old[i].path, twoStage: stage(old[i])))
                    listed.append(ChangeEntry(.created, now[j].kind, now[j].path, twoStage: stage(now[j])))
                    touched.append(now[j])
                } else if now[j].differs(from: old[i]) {
                    listed.append(ChangeEntry(.changed, now[j].kind, now[j].path, twoStage: stage(now[j])))
                    touched.append(now[j])
                }
                i += 1
                j += 1
            }
        }
        // rsync keeps files hard-linked only among those one pass lists: a listed file's other names come with it, all
        // marked, so that a pass that brings one of them brings them all.
        let files = touched.filter { $0.kind == .file }
        if !files.isEmpty {
            var groups: [UInt64: [Entry]] = [:]
            for entry in now where entry.kind == .file { groups[entry.inode, default: []].append(entry) }
            var linked = Set<[UInt8]>()
            var seen = Set(touched.map(\.path))
            for file in files {
                guard let group = groups[file.inode], group.count > 1 else { continue }
                for other in group {
                    linked.insert(other.path)
                    if seen.insert(other.path).inserted {
                        listed.append(ChangeEntry(.changed, .file, other.path, twoStage: stage(other)))
                    }
                }
            }
            for index in listed.indices where listed[index].operation != .deleted && linked.contains(listed[index].path)
            {
                listed[index].hardLinked = true
            }
        }
        return ChangeList(revision: revision, entries: listed)
    }
}
