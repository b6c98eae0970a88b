import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small helpers the benchmarks share: processes, ports, a local rsync daemon, medians.
enum Bench {
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

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
