// `atomic`: atomic publication (`publish: atomic`) against in-place two-stage on a Debian-like tree, a share of its
// pool files rewritten (and every index file) between syncs: the time of a sync on the master (mirrorsync's runner
// pulling from the upstream's rsync daemon) and on a slave (the runner pulling from an rsync daemon over the master's
// published path), the disk the revisions store holds while two revisions exist against the tree synced in place,
// and the time of the switch (publishing: the rename of the link) and of pruning the revision before last, as the
// runner logs them. The modes alternate in every round; medians.
import Foundation
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport
import Synchronization

func atomicBenchmark(_ options: [String: String]) async throws -> Int32 {
    // The upstream, two trees in place, two revisions on each host in atomic mode (shared files hard-linked).
    let tree = Bench.TreeWork(options, name: "atomic", files: 100_000, copies: 5.5)
    defer { tree.remove() }
    let files = tree.files
    let mib = tree.mib
    let changed = Double(options["changed"] ?? "") ?? 0.01
    let runs = max(1, Int(options["runs"] ?? "") ?? 5)
    let work = tree.path
    let upstream = work + "/upstream"
    _ = try writeDebianTree(at: upstream, files: files, mib: mib)
    let scratch = Scratch("mirrorsync-bench-atomic")
    let upstreamDaemon = try RsyncDaemon(tree: upstream, scratch: scratch)
    defer { upstreamDaemon.stop() }

    let recorder = LogRecorder()
    var logger = Logger(label: "bench") { _ in RecordingLogHandler(recorder: recorder) }
    logger.logLevel = .debug
    var runner = TreeRunner.rsync()
    // The steady state of a mirror synced every few minutes: each sync prunes the revision before last.
    runner.revisionGrace = 0

    struct Host {
        var name: String
        var master: String
        var slave: String
        var mode: PublishMode
        var slaveSource = ""
        var syncs = (master: [Double](), slave: [Double]())
        var switches = (master: [Double](), slave: [Double]())
        var prunes: [Double] = []
        var disk: [Double] = []
        var transferred: [Int] = []
    }
    var hosts = [PublishMode.inPlace, .atomic].map { mode in
        let name = mode == .atomic ? "atomic" : "in place"
        let root = work + "/" + (mode == .atomic ? "atomic" : "inplace")
        return Host(name: name, master: root + "/master/debian", slave: root + "/slave/debian", mode: mode)
    }
    func job(_ source: String, _ destination: String, _ mode: PublishMode) throws -> SyncJob {
        var job = SyncJob(
            project: "debian", source: try .upstream(source), destination: destination + "/",
            twoStage: debianSecondStage,
            timeout: TimeSpan(seconds: 3600))
        job.publish = mode
        return job
    }
    func sync(_ source: String, _ destination: String, _ mode: PublishMode) async throws -> (
        seconds: Double, outcome: SyncOutcome, switch: Double?, prune: Double?
    ) {
        recorder.clear()
        let start = ContinuousClock.now
        let outcome = await runner.run(try job(source, destination, mode), logger: logger)
        let time = seconds(ContinuousClock.now - start)
        guard outcome.result == .success else {
            throw BenchError("\(mode) sync into \(destination): \(outcome.message)")
        }
        return (time, outcome, recorder.seconds("published a revision"), recorder.seconds("removed old revisions"))
    }
    /// Kilobytes `du` counts under `paths`, each inode once.
    func du(_ paths: [String]) throws -> Double {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/du")
        process.arguments = ["-skc"] + paths
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard let total = output.split(separator: "\n").last?.split(separator: "\t").first, let kib = Double(total)
        else {
            throw BenchError("du \(paths): \(output)")
        }
        return kib
    }

    var daemons: [RsyncDaemon] = []
    defer { for daemon in daemons { daemon.stop() } }
    // Round 0 syncs into empty trees; round 1 gives atomic mode its second revision; from round 2 on, each atomic sync
    // also prunes the revision before last, as it does on a mirror in use.
    for round in 0...(runs + 1) {
        if round > 0 { try change(upstream, files: files, share: changed, round: round) }
        for i in 0..<hosts.count {
            var host = hosts[(i + round) % hosts.count]
            let master = try await sync(upstreamDaemon.url, host.master, host.mode)
            let diskNow = try host.mode == .atomic ? du([RevisionTreeLayout.store(of: host.master)]) : du([host.master])
            if host.slaveSource.isEmpty {
                // The slave pulls from a daemon over the master's path, as the master's own daemon serves it.
                let daemon = try RsyncDaemon(
                    tree: host.master, scratch: scratch, module: host.mode == .atomic ? "atomic" : "inplace")
                daemons.append(daemon)
                host.slaveSource = daemon.url
            }
            let slave = try await sync(host.slaveSource, host.slave, host.mode)
            if round > 1 {
                host.syncs.master.append(master.seconds)
                host.syncs.slave.append(slave.seconds)
                host.disk.append(diskNow)
                host.transferred.append(master.outcome.filesTransferred ?? 0)
                if let s = master.switch { host.switches.master.append(s) }
                if let s = slave.switch { host.switches.slave.append(s) }
                if let p = master.prune { host.prunes.append(p) }
            }
            hosts[(i + round) % hosts.count] = host
            if round > 0 {
                print(
                    "round \(round), \(host.name): "
                        + String(
                            format: "master %.2f s (%d files copied), slave %.2f s, disk %.0f MiB",
                            master.seconds, master.outcome.filesTransferred ?? 0, slave.seconds, diskNow / 1024))
            }
        }
    }
    let inPlace = hosts.first { $0.mode == .inPlace }!
    let atomic = hosts.first { $0.mode == .atomic }!
    let med = Bench.median
    print("")
    print(
        "\(files) files, \(mib) MiB, \(Int(changed * 100))% of the pool and every index file rewritten between syncs, in \(work); "
            + "median of \(atomic.syncs.master.count) syncs")
    print("                                   in place (two-stage)      atomic   ratio")
    print(
        String(
            format: "sync on the master, s             %12.3f   %9.3f   %5.2f", med(inPlace.syncs.master),
            med(atomic.syncs.master),
            med(atomic.syncs.master) / med(inPlace.syncs.master)))
    print(
        String(
            format: "sync on a slave, s                %12.3f   %9.3f   %5.2f", med(inPlace.syncs.slave),
            med(atomic.syncs.slave),
            med(atomic.syncs.slave) / med(inPlace.syncs.slave)))
    print(
        String(
            format: "disk on the master, MiB           %12.1f   %9.1f   %5.3f  (two revisions; extra %.1f MiB)",
            med(inPlace.disk) / 1024,
            med(atomic.disk) / 1024, med(atomic.disk) / med(inPlace.disk), (med(atomic.disk) - med(inPlace.disk)) / 1024
        ))
    print(
        String(
            format: "switch (publish), ms: master %.3f, slave %.3f; pruning the revision before last: %.0f ms",
            med(atomic.switches.master) * 1000, med(atomic.switches.slave) * 1000, med(atomic.prunes) * 1000))
    print(
        "files copied per master sync: \(Int(med(inPlace.transferred.map(Double.init)))) in place, \(Int(med(atomic.transferred.map(Double.init)))) atomic"
    )
    return 0
}

/// Rewrites `share` of the pool files (a different set each round, a few bytes longer each time, so that rsync's
/// check by size sees them) and every index file.
func change(_ root: String, files: Int, share: Double, round: Int) throws {
    let every = max(1, Int((1 / share).rounded()))
    let components = ["main", "contrib", "non-free"]
    let tail = Data((0..<round).map { UInt8(truncatingIfNeeded: $0) })
    for i in stride(from: round % every, to: files, by: every) {
        let package = "pkg\(i / 4)"
        let path =
            root + "/pool/\(components[(i / 4) % 3])/\(package.prefix(4))/\(package)/\(package)_\(i % 4)_amd64.deb"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: tail)
        try handle.close()
    }
    guard let walker = FileManager.default.enumerator(atPath: root + "/dists") else { return }
    while let relative = walker.nextObject() as? String {
        let path = root + "/dists/" + relative
        guard walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular else { continue }
        try Data("revision \(round) of \(relative)\n".utf8).write(to: URL(fileURLWithPath: path))
    }
}

/// Where `RevisionTree` keeps a project's revisions: `.mirrorsync-revisions/NAME` beside its path (the benchmark
/// measures the store from outside, as `du` would on a host).
enum RevisionTreeLayout {
    static func store(of path: String) -> String {
        (path as NSString).deletingLastPathComponent + "/.mirrorsync-revisions/" + (path as NSString).lastPathComponent
    }
}

/// What the runner logs, kept for the benchmark: the `seconds` of named messages.
final class LogRecorder: Sendable {
    private let lines = Mutex<[(message: String, seconds: Double?)]>([])
    func add(_ message: String, seconds: Double?) { lines.withLock { $0.append((message, seconds)) } }
    func clear() { lines.withLock { $0.removeAll() } }
    func seconds(_ message: String) -> Double? { lines.withLock { $0.last { $0.message == message }?.seconds } }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        recorder.add(event.message.description, seconds: event.metadata?["seconds"].flatMap { Double("\($0)") })
    }
}
