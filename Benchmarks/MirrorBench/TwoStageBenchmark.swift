// `twostage`: a two-stage re-sync with nothing to change (a Debian-like tree: a pool of package files, index files in
// dists/, the starter site's second-stage patterns), by mirrorsync's runner, against one plain
// `rsync -aH --delay-updates --delete-delay` pull of the same tree from the same daemon; beside them, the same two
// passes by hand (a second pass lists the whole tree, so that hard links across the stages hold: RsyncArguments). Then whether mirrorsync's rsync arguments cost time:
// one pull with the argv of its first pass (a project without a second stage) against the plain pull, full and
// with nothing to change, and with `--arguments`, the plain pull against mirrorsync's argv less one argument at a time.
// Contenders alternate in every round; medians.
import Foundation
import Logging
import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// Debian's second-stage patterns, as the starter site suggests them.
let debianSecondStage = ["Packages*", "Sources*", "Release*", "InRelease", "Contents-*", "i18n/*"]

func twoStageBenchmark(_ options: [String: String]) async throws -> Int32 {
    let tree = Bench.TreeWork(options, name: "twostage", files: 20_000, copies: 4.5)
    defer { tree.remove() }
    let files = tree.files
    let mib = tree.mib
    let runs = max(1, Int(options["runs"] ?? "") ?? 9)
    let work = tree.path
    let fm = FileManager.default
    let upstream = work + "/upstream"
    let indexFiles = try writeDebianTree(at: upstream, files: files, mib: mib)
    let daemonScratch = Scratch("mirrorsync-bench-rsyncd")
    let daemon = try RsyncDaemon(tree: upstream, scratch: daemonScratch)
    defer {
        daemon.stop()
        withExtendedLifetime(daemonScratch) {}
    }

    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let runner = TreeRunner.rsync()
    let environment = ["LC_ALL": "C", "PATH": "/usr/bin:/bin"]
    let plain = ["-aH", "--delay-updates", "--delete-delay"]
    func rsync(_ arguments: [String]) throws -> Double {
        let (time, status) = try Bench.timed("/usr/bin/rsync", arguments, environment: environment)
        guard status == 0 else { throw BenchError("rsync \(arguments.joined(separator: " ")) exited \(status)") }
        return time
    }
    let source = try SyncSource.upstream(daemon.url)
    func twoStageJob(_ destination: String) -> SyncJob {
        SyncJob(
            project: "bench", source: source, destination: destination + "/", twoStage: debianSecondStage,
            timeout: TimeSpan(seconds: 3600))
    }
    func fresh(_ directory: String) throws {
        try? fm.removeItem(atPath: directory)
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    // 1. The two-stage re-sync with nothing to change.
    let byHand = work + "/plain"
    let bySync = work + "/mirrorsync"
    let twoWalks = work + "/two-walks"
    for directory in [byHand, bySync, twoWalks] { try fresh(directory) }
    _ = try rsync(plain + [daemon.url, byHand + "/"])
    _ = try rsync(plain + [daemon.url, twoWalks + "/"])
    let full = await runner.run(twoStageJob(bySync), logger: logger)
    guard full.result == .success else { throw BenchError("mirrorsync's full sync: \(full.message)") }
    // Both passes by hand: the first, then the whole tree again.
    let oldPasses = [
        RsyncArguments.arguments(for: twoStageJob(twoWalks), pass: .first),
        RsyncArguments.arguments(for: twoStageJob(twoWalks), pass: .second(maxDelete: 0)),
    ]
    print("\(files) pool files, \(mib) MiB, \(indexFiles) index files; second stage \(debianSecondStage)")
    print(
        "mirrorsync's second pass: rsync \(RsyncArguments.arguments(for: twoStageJob(bySync), pass: .second(maxDelete: 0)).joined(separator: " "))"
    )
    var plainTimes: [Double] = []
    var syncTimes: [Double] = []
    var passTimes: [Double] = []
    var oldTimes: [Double] = []
    for run in 1...runs {
        let contenders: [() async throws -> Void] = [
            { plainTimes.append(try rsync(plain + [daemon.url, byHand + "/"])) },
            {
                let start = ContinuousClock.now
                let again = await runner.run(twoStageJob(bySync), logger: logger)
                syncTimes.append(seconds(ContinuousClock.now - start))
                guard again.result == .success, again.filesTransferred == 0, again.passSeconds.count == 2 else {
                    throw BenchError("mirrorsync's re-sync: \(again.message)")
                }
                passTimes.append(again.passSeconds.reduce(0, +))
            },
            { oldTimes.append(try oldPasses.map(rsync).reduce(0, +)) },
        ]
        // Each round starts with a different contender.
        for i in 0..<contenders.count { try await contenders[(i + run) % contenders.count]() }
        print(
            String(
                format: "run %d: plain pass %.3f s, mirrorsync %.3f s (its passes %.3f s), both passes by hand %.3f s",
                run, plainTimes.last!, syncTimes.last!, passTimes.last!, oldTimes.last!))
    }
    let floor = Bench.median(plainTimes)
    print("")
    print(
        "two-stage re-sync with nothing to change, from an rsync daemon on loopback, in \(work); median of \(runs) runs"
    )
    print("                                          s   x plain")
    print(String(format: "plain rsync -aH --delay-updates --delete-delay   %.3f   1.00", floor))
    let byHandTimes = Bench.median(oldTimes)
    print(
        String(
            format: "mirrorsync's run                          %.3f   %.2f   (target <= 1.10 x both passes by hand)",
            Bench.median(syncTimes), Bench.median(syncTimes) / floor))
    print(
        String(
            format: "  of which its two rsync passes           %.3f   %.2f", Bench.median(passTimes),
            Bench.median(passTimes) / floor))
    print(String(format: "both passes by hand                       %.3f   %.2f", byHandTimes, byHandTimes / floor))
    let met = Bench.median(syncTimes) <= 1.1 * byHandTimes
    print(met ? "target met" : "target MISSED")
    for directory in [bySync, twoWalks] { try? fm.removeItem(atPath: directory) }

    // 2. Do mirrorsync's arguments cost? One pull with its argv (a project without a second stage: the first pass is
    // then the whole sync) against the plain pull, into an empty directory and again with nothing to change.
    let mine = work + "/argv"
    let plainJob = SyncJob(
        project: "bench", source: try .upstream(daemon.url), destination: mine + "/", timeout: TimeSpan(seconds: 3600))
    let argv = RsyncArguments.arguments(for: plainJob, pass: .first)
    print("")
    print("mirrorsync's argv: rsync \(argv.joined(separator: " "))")
    var cost = (plainFull: [Double](), mineFull: [Double](), plainAgain: [Double](), mineAgain: [Double]())
    for run in 1...runs {
        let contenders: [() throws -> Void] = [
            {
                try fresh(byHand)
                Bench.flushDisks()
                cost.plainFull.append(try rsync(plain + [daemon.url, byHand + "/"]))
                cost.plainAgain.append(try rsync(plain + [daemon.url, byHand + "/"]))
            },
            {
                try fresh(mine)
                Bench.flushDisks()
                cost.mineFull.append(try rsync(argv))
                cost.mineAgain.append(try rsync(argv))
            },
        ]
        for i in 0..<2 { try contenders[(i + run) % 2]() }
        print(
            String(
                format:
                    "run %d: full %.2f s plain, %.2f s mirrorsync's argv; no change %.3f s plain, %.3f s mirrorsync's argv",
                run, cost.plainFull.last!, cost.mineFull.last!, cost.plainAgain.last!, cost.mineAgain.last!))
    }
    print("")
    print("one pull, plain rsync -aH --delay-updates --delete-delay against mirrorsync's argv; median of \(runs) runs")
    print("                     plain s   mirrorsync's argv s   ratio")
    for (name, a, b) in [("full pull", cost.plainFull, cost.mineFull), ("no change", cost.plainAgain, cost.mineAgain)] {
        print(
            name.padding(toLength: 19, withPad: " ", startingAt: 0)
                + String(
                    format: "%9.3f   %19.3f   %5.3f", Bench.median(a), Bench.median(b),
                    Bench.median(b) / Bench.median(a)))
    }

    // 3. With --arguments: which of them costs, with nothing to change: mirrorsync's argv less one argument at a time.
    if options["arguments"] != nil {
        let removable = argv.filter {
            $0.hasPrefix("--")
                && !["--recursive", "--links", "--perms", "--times", "--group", "--owner", "--"].contains($0)
        }
        var without: [String: [Double]] = [:]
        var whole: [Double] = []
        var base: [Double] = []
        for run in 1...runs {
            var contenders: [() throws -> Void] = [
                { base.append(try rsync(plain + [daemon.url, byHand + "/"])) },
                { whole.append(try rsync(argv)) },
            ]
            for argument in removable {
                contenders.append { without[argument, default: []].append(try rsync(argv.filter { $0 != argument })) }
            }
            for i in 0..<contenders.count { try contenders[(i + run) % contenders.count]() }
        }
        print("")
        print("no-change pull with mirrorsync's argv less one argument; median of \(runs) runs")
        print(String(format: "plain rsync -aH --delay-updates --delete-delay   %.3f s", Bench.median(base)))
        print(
            String(
                format: "mirrorsync's whole argv                          %.3f s   %.3f x plain", Bench.median(whole),
                Bench.median(whole) / Bench.median(base)))
        for argument in removable {
            let time = Bench.median(without[argument] ?? [])
            print(
                "  without " + argument.padding(toLength: 39, withPad: " ", startingAt: 0)
                    + String(format: "%.3f s   %.3f x plain", time, time / Bench.median(base)))
        }
    }
    try? fm.removeItem(atPath: byHand)
    try? fm.removeItem(atPath: mine)
    return met ? 0 : 1
}

/// A tree laid out as a Debian archive: `files` package files (`mib` MiB in all, four to a package directory, as
/// `pool/main/p/pkg17/`) and, in `dists/`, for three suites and three components, Packages and Sources files in
/// several compressions, Release files, translations and the suites' Release, InRelease and Release.gpg. Returns how
/// many index files it wrote.
func writeDebianTree(at root: String, files: Int, mib: Int) throws -> Int {
    let fm = FileManager.default
    let size = (mib << 20) / files
    var generator = SystemRandomNumberGenerator()
    var block = [UInt8](repeating: 0, count: max(size, 2048))
    func fill() {
        for j in stride(from: 0, to: block.count, by: 8) {
            let value = generator.next()
            withUnsafeBytes(of: value) { raw in for k in 0..<min(8, block.count - j) { block[j + k] = raw[k] } }
        }
    }
    print("writing \(files) pool files of \(size) bytes (\(mib) MiB) and the index files ...")
    let components = ["main", "contrib", "non-free"]
    for i in 0..<files {
        let package = "pkg\(i / 4)"
        let directory = root + "/pool/\(components[(i / 4) % 3])/\(package.prefix(4))/\(package)"
        if i % 4 == 0 { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        fill()
        guard fm.createFile(atPath: "\(directory)/\(package)_\(i % 4)_amd64.deb", contents: Data(block[0..<size]))
        else {
            throw BenchError("cannot write \(directory)")
        }
    }
    var written = 0
    func index(_ directory: String, _ names: [String]) throws {
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in names {
            fill()
            guard fm.createFile(atPath: directory + "/" + name, contents: Data(block[0..<2048])) else {
                throw BenchError("cannot write \(directory)/\(name)")
            }
            written += 1
        }
    }
    for suite in ["bookworm", "trixie", "sid"] {
        for component in components {
            let base = root + "/dists/\(suite)/\(component)"
            for arch in ["binary-amd64", "binary-arm64"] {
                try index(base + "/" + arch, ["Packages", "Packages.gz", "Packages.xz", "Release"])
            }
            try index(base + "/source", ["Sources", "Sources.gz", "Release"])
            try index(base + "/i18n", ["Translation-en", "Translation-en.bz2"])
            try index(base, ["Contents-amd64.gz"])
        }
        try index(root + "/dists/\(suite)", ["Release", "InRelease", "Release.gpg"])
    }
    return written
}
