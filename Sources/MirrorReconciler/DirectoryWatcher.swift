import Dispatch
import Logging
import MirrorCore
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// What changed in a watched mirrors.d since the last batch.
public struct DirectoryChange: Sendable, Hashable {
    /// Config files (names inside the directory) written, renamed, created as links, or deleted.
    public var files: Set<String> = []
    /// The kernel dropped events: anything may have changed.
    public var overflow = false
    /// The directory itself was swapped (a symlink flip, a rename over it), deleted, or came back.
    public var directoryReplaced = false

    public init(files: Set<String> = [], overflow: Bool = false, directoryReplaced: Bool = false) {
        self.files = files
        self.overflow = overflow
        self.directoryReplaced = directoryReplaced
    }

    public var isEmpty: Bool { files.isEmpty && !overflow && !directoryReplaced }
}

/// Reports changes of a mirrors.d directory; run as a `Service`, its `changes` finish when it stops.
public protocol DirectoryWatcher: Service {
    var changes: AsyncStream<DirectoryChange> { get }
}

/// A directory that cannot be watched, and the system's reason.
public struct WatchError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Watches a mirrors.d with Linux inotify: the directory (through a symlink, if it is one) for config files
/// written, renamed or deleted, and its parent for the directory's own name, so that a symlink flip
/// (`ln -sfn releases/42 mirrors.d`) or a rename over it moves the watch to the new directory.
///
/// The watches exist once `init` returns, so nothing done after it is missed; events wait in the kernel's
/// queue until `run()` reads them.
public final class InotifyWatcher: DirectoryWatcher {
    public let directory: String
    public let changes: AsyncStream<DirectoryChange>
    private let continuation: AsyncStream<DirectoryChange>.Continuation
    private let fd: Int32
    private let parent: String
    private let name: String
    private let logger: Logger

    private struct FileID: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    private struct Watches {
        var directory: Int32 = -1
        var identity: FileID?
        var parent: Int32 = -1
        var running = false
    }

    private let watches = Mutex(Watches())

    // Whole writes only (close, not modify), renames both ways, deletions; creations for links and subdirectories.
    private static let directoryMask = UInt32(
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF
            | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
    private static let parentMask = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)

    public init(directory: String, logger: Logger) throws(WatchError) {
        var path = directory
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.directory = path
        if let slash = path.lastIndex(of: "/") {
            parent = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            parent = "."
            name = path
        }
        self.logger = logger
        (changes, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw WatchError("cannot start inotify: \(String(cString: strerror(errno)))") }
        let parentWatch = inotify_add_watch(fd, parent, Self.parentMask)
        guard parentWatch >= 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw WatchError("cannot watch \(parent), the directory that holds \(name): \(reason)")
        }
        watches.withLock { $0.parent = parentWatch }
        _ = rewatch()
        guard watches.withLock({ $0.directory }) >= 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw WatchError("cannot watch \(path): \(reason)")
        }
    }

    deinit {
        // run() closes the descriptor when it ends; a watcher that never ran closes it here.
        if !watches.withLock({ $0.running }) { close(fd) }
    }

    /// Reads events until graceful shutdown or cancellation.
    public func run() async throws {
        watches.withLock { $0.running = true }
        let queue = DispatchQueue(label: "mirrorsync.inotify")
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [self] in drain() }
        source.setCancelHandler { [self] in
            close(fd)
            continuation.finish()
        }
        source.resume()
        try? await gracefulShutdown()
        source.cancel()
    }

    /// Reads everything the kernel holds and reports it as one batch; called on the source's queue only.
    private func drain() {
        var change = DirectoryChange()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
                while offset + 16 <= count {
                    let wd = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let bytes = raw[(offset + 16)..<min(count, offset + 16 + length)]
                    let entry = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                    handle(wd: wd, mask: mask, name: entry, into: &change)
                    offset += 16 + length
                }
            }
        }
        if !change.isEmpty {
            logger.debug(
                "directory changed",
                metadata: [
                    "files": "\(change.files.sorted().joined(separator: ","))", "overflow": "\(change.overflow)",
                    "replaced": "\(change.directoryReplaced)",
                ])
            continuation.yield(change)
        }
    }

    private func handle(wd: Int32, mask: UInt32, name entry: String, into change: inout DirectoryChange) {
        let (directoryWatch, parentWatch) = watches.withLock { ($0.directory, $0.parent) }
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            change.overflow = true
            // The lost events may have been a flip of the directory too.
            if rewatch() { change.directoryReplaced = true }
            return
        }
        if wd == parentWatch {
            if entry == name && rewatch() { change.directoryReplaced = true }
            return
        }
        guard wd == directoryWatch else { return }  // a watch already replaced, saying it is gone
        if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 {
            if mask & UInt32(IN_IGNORED) != 0 {
                watches.withLock {
                    $0.directory = -1
                    $0.identity = nil
                }
            }
            _ = rewatch()
            change.directoryReplaced = true
            return
        }
        // New subdirectories are ignored, as the loader ignores them.
        guard mask & UInt32(IN_ISDIR) == 0, DesiredStateLoader.isConfigFileName(entry) else { return }
        if mask & UInt32(IN_CREATE) != 0 {
            // A file being created is reported when it is closed; a link arrives whole.
            var info = stat()
            guard lstat(directory + "/" + entry, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return }
        }
        change.files.insert(entry)
    }

    /// Watches whatever directory the path names now; true when that is another directory than before.
    private func rewatch() -> Bool {
        // stat before inotify_add_watch: if a flip lands in between, the identity is the old one and the next
        // event from the parent moves the watch again.
        var info = stat()
        let present = stat(directory, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
        let identity = present ? FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
        return watches.withLock { w in
            if identity == w.identity && (w.directory >= 0 || identity == nil) { return false }
            let old = w.directory
            w.directory = present ? inotify_add_watch(fd, directory, Self.directoryMask) : -1
            w.identity = w.directory >= 0 ? identity : nil
            if old >= 0 && old != w.directory { inotify_rm_watch(fd, old) }
            logger.info(
                "watching mirrors.d", metadata: ["directory": "\(directory)", "present": "\(w.directory >= 0)"])
            return true
        }
    }
}
