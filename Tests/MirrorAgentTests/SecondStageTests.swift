import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// A two-stage sync: the first pass brings everything but the second stage and deletes nothing; the second walks the
/// whole tree again, brings the second stage and deletes what the first counted. Real rsync, real daemon.
@Suite("two-stage passes (real rsync, real daemon)")
struct SecondStageTests {
    let runner = TreeRunner.rsync()
    let stages = ["Packages*", "Release", "i18n/"]
    /// The second stage of the tree `upstream` builds: index files at the top and a directory the patterns name whole.
    let indexFiles = [
        "Packages", "Packages.gz", "Release", "dists/main/i18n/Translation-en", "dists/main/i18n/de/Translation-de",
    ]

    func job(_ source: String, _ destination: String, _ tweak: (inout SyncJob) -> Void = { _ in }) -> SyncJob {
        var job = SyncJob(
            project: "test", source: .test(source), destination: destination + "/", twoStage: stages,
            timeout: TimeSpan(seconds: 120))
        tweak(&job)
        return job
    }

    /// 300 pool files and the index files, each index naming the revision (a longer text each time, so that rsync's
    /// check by size and time sees the change even within the second).
    func upstream(in scratch: Scratch, revision: String = "1") throws -> String {
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 300)
        try FileManager.default.createDirectory(
            atPath: upstream + "/dists/main/i18n/de", withIntermediateDirectories: true)
        for name in indexFiles {
            try Data("\(name) \(revision)".utf8).write(to: URL(fileURLWithPath: upstream + "/" + name))
        }
        return upstream
    }

    /// An upstream served by a daemon, and a mirror of it after a first, full sync.
    struct Synced {
        let scratch: Scratch
        let upstream: String
        let daemon: RsyncDaemon
        var mirror: String { scratch.path + "/mirror" }
    }

    func synced() async throws -> (Synced, SyncOutcome) {
        let scratch = Scratch()
        let site = Synced(
            scratch: scratch, upstream: try upstream(in: scratch),
            daemon: try RsyncDaemon(tree: scratch.path + "/upstream", scratch: scratch))
        let full = await runner.run(job(site.daemon.url, site.mirror), logger: testLogger)
        #expect(full.result == .success, "\(full)")
        return (site, full)
    }

    @Test("a second stage always has a second pass over the whole tree; without one, only deletions ask for it")
    func arguments() {
        let job = SyncJob(
            project: "p", source: .test("rsync://h/m/"), destination: "/srv/m/p/", exclude: ["*.tmp"],
            twoStage: ["Packages*", "dists/"],
            rsyncOptions: ["--no-owner"])
        #expect(RsyncArguments.secondPass(for: job, pendingDeletions: 0, limit: 9) == .second(maxDelete: 9))
        #expect(RsyncArguments.secondPass(for: job, pendingDeletions: 3, limit: 9) == .second(maxDelete: 9))
        var plain = job
        plain.twoStage = []
        #expect(RsyncArguments.secondPass(for: plain, pendingDeletions: 0, limit: 9) == nil)
        #expect(RsyncArguments.secondPass(for: plain, pendingDeletions: 1, limit: 9) == .second(maxDelete: 9))

        let first = RsyncArguments.arguments(for: job, pass: .first)
        #expect(
            first.filter { $0.hasPrefix("--exclude=") } == [
                "--exclude=*.tmp", "--exclude=Packages*", "--exclude=dists/",
            ])
        let second = RsyncArguments.arguments(for: job, pass: .second(maxDelete: 9))
        #expect(
            second.contains("--max-delete=9") && second.contains("--delay-updates") && second.contains("--delete-delay")
        )
        #expect(second.filter { $0.hasPrefix("--include=") || $0.hasPrefix("--exclude=") } == ["--exclude=*.tmp"])
        #expect(Array(second.suffix(3)) == ["--", "rsync://h/m/", "/srv/m/p/"])
    }

    @Test("a second-stage file that is a hard link of a pool file stays one file with it, new or made a link later")
    func hardLinksAcrossTheStages() async throws {
        let (site, full) = try await synced()
        let (upstream, daemon, mirror) = (site.upstream, site.daemon, site.mirror)
        // A new index that is a link of an old package, and an old index made a link of another.
        try FileManager.default.linkItem(atPath: upstream + "/pool/1/file-1.deb", toPath: upstream + "/Packages.new")
        try FileManager.default.removeItem(atPath: upstream + "/Release")
        try FileManager.default.linkItem(atPath: upstream + "/pool/2/file-2.deb", toPath: upstream + "/Release")
        let again = await runner.run(job(daemon.url, mirror) { $0.previousFiles = full.filesTotal }, logger: testLogger)
        #expect(again.result == .success, "\(again)")
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))
        func inode(_ path: String) -> UInt {
            var info = stat()
            lstat(mirror + "/" + path, &info)
            return UInt(info.st_ino)
        }
        #expect(inode("Packages.new") == inode("pool/1/file-1.deb"))
        #expect(inode("Release") == inode("pool/2/file-2.deb"))
    }

    @Test("a re-sync with nothing to change still runs two passes, and its totals are the whole tree's")
    func noChange() async throws {
        let (site, full) = try await synced()
        let (upstream, daemon, mirror) = (site.upstream, site.daemon, site.mirror)
        let again = await runner.run(job(daemon.url, mirror) { $0.previousFiles = full.filesTotal }, logger: testLogger)
        #expect(again.result == .success, "\(again)")
        #expect(again.passSeconds.count == 2)
        #expect(again.filesTransferred == 0 && again.filesDeleted == 0)
        // Both second passes listed everything: the totals agree.
        #expect(again.filesTotal == full.filesTotal && again.bytesTotal == full.bytesTotal)
        #expect(again.message.contains(", \(full.filesTotal!) in the tree"))
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))
    }

    @Test(
        "with no deletions counted, a changed pool file comes in the first pass, changed, new and vanished index files in the second, index files last"
    )
    func changesWithoutDeletions() async throws {
        let (site, full) = try await synced()
        let (upstream, daemon, mirror) = (site.upstream, site.daemon, site.mirror)

        try Data("new package".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/3/new.deb"))
        for name in indexFiles { try Data("\(name) 22".utf8).write(to: URL(fileURLWithPath: upstream + "/" + name)) }
        try Data("Packages.xz 2".utf8).write(to: URL(fileURLWithPath: upstream + "/Packages.xz"))
        try FileManager.default.removeItem(atPath: upstream + "/Packages.gz")
        try FileManager.default.removeItem(atPath: upstream + "/dists/main/i18n/de")
        let again = await runner.run(job(daemon.url, mirror) { $0.previousFiles = full.filesTotal }, logger: testLogger)
        #expect(again.result == .success, "\(again)")
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))
        // Packages.gz, and the directory de with the file in it.
        #expect(again.filesDeleted == 3)
        // new.deb, then Packages, Packages.xz, Release and Translation-en.
        #expect(again.filesTransferred == 5)
        #expect(again.filesTotal == Tree.count(upstream) + 1)  // rsync counts the top directory too
        // The public tree's guarantee: the new package was in place before any index file changed.
        #expect(
            changeTime(mirror + "/pool/3/new.deb") < ["Packages", "Packages.xz", "Release"].map {
                changeTime(mirror + "/" + $0)
            }.min()!)
    }

    @Test(
        "deletions the first pass counted happen in the second pass; over the cap, nothing changes, index files included"
    )
    func deletionsWalkTheWholeTree() async throws {
        let (site, full) = try await synced()
        let (upstream, daemon, mirror) = (site.upstream, site.daemon, site.mirror)

        for i in 0..<5 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        for name in indexFiles { try Data("\(name) 22".utf8).write(to: URL(fileURLWithPath: upstream + "/" + name)) }
        let small = await runner.run(job(daemon.url, mirror) { $0.previousFiles = full.filesTotal }, logger: testLogger)
        #expect(small.result == .success, "\(small)")
        #expect(small.filesDeleted == 5)
        #expect(small.filesTotal == Tree.count(upstream) + 1)
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))

        // Half the pool goes and every index changes: the cap stops the run before its second pass; nothing is deleted,
        // and no index file names the files that were to go.
        let before = try Tree.snapshot(mirror)
        for i in 5..<160 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        for name in indexFiles { try Data("\(name) 333".utf8).write(to: URL(fileURLWithPath: upstream + "/" + name)) }
        let big = await runner.run(job(daemon.url, mirror) { $0.previousFiles = small.filesTotal }, logger: testLogger)
        #expect(big.result == .failed && big.reason == "deletion-cap", "\(big)")
        #expect(big.filesDeleted == 0)
        #expect(try Tree.snapshot(mirror) == before)
    }

    func changeTime(_ path: String) -> Double {
        var info = stat()
        lstat(path, &info)
        return Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9
    }
}
