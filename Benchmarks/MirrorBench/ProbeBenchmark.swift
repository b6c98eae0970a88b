// `probe`: what a probe of the upstream costs against the no-op sync it saves: one small file fetched alone
// (mirrorsync's `UpstreamProber`, by rsync from a daemon) against a full sync of the same tree with nothing to change
// (rsync -aH --delete --stats, the floor of any walk), bytes on the wire and wall time, both from the same run.
import Foundation
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport

func probeBenchmark(_ options: [String: String]) async throws -> Int32 {
    let tree = Bench.TreeWork(options, name: "probe", files: 100_000, copies: 2.5)
    defer { tree.remove() }
    let runs = max(1, Int(options["runs"] ?? "") ?? 5)
    let fm = FileManager.default
    let upstream = tree.path + "/upstream"
    let mirror = tree.path + "/mirror"
    try fm.createDirectory(atPath: upstream, withIntermediateDirectories: true)
    try Bench.writeTree(at: upstream, files: tree.files, mib: Int(options["mib"] ?? "") ?? 200)
    try fm.createDirectory(atPath: upstream + "/project/trace", withIntermediateDirectories: true)
    try "Date: Mon Dec  7 10:00:00 UTC 2026\nCreator: ftpsync 20180513\n".write(
        toFile: upstream + "/project/trace/master", atomically: true, encoding: .utf8)
    let daemonScratch = Scratch("mirrorsync-bench-probe-rsyncd")
    let daemon = try RsyncDaemon(tree: upstream, scratch: daemonScratch)
    defer {
        daemon.stop()
        withExtendedLifetime(daemonScratch) {}
    }
    let environment = ["LC_ALL": "C", "PATH": "/usr/bin:/bin"]
    let sync = ["-aH", "--delete", "--stats", daemon.url, mirror + "/"]
    print("rsync \(sync.joined(separator: " "))")
    guard try Bench.timed("/usr/bin/rsync", sync, environment: environment).1 == 0 else {
        throw BenchError("the first full sync failed")
    }

    /// rsync's statistics: wall time and bytes sent plus received, as the client counts them.
    func stats(_ arguments: [String]) throws -> (seconds: Double, bytes: Int64) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let start = ContinuousClock.now
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let wall = seconds(ContinuousClock.now - start)
        guard process.terminationStatus == 0 else { throw BenchError("rsync \(arguments) exited") }
        var bytes: Int64 = 0
        for line in output.split(separator: "\n")
        where line.hasPrefix("Total bytes sent: ") || line.hasPrefix("Total bytes received: ") {
            bytes += Int64(line.split(separator: ":")[1].filter(\.isNumber)) ?? 0
        }
        return (wall, bytes)
    }

    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let prober = UpstreamProber(rsync: RsyncProvider(), scratchDirectory: tree.path + "/probes")
    let job = SyncJob(project: "bench", source: try SyncSource.upstream(daemon.url), destination: mirror + "/")
    var noop: [(seconds: Double, bytes: Int64)] = []
    var probe: [(seconds: Double, bytes: Int64)] = []
    var proberSeconds: [Double] = []
    for _ in 0..<runs {
        noop.append(try stats(sync))
        // The probe's own argv, counted by rsync's statistics on both sides of the wire.
        probe.append(
            try stats([
                "--no-motd", "--stats", "--sockopts=TCP_NODELAY", daemon.url + "project/trace/master",
                tree.path + "/probe-by-hand",
            ]))
        let start = ContinuousClock.now
        guard case .fetched = await prober.probe(job, path: "project/trace/master", logger: logger) else {
            throw BenchError("the probe failed")
        }
        proberSeconds.append(seconds(ContinuousClock.now - start))
    }
    let noopSeconds = Bench.median(noop.map(\.seconds))
    let probeSeconds = Bench.median(proberSeconds)
    let noopBytes = noop.map(\.bytes).sorted()[noop.count / 2]
    let probeBytes = probe.map(\.bytes).sorted()[probe.count / 2]
    print("")
    print("probe vs a no-op sync, \(tree.files) files; median of \(runs) runs")
    print("                       wall s     bytes on the wire")
    print(String(format: "no-op full sync     %9.3f   %12lld", noopSeconds, noopBytes))
    print(String(format: "probe (mirrorsync)  %9.3f   %12lld", probeSeconds, probeBytes))
    print(String(format: "probe (rsync alone) %9.3f", Bench.median(probe.map(\.seconds))))
    print(
        String(
            format: "probe / no-op       %9.4f   %12.5f", probeSeconds / noopSeconds,
            Double(probeBytes) / Double(noopBytes)))
    return 0
}
