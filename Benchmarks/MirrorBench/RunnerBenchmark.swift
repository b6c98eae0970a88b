// `runner`: mirrorsync's rsync runner against the same rsync command run by hand, on one generated tree pulled
// from a local rsync daemon: a full sync into an empty directory, then a re-sync with nothing to change.
import Foundation
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport

func runnerBenchmark(_ options: [String: String]) async throws -> Int32 {
    let tree = Bench.TreeWork(options, name: "runner", files: 20_000, copies: 3.5)
    defer { tree.remove() }
    let files = tree.files
    let mib = tree.mib
    let runs = max(1, Int(options["runs"] ?? "") ?? 10)
    let work = tree.path
    let fm = FileManager.default
    let upstream = work + "/upstream"
    let byHand = work + "/by-hand"
    let bySync = work + "/mirrorsync"
    try fm.createDirectory(atPath: upstream, withIntermediateDirectories: true)

    try Bench.writeTree(at: upstream, files: files, mib: mib)
    // The daemon reads its configuration again for each connection: its scratch directory lives as long as it does.
    let daemonScratch = Scratch("mirrorsync-bench-rsyncd")
    let daemon = try RsyncDaemon(tree: upstream, scratch: daemonScratch)
    defer {
        daemon.stop()
        withExtendedLifetime(daemonScratch) {}
    }

    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let runner = TreeRunner.rsync()
    let source = try SyncSource.upstream(daemon.url)
    func job(_ destination: String) -> SyncJob {
        SyncJob(project: "bench", source: source, destination: destination + "/", timeout: TimeSpan(seconds: 3600))
    }
    // By hand: the very argv the runner's first pass uses, output sent to /dev/null.
    let handArguments = RsyncArguments.arguments(for: job(byHand), pass: .first)
    print("rsync \(handArguments.joined(separator: " "))")
    var hand = (full: [Double](), again: [Double]())
    var sync = (full: [Double](), again: [Double]())
    func byHandRun() throws {
        try? fm.removeItem(atPath: byHand)
        try fm.createDirectory(atPath: byHand, withIntermediateDirectories: true)
        Bench.flushDisks()
        let (full, status) = try Bench.timed(
            "/usr/bin/rsync", handArguments, environment: ["LC_ALL": "C", "PATH": "/usr/bin:/bin"])
        guard status == 0 else { throw BenchError("rsync by hand exited \(status)") }
        hand.full.append(full)
        hand.again.append(
            try Bench.timed("/usr/bin/rsync", handArguments, environment: ["LC_ALL": "C", "PATH": "/usr/bin:/bin"]).0)
    }
    func mirrorsyncRun() async throws {
        try? fm.removeItem(atPath: bySync)
        try fm.createDirectory(atPath: bySync, withIntermediateDirectories: true)
        Bench.flushDisks()
        var start = ContinuousClock.now
        let full = await runner.run(job(bySync), logger: logger)
        sync.full.append(seconds(ContinuousClock.now - start))
        guard full.result == .success, full.filesTransferred == files else {
            throw BenchError("mirrorsync's full sync: \(full.message)")
        }
        start = ContinuousClock.now
        let again = await runner.run(job(bySync), logger: logger)
        sync.again.append(seconds(ContinuousClock.now - start))
        guard again.result == .success, again.filesTransferred == 0 else {
            throw BenchError("mirrorsync's re-sync: \(again.message)")
        }
    }
    for run in 1...runs {
        // Alternate who goes first, so that neither always inherits the other's disk writeback.
        if run % 2 == 1 {
            try byHandRun()
            try await mirrorsyncRun()
        } else {
            try await mirrorsyncRun()
            try byHandRun()
        }
        print(
            String(
                format: "run %d: full %.2f s by hand, %.2f s mirrorsync; no-change %.3f s by hand, %.3f s mirrorsync",
                run, hand.full.last!, sync.full.last!, hand.again.last!, sync.again.last!))
    }
    try? fm.removeItem(atPath: byHand)
    try? fm.removeItem(atPath: bySync)
    return Bench.compare(
        "\(files) files, \(mib) MiB, from an rsync daemon on loopback, in \(work)", baseline: "by hand", hand,
        mirrorsync: sync)
}
