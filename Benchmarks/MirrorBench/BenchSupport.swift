import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Small helpers the benchmarks share: processes, ports, a local rsync daemon, medians.
enum Bench {
    /// Starts a process with its output discarded, as a shell redirect to /dev/null would.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
        -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// A scratch directory of this process's own under the temporary directory, and a fresh token in its `token`
    /// (mode 0600, as an agent's `--token-file` must be).
    static func agentWorkspace(_ name: String) throws -> (work: String, token: String) {
        let work = NSTemporaryDirectory() + "mirrorsync-\(name)-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let token = "bench-\(UUID().uuidString)"
        try token.write(toFile: work + "/token", atomically: true, encoding: .utf8)
        chmod(work + "/token", 0o600)
        return (work, token)
    }

    /// Runs a process to its end and returns its wall time in seconds.
    static func timed(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (
        Double, Int32
    ) {
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
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib / 1024
    }

    /// Private, shared-file and proportional resident memory of a process, in MiB.
    static func memory(_ pid: Int32) -> (anon: Double, file: Double, pss: Double) {
        func field(_ file: String, _ name: String) -> Double {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
            else { return .nan }
            return kib / 1024
        }
        return (
            field("/proc/\(pid)/status", "RssAnon"), field("/proc/\(pid)/status", "RssFile"),
            field("/proc/\(pid)/smaps_rollup", "Pss")
        )
    }

    static func flushDisks() { _ = try? timed("/bin/sync", []) }

    /// Prints mirrorsync's medians beside a baseline's (rsync by hand, a script) with the targets of a full sync
    /// (1.05x) and of a no-change re-sync (1.10x); returns the exit status: 0 when both are met.
    static func compare(
        _ title: String, baseline: String, _ base: (full: [Double], again: [Double]),
        mirrorsync: (full: [Double], again: [Double])
    ) -> Int32 {
        let fullRatio = median(mirrorsync.full) / median(base.full)
        let againRatio = median(mirrorsync.again) / median(base.again)
        let label = String(repeating: " ", count: max(0, 11 - baseline.count - 2)) + baseline + " s"
        print("")
        print("\(title); median of \(base.full.count) runs")
        print("                     \(label)   mirrorsync s   ratio   target")
        print(
            String(
                format: "full sync            %11.3f   %12.3f   %5.3f   <= 1.05", median(base.full),
                median(mirrorsync.full), fullRatio))
        print(
            String(
                format: "no-change re-sync    %11.3f   %12.3f   %5.3f   <= 1.10", median(base.again),
                median(mirrorsync.again), againRatio))
        let met = fullRatio <= 1.05 && againRatio <= 1.10
        print(met ? "targets met" : "target MISSED")
        return met ? 0 : 1
    }

    /// Where a benchmark's trees go: memory (tmpfs) when it has room for `copies` of `mib`, since the comparisons are
    /// of mirrorsync against rsync, not of the disk's writeback, which on this kind of machine makes whichever full
    /// sync comes second several seconds slower.
    static func workDirectory(_ name: String, mib: Int, copies: Double) -> String {
        var shm = statvfs()
        let inMemory =
            statvfs("/dev/shm", &shm) == 0 && Double(shm.f_bavail) * Double(shm.f_frsize) > Double(mib << 20) * copies
        return
            (inMemory
            ? "/dev/shm" : NSTemporaryDirectory().replacingOccurrences(of: "/$", with: "", options: .regularExpression))
            + "/mirrorsync-\(name)-bench-\(getpid())"
    }

    /// A tree benchmark's size and place: `--files` (default `files`) and `--mib` (default 1024); `--dir`, kept
    /// after the run, or else a fresh `workDirectory`, which `remove()` deletes.
    struct TreeWork {
        let files: Int
        let mib: Int
        let path: String
        private let given: Bool

        init(_ options: [String: String], name: String, files: Int, copies: Double) {
            self.files = Int(options["files"] ?? "") ?? files
            mib = Int(options["mib"] ?? "") ?? 1024
            given = options["dir"] != nil
            path = options["dir"] ?? Bench.workDirectory(name, mib: mib, copies: copies)
        }

        func remove() { if !given { try? FileManager.default.removeItem(atPath: path) } }
    }

    /// Small files (1 KiB each, 20 to a directory), where the walk, the processes and the agents are what costs, not
    /// bytes: the fan-out benchmarks' tree.
    static func writeSmallFiles(at upstream: String, files: Int) throws {
        for i in 0..<files {
            let dir = upstream + "/d\(i / 20)"
            if i % 20 == 0 { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try Data(repeating: UInt8(i % 251), count: 1024).write(to: URL(fileURLWithPath: "\(dir)/f\(i)"))
        }
    }

    /// One file of `writeSmallFiles`' tree rewritten for `round`, its size changed too, so that no check by size and
    /// time could miss it; returns its path in the tree and its new bytes.
    static func rewriteSmallFile(at upstream: String, round: Int, files: Int) throws -> (String, Data) {
        let index = (round * 37) % files
        let file = "d\(index / 20)/f\(index)"
        let bytes = Data((0..<(1024 + round % 2)).map { _ in UInt8.random(in: 0...255) })
        try bytes.write(to: URL(fileURLWithPath: upstream + "/" + file))
        return (file, bytes)
    }

    /// A tree of `files` files of equal size in 100 directories, `mib` MiB in all, with bytes that do not compress.
    static func writeTree(at root: String, files: Int, mib: Int) throws {
        let fm = FileManager.default
        let size = (mib << 20) / files
        var generator = SystemRandomNumberGenerator()
        var block = [UInt8](repeating: 0, count: size)
        print("writing \(files) files of \(size) bytes (\(mib) MiB) ...")
        for i in 0..<files {
            let dir = root + "/d\(i % 100)"
            if i < 100 { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            for j in stride(from: 0, to: size, by: 8) {
                let value = generator.next()
                withUnsafeBytes(of: value) { raw in for k in 0..<min(8, size - j) { block[j + k] = raw[k] } }
            }
            guard fm.createFile(atPath: "\(dir)/f\(i)", contents: Data(block)) else {
                throw BenchError("cannot write \(dir)/f\(i)")
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
