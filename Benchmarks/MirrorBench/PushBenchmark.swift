// `push`: from an upstream's push to its new revision served on both slaves, against the same chain started by
// hand (`POST /v1/projects/bench/sync`), on a tree with a share of its files changed before each round.
import Foundation
import MirrorTestSupport

func pushBenchmark(_ options: [String: String]) async throws -> Int32 {
    let tree = Bench.TreeWork(options, name: "push", files: 20_000, copies: 4.5)
    defer { tree.remove() }
    let files = tree.files
    let mib = tree.mib
    let runs = max(1, Int(options["runs"] ?? "") ?? 5)
    let share = Double((options["changed"] ?? "1%").replacingOccurrences(of: "%", with: "")).map { $0 / 100 } ?? 0.01
    let work = tree.path
    let fm = FileManager.default
    let upstream = work + "/upstream"
    try Bench.writeTree(at: upstream, files: files, mib: mib)
    let scratch = Scratch("mirrorsync-push-bench")
    let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
    defer { daemon.stop() }
    let pushToken = "push-\(UUID().uuidString)"
    let chain = try await Chain(work: work + "/mirrorsync", upstream: daemon.url, pushToken: pushToken)
    defer { chain.stop() }
    print("first sync of the whole tree: \(String(format: "%.2f", try await chain.sync(revision: 1, files: files))) s")

    // Every round rewrites a different share of the files, as an upstream's publication would.
    let paths = (fm.enumerator(atPath: upstream)?.allObjects as? [String] ?? []).filter {
        var isDirectory: ObjCBool = false
        return fm.fileExists(atPath: upstream + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue
    }.sorted()
    let step = max(1, Int((1 / share).rounded()))
    var generator = SystemRandomNumberGenerator()
    func publish(_ round: Int) throws -> Int {
        var changed = 0
        for (i, path) in paths.enumerated() where i % step == round % step {
            let size = (try fm.attributesOfItem(atPath: upstream + "/" + path)[.size] as? Int) ?? 0
            try Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(
                to: URL(fileURLWithPath: upstream + "/" + path))
            changed += 1
        }
        return changed
    }

    var byHand: [Double] = []
    var pushed: [Double] = []
    var revision = 1
    for round in 0..<(2 * runs) {
        let changed = try publish(round)
        revision += 1
        // Alternate which way starts the chain.
        let push = round % 2 == (round / 2) % 2
        let seconds = try await chain.sync(revision: revision, files: changed, pushedWith: push ? pushToken : nil)
        try Chain.verify(upstream, against: chain.tree("b"))
        if push { pushed.append(seconds) } else { byHand.append(seconds) }
        print(
            String(
                format: "round %d: %d files changed, %@ %.3f s", round + 1, changed, push ? "push   " : "by hand",
                seconds))
    }
    print("")
    print(
        "push → served on 2 slaves: \(files) files, \(mib) MiB, \(String(format: "%.1f", share * 100))% changed per round, in \(work); median of \(runs) each"
    )
    print("                          by hand s     push s    ratio")
    print(
        String(
            format: "to both slaves served      %8.3f   %8.3f   %6.3f", Bench.median(byHand), Bench.median(pushed),
            Bench.median(pushed) / Bench.median(byHand)))
    return 0
}
