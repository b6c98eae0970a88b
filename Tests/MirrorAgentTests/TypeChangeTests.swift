import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// An entry the upstream turns into another type (a directory into a file or a link, and back) arrives in one run, in
/// every mode; the deletions such a change makes are counted against the cap like any other. Real rsync, real daemon.
@Suite("changes of type (real rsync, real daemon)")
struct TypeChangeTests {
    let runner = TreeRunner.rsync()

    /// How a project is synced: in place or by revisions, with or without a second stage.
    struct Mode: Sendable, CustomTestStringConvertible {
        var publish: PublishMode
        var twoStage: [String]
        var testDescription: String { "\(publish.rawValue)\(twoStage.isEmpty ? "" : ", two-stage")" }
    }

    static let modes = [
        Mode(publish: .inPlace, twoStage: []), Mode(publish: .inPlace, twoStage: ["dists/", "Release"]),
        Mode(publish: .atomic, twoStage: []),
    ]

    /// Times of the past on what changed, as an upstream has them when a mirror pulls (`TreeChanges.settle`).
    func settle(_ upstream: String) throws {
        var changes = TreeChanges(root: upstream, seed: 1)
        try changes.settle()
    }

    func job(_ source: String, _ destination: String, _ mode: Mode, previous: Int? = nil) -> SyncJob {
        var job = SyncJob(
            project: "test", source: .test(source), destination: destination + "/", twoStage: mode.twoStage,
            timeout: TimeSpan(seconds: 30), maxDelete: .files(1000), previousFiles: previous)
        job.publish = mode.publish
        return job
    }

    /// Every change of type among file, directory and symlink, one of each, in the same run; a directory with
    /// something in it among those replaced, and one that is a second-stage directory.
    @Test("every change of type arrives in one run", arguments: modes)
    func everyChange(mode: Mode) async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        let fm = FileManager.default
        try Tree.generate(at: upstream, files: 20)
        func file(_ path: String, _ text: String = "x") throws {
            try fm.createDirectory(
                atPath: (upstream + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true
            )
            try Data(text.utf8).write(to: URL(fileURLWithPath: upstream + "/" + path))
        }
        for path in [
            "dirToFile/a", "dirToFile/sub/b", "dirToLink/a", "dists/main/Packages", "fileToDir", "fileToLink",
            "Release", "nested/dirToFile/a", "a/b",
        ] {
            try file(path)
        }
        try fm.createSymbolicLink(atPath: upstream + "/linkToDir", withDestinationPath: "pool")
        try fm.createSymbolicLink(atPath: upstream + "/linkToFile", withDestinationPath: "Release")
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let first = await runner.run(job(daemon.url, mirror, mode), logger: testLogger)
        #expect(first.result == .success, "\(first)")

        for path in [
            "dirToFile", "dirToLink", "dists", "fileToDir", "fileToLink", "linkToDir", "linkToFile", "nested/dirToFile",
        ] {
            try fm.removeItem(atPath: upstream + "/" + path)
        }
        try file("dirToFile", "now a file")
        // A directory become a file that is a hard link of one listed before it: with rsync's incremental recursion,
        // the first pass (which may not delete what the directory holds) waited for the link's other name until the
        // run's timeout, its --timeout never firing.
        try file("nested/dirToFile", "now a linked file")
        try fm.linkItem(atPath: upstream + "/nested/dirToFile", toPath: upstream + "/a/link")
        try fm.createSymbolicLink(atPath: upstream + "/dirToLink", withDestinationPath: "pool/1")
        try fm.createSymbolicLink(atPath: upstream + "/dists", withDestinationPath: "pool")
        try file("fileToDir/inside")
        try fm.createSymbolicLink(atPath: upstream + "/fileToLink", withDestinationPath: "Release")
        try file("linkToDir/inside")
        try file("linkToFile", "now a file")
        try settle(upstream)
        let changed = await runner.run(job(daemon.url, mirror, mode, previous: first.filesTotal), logger: testLogger)
        #expect(changed.result == .success, "\(changed)")
        let served = URL(fileURLWithPath: mirror).resolvingSymlinksInPath().path
        let differences = try RawTree.read(upstream).differences(from: RawTree.read(served))
        #expect(differences == [], "\(differences)")
        // dirToFile's a, sub and sub/b; dirToLink's a; dists' main and main/Packages; nested/dirToFile's a.
        if mode.publish == .inPlace { #expect(changed.filesDeleted == 7, "\(changed)") }
    }

    @Test(
        "the deletions a change of type makes count against the cap: over it, nothing changes; within it, the change arrives"
    )
    func capped() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        let fm = FileManager.default
        try Tree.generate(at: upstream, files: 20)
        try fm.createDirectory(atPath: upstream + "/swap/sub/deeper", withIntermediateDirectories: true)
        for path in ["swap/a", "swap/sub/b", "swap/sub/deeper/c"] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: upstream + "/" + path))
        }
        try fm.createSymbolicLink(atPath: upstream + "/swap/l", withDestinationPath: "a")
        try settle(upstream)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let mode = Mode(publish: .inPlace, twoStage: [])
        let first = await runner.run(job(daemon.url, mirror, mode), logger: testLogger)
        #expect(first.result == .success, "\(first)")

        // swap's a, l, sub, sub/b, sub/deeper, sub/deeper/c go to make way for the file.
        try fm.removeItem(atPath: upstream + "/swap")
        try Data("a file".utf8).write(to: URL(fileURLWithPath: upstream + "/swap"))
        try settle(upstream)
        let before = try RawTree.read(mirror)
        var tight = job(daemon.url, mirror, mode, previous: first.filesTotal)
        tight.maxDelete = .files(5)
        let refused = await runner.run(tight, logger: testLogger)
        #expect(refused.result == .failed && refused.reason == "deletion-cap", "\(refused)")
        #expect(refused.message.contains("would delete 6 files"), "\(refused.message)")
        #expect(try RawTree.read(mirror) == before, "nothing changed")

        tight.maxDelete = .files(6)
        let done = await runner.run(tight, logger: testLogger)
        #expect(done.result == .success && done.filesDeleted == 6, "\(done)")
        let differences = try RawTree.read(upstream).differences(from: RawTree.read(mirror))
        #expect(differences == [], "\(differences)")
    }

    @Test("a slave's first stage holds a change of type for its second, which makes it")
    func stagedRuns() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        let fm = FileManager.default
        try Tree.generate(at: upstream, files: 20)
        try fm.createDirectory(atPath: upstream + "/release/1.0", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: upstream + "/release/1.0/notes"))
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let mode = Mode(publish: .inPlace, twoStage: ["Release"])
        let first = await runner.run(job(daemon.url, mirror, mode), logger: testLogger)
        #expect(first.result == .success, "\(first)")

        try fm.removeItem(atPath: upstream + "/release")
        try fm.createSymbolicLink(atPath: upstream + "/release", withDestinationPath: "pool/2")
        try settle(upstream)
        var stage1 = job(daemon.url, mirror, mode, previous: first.filesTotal)
        stage1.stage = .first
        let one = await runner.run(stage1, logger: testLogger)
        #expect(one.result == .success && one.deletionLimit == 1000, "\(one)")
        #expect(one.message.contains("2 to delete"), "\(one.message)")
        var stage2 = stage1
        stage2.stage = .second(deletionLimit: one.deletionLimit ?? 0)
        let two = await runner.run(stage2, logger: testLogger)
        #expect(two.result == .success && two.filesDeleted == 2, "\(two)")
        let differences = try RawTree.read(upstream).differences(from: RawTree.read(mirror))
        #expect(differences == [], "\(differences)")
    }
}
