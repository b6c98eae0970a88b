import Foundation
import Logging
import MirrorCore
import MirrorTestSupport
import Testing

@testable import MirrorAgent

#if canImport(Glibc)
    import Glibc
#endif

/// The master's change lists (`ChangeLog`, `TreeManifest`) and a slave's pull by them (`RsyncProvider+Listed.swift`),
/// with real files, a real rsync daemon as the master's, and a feed whose lists are the `ChangeLog`'s, on a manual clock.
@Suite("Change lists on the master and incremental pulls on a slave (real rsync)", .serialized)
struct ListedPullTests {
    /// The master's lists as a slave's feed gets them, with the full walks' times and the drift kept in memory.
    actor Feed: ChangeFeed {
        let log: ChangeLog
        let clock: ManualClock
        var walked: Date?
        var drifted = 0
        var asked = 0
        init(log: ChangeLog, clock: ManualClock) {
            self.log = log
            self.clock = clock
        }
        func lists(project: String, from: Int, to: Int, masterAPI: String) async -> [ChangeList]? {
            asked += 1
            return await log.lists(project: project, from: from, to: to)
        }
        func lastFullWalk(_ project: String) async -> Date? { walked }
        func fullWalked(_ project: String, at: Date) async { walked = at }
        func drift(_ project: String, entries: Int) async { drifted += entries }
        nonisolated func now() -> Date { clock.now() }
    }

    /// The site's credential, fixed.
    struct Credential: SiteCredentials {
        func credential(from masterAPI: String) async throws(PeerError) -> RsyncCredential {
            RsyncCredential(user: "mirror", password: "s3cret")
        }
        func forget() async {}
    }

    func write(_ path: String, _ text: String, time: Int = 1_600_000_000) throws {
        // A new file put in place by rename, as rsync writes one: a new inode.
        let temporary = path + ".tmp"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        var times = [timespec(tv_sec: time, tv_nsec: 0), timespec(tv_sec: time, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, temporary, &times, 0)
        _ = rename(temporary, path)
    }

    func names(_ list: ChangeList) -> [String] {
        list.entries.map {
            "\($0.operation.rawValue) \($0.kind.rawValue) \($0.path.isEmpty ? "." : PathEscaping.escape($0.path))"
        }
    }

    @Test("a revision's list: rewrites with the same size and time, hard links, changes of type, odd names, two-stage")
    func masterLists() async throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree + "/d/e", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree + "/dists", withIntermediateDirectories: true)
        try write(tree + "/same", "aaaa")
        try write(tree + "/d/e/f", "f")
        try write(tree + "/dists/Release", "r")
        let log = ChangeLog(directory: scratch.sub("changes"), logger: testLogger)
        await log.record(project: "p", revision: 1, tree: tree, twoStage: ["dists/"])
        #expect(await log.lists(project: "p", from: 0, to: 1) == nil)
        try write(tree + "/same", "bbbb")  // same size, same time, new contents
        #expect(link(tree + "/same", tree + "/hard") == 0)
        try FileManager.default.removeItem(atPath: tree + "/d")
        try write(tree + "/d", "now a file")
        let odd = tree + "/new\nline\u{FF}"
        try write(odd, "x")
        try write(tree + "/dists/Release", "rr")
        await log.record(project: "p", revision: 2, tree: tree, twoStage: ["dists/"])
        let lists = try #require(await log.lists(project: "p", from: 1, to: 2))
        let listed = Set(names(lists[0]))
        for expected in [
            "changed file same", "created file hard", "deleted file d/e/f", "deleted directory d/e",
            "deleted directory d", "created file d", "created file new\\#012line\\#303\\#277",
            "changed file dists/Release",
            "changed directory .",
        ] {
            #expect(listed.contains(expected), "\(expected) in \(listed.sorted())")
        }
        #expect(lists[0].entries.first { $0.path == Array("dists/Release".utf8) }?.twoStage == true)
        #expect(lists[0].entries.first { $0.path == Array("same".utf8) }?.twoStage == false)
        // Both names of the hard-linked file, marked, so that one pass brings them together.
        #expect(
            lists[0].entries.filter(\.hardLinked).map { String(decoding: $0.path, as: UTF8.self) }.sorted() == [
                "hard", "same",
            ])
        // Nothing changed: an empty list, which still continues the chain.
        await log.record(project: "p", revision: 3, tree: tree, twoStage: [])
        #expect(await log.lists(project: "p", from: 1, to: 3)?.last?.entries == [])
        // A revision with no list breaks the chain: the manifest was of revision 3, this is 5.
        await log.record(project: "p", revision: 5, tree: tree, twoStage: [])
        #expect(await log.lists(project: "p", from: 3, to: 5) == nil)
    }

    @Test(
        "a slave pulls by the lists: same size and time still arrives, the cap counts the list, drift is found and counted"
    )
    func slavePulls() async throws {
        let scratch = Scratch()
        let master = scratch.sub("master")
        let slave = scratch.path + "/slave/p/"
        try Tree.generate(at: master, files: 30, bytes: 100)
        try FileManager.default.createDirectory(atPath: master + "/sub dir", withIntermediateDirectories: true)
        try write(master + "/sub dir/keep", "1234")
        // Times of the past, as an upstream's are by the time a mirror pulls them (rsync takes two times in one second
        // as equal for a directory).
        var times = TreeChanges(root: master, seed: 5)
        try times.settle()
        let daemon = try RsyncDaemon(tree: master, scratch: scratch, user: "mirror", password: "s3cret")
        let log = ChangeLog(directory: scratch.sub("changes"), logger: testLogger)
        let clock = ManualClock()
        let feed = Feed(log: log, clock: clock)
        let runner = TreeRunner.rsync(clock: clock, siteCredentials: Credential(), changeFeed: feed)
        var revision = 1
        await log.record(project: "p", revision: 1, tree: master, twoStage: [])
        func pull(_ tweak: (inout SyncJob) -> Void = { _ in }) async -> SyncOutcome {
            var job = SyncJob(
                project: "p",
                source: .masterModule(
                    .rsync(user: nil, host: "127.0.0.1", port: daemon.port, path: "pub"), masterAPI: "http://m"),
                destination: slave, maxDelete: .files(100))
            job.trace = false
            job.previousFiles = 32
            tweak(&job)
            return await runner.run(job, logger: testLogger)
        }
        func check(sourceLocation: SourceLocation = #_sourceLocation) throws {
            let differences = try RawTree.read(master).differences(from: RawTree.read(slave))
            #expect(differences.isEmpty, "\(differences)", sourceLocation: sourceLocation)
        }
        let first = await pull()
        #expect(first.result == .success && first.message.hasPrefix("full walk (the first pull)"), "\(first.message)")
        try check()
        // The master's tree moves on twice while the slave stays at revision 1; the file ends with its old size and time.
        try write(master + "/sub dir/keep", "5678", time: 1_700_000_000)
        try write(master + "/added", "new")
        try times.settle()
        await log.record(project: "p", revision: 2, tree: master, twoStage: [])
        try write(master + "/sub dir/keep", "abcd")
        try FileManager.default.removeItem(atPath: master + "/added")
        try FileManager.default.removeItem(atPath: master + "/pool/3/file-3.deb")
        try times.settle()
        await log.record(project: "p", revision: 3, tree: master, twoStage: [])
        revision = 3
        let listed = await pull {
            $0.servedRevision = 1
            $0.pullingRevision = revision
        }
        #expect(listed.result == .success, "\(listed.message)")
        #expect(listed.message.hasPrefix("incremental pull of revisions 1 to 3"), "\(listed.message)")
        try check()
        // Past the cap, counted from the lists: nothing is copied or deleted.
        for n in 4...9 { try FileManager.default.removeItem(atPath: master + "/pool/\(n)/file-\(n).deb") }
        try write(master + "/another", "x")
        try times.settle()
        await log.record(project: "p", revision: 4, tree: master, twoStage: [])
        let capped = await pull {
            $0.servedRevision = 3
            $0.pullingRevision = 4
            $0.maxDelete = .files(2)
        }
        #expect(capped.reason == "deletion-cap" && capped.message.contains("nothing was copied"), "\(capped.message)")
        #expect(
            FileManager.default.fileExists(atPath: slave + "pool/4/file-4.deb")
                && !FileManager.default.fileExists(atPath: slave + "another"))
        // A day later the listed pull is followed by a full walk, which finds what someone did to the slave's tree.
        clock.advance(by: 2 * 86_400)
        try FileManager.default.removeItem(atPath: slave + "pool/0/file-20.deb")
        let checked = await pull {
            $0.servedRevision = 3
            $0.pullingRevision = 4
        }
        #expect(
            checked.result == .success && checked.message.contains("found 1 entries of drift"), "\(checked.message)")
        #expect(await feed.drifted == 1)
        try check()
        // A missing list: the whole tree.
        let broken = await pull {
            $0.servedRevision = 4
            $0.pullingRevision = 6
        }
        #expect(broken.message.hasPrefix("full walk (the master keeps no complete list"), "\(broken.message)")
    }
}
