// `incremental`: a slave's pull of a revision that changed a small share of a large tree, by the master's change
// lists (`--files-from` over what changed, the deletions made by the slave), against a plain `rsync -aH --delete` pull
// of the same change from the same daemon: wall time, and the CPU time of the master-side rsync processes (the daemon's
// children, read from /proc as the daemon reaps them). Target: at most 1/20 of each. Also printed: what the master's
// list costs it, once per revision (a walk of its own tree, no network).
import Foundation
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The master's lists, read in process (the slave's HTTP call to the master is left out: one small request).
private actor BenchFeed: ChangeFeed {
    let log: ChangeLog
    init(log: ChangeLog) { self.log = log }
    func lists(project: String, from: Int, to: Int, masterAPI: String) async -> [ChangeList]? {
        await log.lists(project: project, from: from, to: to)
    }
    func lastFullWalk(_ project: String) async -> Date? { Date() }
    func fullWalked(_ project: String, at: Date) async {}
    func drift(_ project: String, entries: Int) async {}
    nonisolated func now() -> Date { Date() }
}

private struct BenchCredential: SiteCredentials {
    func credential(from masterAPI: String) async throws(PeerError) -> RsyncCredential {
        RsyncCredential(user: "mirror", password: "bench")
    }
    func forget() async {}
}

/// The CPU seconds (user and system) of `pid`'s children it has reaped: /proc/PID/stat's cutime and cstime. Waits until
/// it has no child left, so that the pull just ended is counted.
private func childrenCPU(_ pid: Int32) -> Double {
    for _ in 0..<400 {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        if children.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
        usleep(5000)
    }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    // After the command's closing parenthesis: state is field 3; cutime and cstime are fields 16 and 17.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return ((Double(fields[13]) ?? 0) + (Double(fields[14]) ?? 0)) / ticks
}

func incrementalBenchmark(_ options: [String: String]) async throws -> Int32 {
    let files = Int(options["files"] ?? "") ?? 500_000
    let share = Double(options["changed"] ?? "") ?? 0.001
    let runs = max(1, Int(options["runs"] ?? "") ?? 3)
    let work = options["dir"] ?? Bench.workDirectory("incremental", mib: max(1, files / 4000), copies: 8)
    let fm = FileManager.default
    defer { if options["dir"] == nil { try? fm.removeItem(atPath: work) } }
    let master = work + "/master"
    print("writing \(files) files of 64 bytes in \(max(1, files / 500)) directories under \(work) ...")
    var generator = SystemRandomNumberGenerator()
    func contents() -> Data { Data((0..<8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }) }
    for i in 0..<files {
        let directory = master + "/d\(i % max(1, files / 500))"
        if i < max(1, files / 500) { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        guard fm.createFile(atPath: directory + "/f\(i)", contents: contents()) else {
            throw BenchError("cannot write \(directory)/f\(i)")
        }
    }
    let scratch = Scratch("mirrorsync-bench-incremental")
    let daemon = try RsyncDaemon(tree: master, scratch: scratch, user: "mirror", password: "bench", noDelay: true)
    defer {
        daemon.stop()
        withExtendedLifetime(scratch) {}
    }
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let log = ChangeLog(directory: work + "/changes", logger: logger)
    let runner = TreeRunner.rsync(siteCredentials: BenchCredential(), changeFeed: BenchFeed(log: log))
    let (plainTree, listedTree) = (work + "/plain", work + "/listed")
    let environment = ["LC_ALL": "C", "PATH": "/usr/bin:/bin", "RSYNC_PASSWORD": "bench"]
    func plainPull() throws -> (wall: Double, cpu: Double) {
        let before = childrenCPU(daemon.pid)
        let (time, status) = try Bench.timed(
            "/usr/bin/rsync", ["-aH", "--delete", daemon.url(user: "mirror"), plainTree + "/"],
            environment: environment)
        guard status == 0 else { throw BenchError("the plain pull exited \(status)") }
        return (time, childrenCPU(daemon.pid) - before)
    }
    func job(served: Int, pulling: Int) -> SyncJob {
        var job = SyncJob(
            project: "bench",
            source: .masterModule(
                .rsync(user: nil, host: "127.0.0.1", port: daemon.port, path: daemon.module), masterAPI: "http://m"),
            destination: listedTree + "/", timeout: TimeSpan(seconds: 3600), maxDelete: .percent(10),
            previousFiles: files)
        job.trace = false
        job.servedRevision = served
        job.pullingRevision = pulling
        return job
    }
    func listedPull(_ revision: Int) async throws -> (wall: Double, cpu: Double) {
        let before = childrenCPU(daemon.pid)
        let start = ContinuousClock.now
        let outcome = await runner.run(job(served: revision - 1, pulling: revision), logger: logger)
        let wall = seconds(ContinuousClock.now - start)
        guard outcome.result == .success, outcome.message.hasPrefix("incremental pull") else {
            throw BenchError("the incremental pull: \(outcome.message)")
        }
        return (wall, childrenCPU(daemon.pid) - before)
    }
    var listing: [Double] = []
    func record(_ revision: Int) async {
        let start = ContinuousClock.now
        await log.record(project: "bench", revision: revision, tree: master, twoStage: [])
        listing.append(seconds(ContinuousClock.now - start))
    }
    print("the first pulls (both whole) ...")
    await record(1)
    _ = try plainPull()
    let first = await runner.run(job(served: 0, pulling: 1), logger: logger)
    guard first.result == .success else { throw BenchError("the first pull: \(first.message)") }
    var plain: [(wall: Double, cpu: Double)] = []
    var listed: [(wall: Double, cpu: Double)] = []
    let changed = max(1, Int(Double(files) * share))
    for run in 1...runs {
        // The change: most of it files rewritten, some created, some deleted.
        for k in 0..<changed {
            let i = Int.random(in: 0..<files)
            let path = master + "/d\(i % max(1, files / 500))/f\(i)"
            switch k % 10 {
            case 0: _ = fm.createFile(atPath: path + "-new\(run)", contents: contents())
            case 1: try? fm.removeItem(atPath: path)
            default: _ = fm.createFile(atPath: path, contents: contents())
            }
        }
        await record(run + 1)
        let contenders: [() async throws -> Void] = [
            { plain.append(try plainPull()) }, { listed.append(try await listedPull(run + 1)) },
        ]
        for i in 0..<2 { try await contenders[(i + run) % 2]() }
        print(
            String(
                format: "run %d: plain %.3f s wall, %.3f s master CPU; incremental %.3f s wall, %.3f s master CPU",
                run, plain.last!.wall, plain.last!.cpu, listed.last!.wall, listed.last!.cpu))
    }
    let differences = try RawTree.read(plainTree).differences(from: RawTree.read(listedTree))
    let same = differences.isEmpty
    for line in differences { print("differs: \(line)") }
    let (plainWall, plainCPU) = (Bench.median(plain.map(\.wall)), Bench.median(plain.map(\.cpu)))
    let (listedWall, listedCPU) = (Bench.median(listed.map(\.wall)), Bench.median(listed.map(\.cpu)))
    print("")
    print(
        "a pull of \(changed) changed entries of \(files) files (tmpfs, an rsync daemon on loopback); median of \(runs)"
    )
    print("                                   wall s   master-side rsync CPU s")
    print(String(format: "plain rsync -aH --delete (floor)  %7.3f   %7.3f", plainWall, plainCPU))
    print(
        String(
            format: "incremental pull                  %7.3f   %7.3f   (%.1f%% and %.1f%% of plain; target <= 5%%)",
            listedWall, listedCPU, 100 * listedWall / plainWall, 100 * listedCPU / max(plainCPU, 0.001)))
    print(
        String(
            format: "the master's list of a revision   %7.3f   (its own walk, once per revision; median of %d)",
            Bench.median(listing), listing.count))
    print(same ? "the two slaves' trees are the same" : "the two slaves' trees DIFFER")
    let met = same && listedWall * 20 <= plainWall && listedCPU * 20 <= max(plainCPU, 0.001)
    print(met ? "target met" : "target MISSED")
    return met ? 0 : 1
}
