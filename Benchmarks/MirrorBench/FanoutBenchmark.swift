// `fanout`: one changed file from `POST /v1/projects/bench/sync` on the master to every one of N slave agents serving
// it, against its floor measured in the same round: a plain script of the same N concurrent `rsync -aH --delete` pulls
// of the same change from the same daemon module.
import Foundation
import MirrorCore
import MirrorTestSupport

func fanoutBenchmark(_ options: [String: String]) async throws -> Int32 {
    let count = max(1, Int(options["slaves"] ?? "") ?? 100)
    let files = max(1, Int(options["files"] ?? "") ?? 200)
    let runs = max(1, Int(options["runs"] ?? "") ?? 5)
    let given = options["dir"]
    let work = given ?? Bench.workDirectory("fanout", mib: 64, copies: 1)
    defer { if given == nil { try? FileManager.default.removeItem(atPath: work) } }
    let fm = FileManager.default
    let upstream = work + "/upstream"
    try Bench.writeSmallFiles(at: upstream, files: files)
    let scratch = Scratch("mirrorsync-fanout-bench")
    let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
    defer { daemon.stop() }
    print("starting a master and \(count) slave agents ...")
    let site = try await FanoutSite(work: work + "/mirrorsync", upstream: daemon.url, slaves: count)
    defer { site.stop() }
    try await site.startSync(revision: 1)
    _ = try await site.waitServed(
        revision: 1, file: "d0/f0", bytes: try Data(contentsOf: URL(fileURLWithPath: upstream + "/d0/f0")))
    _ = try await site.reported(revision: 1)

    // The floor: the same pulls by a plain script, each into a copy of its own, all at once.
    let (module, password) = try site.module()
    let scriptFile = work + "/fanout.sh"
    try
        (["set -e"]
        + (0..<count).map { "rsync -aH --delete '\(module)' '\(work)/script/c\($0)/' >/dev/null 2>&1 &" }
        + ["for job in $(jobs -p); do wait $job; done", ""])
        .joined(separator: "\n").write(toFile: scriptFile, atomically: true, encoding: .utf8)
    func script() throws -> Double {
        let (seconds, status) = try Bench.timed(
            "/bin/sh", [scriptFile], environment: ["LC_ALL": "C", "PATH": "/usr/bin:/bin", "RSYNC_PASSWORD": password])
        guard status == 0 else { throw BenchError("the script exited \(status)") }
        return seconds
    }
    for i in 0..<count { try fm.createDirectory(atPath: "\(work)/script/c\(i)", withIntermediateDirectories: true) }
    _ = try script()
    print("script (\(scriptFile)): \(count) of: rsync -aH --delete \(module) DEST/")

    var figures: [Double] = []
    var fanouts: [Double] = []
    var floors: [Double] = []
    var pulls: [Double] = []
    var triggers: [Double] = []
    var queued: [Double] = []
    for round in 1...runs {
        let revision = round + 1
        let (file, bytes) = try Bench.rewriteSmallFile(at: upstream, round: round, files: files)
        let start = Date()
        try await site.startSync(revision: revision)
        let runs = try await site.waitServed(revision: revision, file: file, bytes: bytes)
        let masterRun = try await site.reported(revision: revision)
        guard let synced = masterRun.endedAt, let last = runs.compactMap(\.endedAt).max() else {
            throw BenchError("the runs have no ends")
        }
        let floor = try script()
        try Chain.verify(upstream, against: site.tree("s\(count - 1)"))
        try Chain.verify(upstream, against: "\(work)/script/c\(count - 1)")
        let figure = last.timeIntervalSince(start)
        figures.append(figure)
        fanouts.append(last.timeIntervalSince(synced))
        floors.append(floor)
        let pull = runs.compactMap { run in run.endedAt.map { $0.timeIntervalSince(run.startedAt ?? $0) } }
        let trigger = runs.map { $0.queuedAt.timeIntervalSince(synced) }
        let wait = runs.compactMap { run in run.startedAt.map { $0.timeIntervalSince(run.queuedAt) } }
        pulls += pull
        triggers += trigger
        queued += wait
        func spread(_ values: [Double]) -> String {
            String(
                format: "%.3f-%.3f (median %.3f)", values.min() ?? 0, values.max() ?? 0, Bench.median(values))
        }
        print(
            String(
                format:
                    "round %d: sync → %d slaves served %.3f s (after the master's run %.3f s); script %.3f s; %.2fx",
                round, count, figure, last.timeIntervalSince(synced), floor, figure / floor))
        print(
            "  master's run \(String(format: "%.3f", synced.timeIntervalSince(masterRun.startedAt ?? synced))) s;"
                + " slaves: triggered \(spread(trigger)) s after it, queued → started \(spread(wait)) s, pull \(spread(pull)) s"
        )
    }
    let figure = Bench.median(figures)
    let floor = Bench.median(floors)
    print("")
    print(
        "fan-out: \(count) slave agents, \(files) files of 1 KiB, one changed per round, in \(work); median of \(runs)")
    print("                                        mirrorsync s   script s   ratio")
    print(String(format: "sync → every slave serving          %12.3f   %8.3f   %5.2f", figure, floor, figure / floor))
    print(
        String(
            format: "master's run end → every slave      %12.3f   %8.3f   %5.2f", Bench.median(fanouts), floor,
            Bench.median(fanouts) / floor))
    print(
        String(
            format:
                "each slave (all rounds): triggered %.3f s after the master's run, started %.3f s later, pull %.3f s (medians; pull max %.3f s)",
            Bench.median(triggers), Bench.median(queued), Bench.median(pulls), pulls.max() ?? 0))
    return 0
}
