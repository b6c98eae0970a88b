import Foundation
import Logging
import MirrorCore
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// A scratch directory, removed when the test ends.
public final class Scratch: Sendable {
    public let path: String

    public init(_ label: String = "mirrorsync") {
        path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func sub(_ name: String) -> String {
        let p = path + "/" + name
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

public enum Tree {
    /// Writes a tree with regular files, a symlink, a hard link and nested directories; `files` regular files in all.
    public static func generate(at root: String, files: Int, bytes: Int = 64, seed: Int = 0) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        for i in 0..<files {
            let dir = root + "/pool/\(i % 10)"
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let content = (0..<bytes).map { j in UInt8(truncatingIfNeeded: i &* 31 &+ j &* 7 &+ seed) }
            try Data(content).write(to: URL(fileURLWithPath: "\(dir)/file-\(i).deb"))
        }
        try fm.createSymbolicLink(atPath: root + "/current", withDestinationPath: "pool/0")
        if files > 0 { try fm.linkItem(atPath: root + "/pool/0/file-0.deb", toPath: root + "/hardlink.deb") }
    }

    /// Everything under `root` as relative path → description: file contents, link targets, and which files share an inode.
    public static func snapshot(_ root: String) throws -> [String: String] {
        var out: [String: String] = [:]
        var inodes: [UInt64: String] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: root) else { return out }
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                out[relative] = "link -> " + ((try? fm.destinationOfSymbolicLink(atPath: path)) ?? "?")
            case S_IFDIR:
                out[relative] = "dir"
            default:
                let data = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
                var description = "file \(data.count) \(data.hashValue)"
                if info.st_nlink > 1 {
                    if let first = inodes[UInt64(info.st_ino)] {
                        description += " linked to \(first)"
                    } else {
                        inodes[UInt64(info.st_ino)] = relative
                    }
                }
                out[relative] = description
            }
        }
        return out
    }

    public static func count(_ root: String) -> Int {
        (FileManager.default.enumerator(atPath: root)?.allObjects.count) ?? 0
    }
}

/// A product of this package, found beside the running test bundle or benchmark in the build folder.
public func builtProduct(_ name: String) -> String {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return ".build/debug/\(name)"
}

/// Whether an rsync is still writing into `destination`.
public func rsyncRunning(into destination: String) -> Bool {
    let pgrep = Process()
    pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
    pgrep.arguments = ["-f", "rsync .*" + destination]
    pgrep.standardOutput = FileHandle.nullDevice
    try? pgrep.run()
    pgrep.waitUntilExit()
    return pgrep.terminationStatus == 0
}

/// Runs blocking work (writing a large tree, waiting for a process to listen or a tool to end) on a thread of its
/// own rather than on one of the cooperative pool's threads: the pool has one per core (two here), and every suite's
/// in-process agents and timers share it, so a test blocking it for seconds stalled them all (HTTP calls to them timed
/// out under make test). Not a Dispatch queue: on Linux Swift's tasks run on Dispatch's global threads too.
public func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// Waits until `condition` holds, polling every 100 ms; fails saying what never happened.
public func eventually(_ what: String, seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ValueError("never \(what) within \(Int(seconds)) s")
}

/// The ports `freePort` handed out in this process, so that it never hands out one twice.
private let portsHandedOut = Mutex(Set<Int>())

/// A loopback port nothing listens on, for a process the test starts later, below the kernel's ephemeral range
/// (32768 and up): a port the kernel picked would be picked again for another test's port-0 listener or outgoing
/// connection before the process bound it, which then failed to start while the test talked to that stranger.
public func freePort() -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 20_000..<32_768)
        guard portsHandedOut.withLock({ $0.insert(port).inserted }) else { continue }
        if canBind(port) { return port }
    }
    return kernelPickedPort()
}

func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

func kernelPickedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A real rsync daemon on a loopback port, serving one module: the upstream of the tests.
public final class RsyncDaemon: @unchecked Sendable {
    // `process` is set once in init and only read after; the class exists to stop the daemon in deinit.
    public let port: Int
    public let module: String
    public let tree: String
    private let process: Process

    /// `user`/`password` turn on `auth users` with a secrets file of mode 0600. `noDelay`: the daemon sends without
    /// Nagle's delay, as a master's daemon does (`RsyncdConfig`); a benchmark that stands for a master's daemon sets it.
    public init(
        tree: String, scratch: Scratch, module: String = "pub", user: String? = nil, password: String? = nil,
        noDelay: Bool = false
    ) throws {
        self.tree = tree
        self.module = module
        let dir = scratch.sub("rsyncd-\(module)")
        var conf = noDelay ? "socket options = TCP_NODELAY\n" : ""
        conf += """
            use chroot = no
            pid file = \(dir)/rsyncd.pid
            log file = \(dir)/rsyncd.log
            [\(module)]
                path = \(tree)
                read only = yes
                munge symlinks = no

            """
        if let user, let password {
            let secrets = dir + "/rsyncd.secrets"
            try "\(user):\(password)\n".write(toFile: secrets, atomically: true, encoding: .utf8)
            chmod(secrets, 0o600)
            conf += "    auth users = \(user)\n    secrets file = \(secrets)\n"
        }
        try conf.write(toFile: dir + "/rsyncd.conf", atomically: true, encoding: .utf8)
        (port, process) = try Self.start(config: dir + "/rsyncd.conf")
    }

    /// A daemon of the configuration file `config` (such as mirrorsync's own `RsyncdConfig`), serving `module` at `tree`.
    public init(config: String, tree: String, module: String) throws {
        self.tree = tree
        self.module = module
        (port, process) = try Self.start(config: config)
    }

    private static func start(config: String) throws -> (Int, Process) {
        var lastError: String = ""
        for _ in 0..<5 {
            let port = freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
            process.arguments = [
                "--daemon", "--no-detach", "--config=\(config)", "--address=127.0.0.1", "--port=\(port)",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if Self.waitForListener(port: port) { return (port, process) }
            process.terminate()
            process.waitUntilExit()
            lastError = "rsync --daemon did not listen on \(port)"
        }
        throw ValueError(lastError)
    }

    public var url: String { "rsync://127.0.0.1:\(port)/\(module)/" }

    /// The daemon's process: the rsyncs it forks for each connection are its children, their CPU time its children's.
    public var pid: Int32 { process.processIdentifier }

    public func url(user: String) -> String { "rsync://\(user)@127.0.0.1:\(port)/\(module)/" }

    public static func waitForListener(port: Int, seconds: Double = 2) -> Bool {
        for _ in 0..<Int(seconds * 50) {
            let fd = connectLoopback(port: port)
            if fd >= 0 {
                close(fd)
                return true
            }
            usleep(20_000)
        }
        return false
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

public let testLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

/// A program run to its end off the pool (`offPool`), its outputs read as they come (so a large one never stalls it).
///
/// Swift's cooperative pool has one thread per core, two on the machines these tests run on: a test that waits for
/// a slow tool (pre-commit, python, git) on one of them starves every other test's agents and processes of the
/// thread they need, and they fail by timing. Waiting here takes no thread of the pool.
public func runProgram(
    _ executable: String, _ arguments: [String], in directory: String? = nil,
    environment: [String: String]? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await offPool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Standard error is read on a thread of its own, so that neither pipe fills while the other is read.
        let stderr = Mutex(Data())
        let stderrRead = DispatchSemaphore(value: 0)
        Thread {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            stderr.withLock { $0 = data }
            stderrRead.signal()
        }.start()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        stderrRead.wait()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self),
            String(decoding: stderr.withLock { $0 }, as: UTF8.self)
        )
    }
}

/// A TCP connection to 127.0.0.1:`port`, blocking: its descriptor, or -1 with `errno` set.
public func connectLoopback(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else {
        let saved = errno
        close(fd)
        errno = saved
        return -1
    }
    return fd
}
