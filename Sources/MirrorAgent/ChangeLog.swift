import Foundation
import Logging
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// The master's change lists: after each successful sync of a project, what its tree now holds compared with what it
/// held at the revision before (`TreeManifest`), kept as that revision's list for the slaves' incremental pulls.
///
/// In the state directory, `changes/PROJECT/`: `manifest` (the tree at the newest revision, with that revision's
/// number) and `REVISION.list` (`ChangeList.text`), for the last `keepRevisions` revisions and at most `keepBytes` of
/// lists, the oldest dropped first; a list larger than that is not kept, so the chain breaks there and a slave behind it
/// walks its whole tree.
///
/// Why compare the trees rather than read rsync's itemized output: one way for every kind of sync (rsync in place, in
/// two passes, a revision built with `--link-dest` whose hard-linked files rsync never names and whose deletions it
/// never makes, an upstream that is a program), and the list is what the slaves must match, the served tree, with the
/// files the agent writes itself (trace files) and whatever else changed it. It costs one walk of the master's own
/// tree (no network) per revision, however many slaves pull.
public actor ChangeLog {
    let directory: String
    let keepRevisions: Int
    let keepBytes: Int
    let logger: Logger

    public init(directory: String, keepRevisions: Int = 64, keepBytes: Int = 64 << 20, logger: Logger) {
        self.directory = directory
        self.keepRevisions = keepRevisions
        self.keepBytes = keepBytes
        self.logger = logger
    }

    func projectDirectory(_ project: String) -> String { directory + "/" + project }

    /// Records what `revision` of `project` changed, reading its tree at `tree`. Off the caller's executor: a large
    /// tree takes a while to walk.
    public func record(project: String, revision: Int, tree: String, twoStage: [String]) async {
        let folder = projectDirectory(project)
        let (keepRevisions, keepBytes, logger) = (self.keepRevisions, self.keepBytes, self.logger)
        await Task.detached {
            let began = ContinuousClock.now
            guard let now = TreeManifest.read(tree) else {
                logger.warning("cannot read the tree to list its changes", metadata: ["project": "\(project)"])
                return
            }
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // Lists at or past this revision are of an earlier life of the project (removed and added again).
            for (stale, _) in Self.lists(in: folder) where stale >= revision {
                unlink(folder + "/\(stale).list")
            }
            var kept = "no list: no earlier tree to compare"
            if let (before, old) = Self.readManifest(folder + "/manifest"), before == revision - 1 {
                let list = old.changes(to: now, twoStage: StagePatterns(twoStage), revision: revision)
                let text = Array(list.text.utf8)
                if text.count > keepBytes {
                    kept = "no list: \(text.count) bytes, more than the \(keepBytes) kept"
                } else {
                    do throws(AtomicFile.Failure) {
                        try AtomicFile.write(text, to: folder + "/\(revision).list", mode: 0o640)
                        kept = "\(list.entries.count) entries"
                    } catch { kept = "no list: \(error.message)" }
                }
            }
            do throws(AtomicFile.Failure) {
                try AtomicFile.write(Self.encode(now, revision: revision), to: folder + "/manifest", mode: 0o640)
            } catch {
                logger.warning("cannot keep the tree's manifest", metadata: ["error": "\(error.message)"])
                unlink(folder + "/manifest")
            }
            Self.prune(folder, newest: revision, keepRevisions: keepRevisions, keepBytes: keepBytes)
            logger.info(
                "listed a revision's changes",
                metadata: [
                    "project": "\(project)", "revision": "\(revision)", "list": "\(kept)",
                    "entries": "\(now.entries.count)", "seconds": "\((ContinuousClock.now - began).inSeconds)",
                ])
        }.value
    }

    /// The lists of revisions `from`+1 through `to`, oldest first; nil when one of them is not kept.
    public func lists(project: String, from: Int, to: Int) async -> [ChangeList]? {
        guard from >= 0, to > from else { return nil }
        let folder = projectDirectory(project)
        return await Task.detached { () -> [ChangeList]? in
            var lists: [ChangeList] = []
            for revision in (from + 1)...to {
                guard let data = FileManager.default.contents(atPath: folder + "/\(revision).list"),
                    let list = try? ChangeList.parse(String(decoding: data, as: UTF8.self), revision: revision)
                else { return nil }
                lists.append(list)
            }
            return lists
        }.value
    }

    /// Forgets a removed project's lists.
    public func forget(_ project: String) {
        try? FileManager.default.removeItem(atPath: projectDirectory(project))
    }

    /// The lists kept in `folder`: revision and size in bytes, oldest first.
    static func lists(in folder: String) -> [(Int, Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { name -> (Int, Int)? in
            guard name.hasSuffix(".list"), let revision = Int(name.dropLast(5)) else { return nil }
            var info = stat()
            return stat(folder + "/" + name, &info) == 0 ? (revision, Int(info.st_size)) : nil
        }.sorted { $0.0 < $1.0 }
    }

    static func prune(_ folder: String, newest: Int, keepRevisions: Int, keepBytes: Int) {
        var kept = lists(in: folder)
        var bytes = kept.map(\.1).reduce(0, +)
        while let (oldest, size) = kept.first, oldest <= newest - keepRevisions || bytes > keepBytes {
            unlink(folder + "/\(oldest).list")
            bytes -= size
            kept.removeFirst()
        }
    }

    // MARK: - The manifest's file: "mirrorsync-manifest 1 REVISION\n", then one record an entry.

    static func encode(_ manifest: TreeManifest, revision: Int) -> [UInt8] {
        var out = Array("mirrorsync-manifest 1 \(revision)\n".utf8)
        out.reserveCapacity(out.count + manifest.entries.count * 80)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        for e in manifest.entries {
            put(UInt32(e.path.count))
            out += e.path
            out.append(UInt8(ascii: e.kind == .file ? "f" : e.kind == .directory ? "d" : "l"))
            put(e.mode)
            put(e.uid)
            put(e.gid)
            put(e.size)
            put(e.seconds)
            put(e.nanoseconds)
            put(e.inode)
            put(UInt32(e.target.count))
            out += e.target
        }
        return out
    }

    static func readManifest(_ path: String) -> (Int, TreeManifest)? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return decode(Array(data))
    }

    static func decode(_ bytes: [UInt8]) -> (Int, TreeManifest)? {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return nil }
        let header = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard header.count == 3, header[0] == "mirrorsync-manifest", header[1] == "1", let revision = Int(header[2])
        else { return nil }
        var at = newline + 1
        func take<T: FixedWidthInteger>(_: T.Type) -> T? {
            let size = MemoryLayout<T>.size
            guard at + size <= bytes.count else { return nil }
            var value = T.zero
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[at..<(at + size)]) }
            at += size
            return T(littleEndian: value)
        }
        func run(_ count: Int) -> [UInt8]? {
            guard count >= 0, at + count <= bytes.count else { return nil }
            defer { at += count }
            return Array(bytes[at..<(at + count)])
        }
        var entries: [TreeManifest.Entry] = []
        while at < bytes.count {
            guard let pathCount = take(UInt32.self), let path = run(Int(pathCount)), let kindByte = run(1),
                let mode = take(UInt32.self), let uid = take(UInt32.self), let gid = take(UInt32.self),
                let size = take(Int64.self), let seconds = take(Int64.self), let nanoseconds = take(Int64.self),
                let inode = take(UInt64.self), let targetCount = take(UInt32.self), let target = run(Int(targetCount))
            else { return nil }
            let kind: ChangeEntry.Kind =
                kindByte[0] == UInt8(ascii: "d") ? .directory : kindByte[0] == UInt8(ascii: "l") ? .symlink : .file
            entries.append(
                TreeManifest.Entry(
                    path: path, kind: kind, mode: mode, uid: uid, gid: gid, size: size, seconds: seconds,
                    nanoseconds: nanoseconds, inode: inode, target: target))
        }
        return (revision, TreeManifest(entries: entries))
    }
}
