import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// What an incremental pull does to a tree itself, by paths as bytes (a name need not be UTF-8): what a path is, its
/// removal, and a new revision made from the served one without the paths a list names.
enum ListedTree {
    static func cPath(_ root: String, _ path: [UInt8]) -> [CChar] {
        var bytes = Array(root.utf8)
        while bytes.count > 1 && bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        if !path.isEmpty { bytes += [UInt8(ascii: "/")] + path }
        return bytes.map { CChar(bitPattern: $0) } + [0]
    }

    /// What `path` is under `root`, not following a link; nil if nothing.
    static func kind(_ root: String, _ path: [UInt8]) -> ChangeEntry.Kind? {
        var info = stat()
        guard lstat(cPath(root, path), &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .file
        }
    }

    /// Removes `path` under `root` and, for a directory, all it holds; true if nothing is left there.
    @discardableResult
    static func remove(_ root: String, _ path: [UInt8]) -> Bool {
        guard !path.isEmpty, let kind = kind(root, path) else { return true }
        let full = cPath(root, path)
        guard kind == .directory else { return unlink(full) == 0 }
        for name in names(in: full) { remove(root, path + [UInt8(ascii: "/")] + name) }
        return rmdir(full) == 0
    }

    /// The times of those of `paths` under `root` that are directories, for `restore`.
    static func times(_ root: String, of paths: [[UInt8]]) -> [([UInt8], timespec, timespec)] {
        var info = stat()
        return paths.compactMap { path in
            guard lstat(cPath(root, path), &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
            return (path, info.st_atim, info.st_mtim)
        }
    }

    /// Sets the directories `times` names back to the times it holds, where they still are.
    static func restore(_ root: String, _ times: [([UInt8], timespec, timespec)]) {
        for (path, access, modification) in times {
            _ = utimensat(AT_FDCWD, cPath(root, path), [access, modification], AT_SYMLINK_NOFOLLOW)
        }
    }

    static func names(in directory: [CChar]) -> [[UInt8]] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [[UInt8]] = []
        while let item = readdir(handle) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }

    /// Makes `build` (an empty directory) a copy of `base` that shares its files (hard links), leaving out every path
    /// `union` names but its directories: what the list names comes from the master, what it deletes is not made.
    /// Directories and links are made anew, so that setting their times or modes never touches the served revision.
    /// Returns the entries made.
    static func clone(_ base: String, into build: String, without union: ChangeUnion) -> Int {
        var listed: [[UInt8]: ChangeEntry.Kind] = [:]
        var gone = Set(union.deletions.map(\.path))
        for item in union.transfers {
            listed[item.path] = item.kind
            gone.remove(item.path)
        }
        var made = 0
        var directories: [([UInt8], stat)] = []
        var pending: [[UInt8]] = [[]]
        var info = stat()
        while let directory = pending.popLast() {
            for name in names(in: cPath(base, directory)) where name != Array(".~tmp~".utf8) {
                let path = directory.isEmpty ? name : directory + [UInt8(ascii: "/")] + name
                let (from, to) = (cPath(base, path), cPath(build, path))
                guard !gone.contains(path), lstat(from, &info) == 0 else { continue }
                let kind: ChangeEntry.Kind =
                    info.st_mode & S_IFMT == S_IFDIR ? .directory : info.st_mode & S_IFMT == S_IFLNK ? .symlink : .file
                // A listed file or link comes whole from the master; a listed path of another type, with all below it.
                if let wanted = listed[path], wanted != .directory || kind != .directory { continue }
                switch kind {
                case .directory:
                    guard mkdir(to, 0o700) == 0 else { continue }
                    directories.append((path, info))
                    pending.append(path)
                case .symlink:
                    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let count = readlink(from, &buffer, buffer.count - 1)
                    guard count >= 0 else { continue }
                    buffer[count] = 0
                    guard symlink(buffer, to) == 0 else { continue }
                    _ = lchown(to, info.st_uid, info.st_gid)
                    let times = [info.st_atim, info.st_mtim]
                    _ = utimensat(AT_FDCWD, to, times, AT_SYMLINK_NOFOLLOW)
                case .file:
                    guard link(from, to) == 0 else { continue }
                }
                made += 1
            }
        }
        // The directories' modes, owners and times once what they hold is made, deepest first.
        if lstat(cPath(base, []), &info) == 0 { directories.append(([], info)) }
        for (path, info) in directories.reversed() {
            let to = cPath(build, path)
            _ = lchown(to, info.st_uid, info.st_gid)
            _ = chmod(to, info.st_mode & 0o7777)
            let times = [info.st_atim, info.st_mtim]
            _ = utimensat(AT_FDCWD, to, times, AT_SYMLINK_NOFOLLOW)
        }
        return made
    }
}
