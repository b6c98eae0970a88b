import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small helpers the benchmarks share: processes, ports, a local rsync daemon, medians.
enum Bench {
    static func free() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func listening(_ port: Int, seconds: Double = 10) -> Bool {
        for _ in 0..<Int(seconds * 50) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            close(fd)
            if ok { return true }
            usleep(20_000)
        }
        return false
    }

    /// Starts a process with its output discarded, as a shell redirect to /dev/null would.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs a process to its end and returns its wall time in seconds.
    static func timed(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (Double, Int32) {
        let start = ContinuousClock.now
        let process = try spawn(executable, arguments, environment: environment)
        process.waitUntilExit()
        return (seconds(ContinuousClock.now - start), process.terminationStatus)
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Resident memory of a process, from /proc, in MiB.
    static func residentMiB(_ pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kib / 1024
    }

    /// Private, shared-file and proportional resident memory of a process, in MiB.
    static func memory(_ pid: Int32) -> (anon: Double, file: Double, pss: Double) {
        func field(_ file: String, _ name: String) -> Double {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                  let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
            return kib / 1024
        }
        return (field("/proc/\(pid)/status", "RssAnon"), field("/proc/\(pid)/status", "RssFile"), field("/proc/\(pid)/smaps_rollup", "Pss"))
    }

    static func flushDisks() { _ = try? timed("/bin/sync", []) }
}

/// A read-only rsync daemon module over a directory, on a loopback port.
final class BenchDaemon {
    let port: Int
    let process: Process

    init(tree: String, workDirectory: String) throws {
        port = Bench.free()
        let conf = workDirectory + "/rsyncd.conf"
        try """
            use chroot = no
            [pub]
                path = \(tree)
                read only = yes

            """.write(toFile: conf, atomically: true, encoding: .utf8)
        process = try Bench.spawn("/usr/bin/rsync", ["--daemon", "--no-detach", "--config=\(conf)", "--address=127.0.0.1", "--port=\(port)"])
        guard Bench.listening(port) else { throw BenchError("rsync --daemon did not start") }
    }

    var url: String { "rsync://127.0.0.1:\(port)/pub/" }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
