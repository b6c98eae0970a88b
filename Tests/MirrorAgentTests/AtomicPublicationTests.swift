import Foundation
import Synchronization
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

@Suite("Atomic publication (real rsync, real links)")
struct AtomicPublicationTests {
    func job(_ source: String, _ destination: String, _ tweak: (inout SyncJob) -> Void = { _ in }) -> SyncJob {
        let source = source.hasSuffix("/") ? source : source + "/"
        var job = SyncJob(
            project: "test", source: .test(source), destination: destination + "/", timeout: TimeSpan(seconds: 120))
        job.publish = .atomic
        tweak(&job)
        return job
    }

    /// A scratch directory with an upstream tree of `files` files, and where the mirror's project `name` goes.
    static func setUp(files: Int, bytes: Int = 64, project name: String) throws -> (
        scratch: Scratch, upstream: String, mirror: String
    ) {
        let scratch = Scratch()
        try Tree.generate(at: scratch.path + "/upstream", files: files, bytes: bytes)
        return (scratch, scratch.path + "/upstream", scratch.path + "/mirror/" + name)
    }

    /// The tree a reader opening `link` finds now.
    static func served(_ link: String) throws -> [String: String] {
        try Tree.snapshot(URL(fileURLWithPath: link).resolvingSymlinksInPath().path)
    }

    static func inode(_ path: String) -> UInt64? {
        var info = stat()
        return lstat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// Rewrites a third of the files, deletes a tenth and adds some: a revision that a half-done sync would mix.
    static func nextRevision(of upstream: String, files: Int) throws {
        for i in 0..<files {
            let path = upstream + "/pool/\(i % 10)/file-\(i).deb"
            if i % 10 == 1 {
                try FileManager.default.removeItem(atPath: path)
            } else if i % 3 == 0 {
                try Data("revision 2 of \(i)\n".utf8).write(to: URL(fileURLWithPath: path))
            }
        }
        for i in 0..<20 {
            try Data("new \(i)\n".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/\(i % 10)/new-\(i).deb"))
        }
    }

    @Test(
        "a reader that opens the path during a sync sees exactly one whole revision at every sample; unchanged files are hard links"
    )
    func oneRevisionAtATime() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 300, bytes: 2048)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror/debian"
        let first = await TreeRunner.rsync().run(job(daemon.url, mirror), logger: testLogger)
        #expect(first.result == .success, "\(first)")
        let revision1 = try Tree.snapshot(upstream)
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: mirror).hasPrefix(
                ".mirrorsync-revisions/debian/1@"))
        #expect(try Self.served(mirror) == revision1)

        try Self.nextRevision(of: upstream, files: 300)
        let revision2 = try Tree.snapshot(upstream)
        // A reader resolves the path once per sample, as a client opening it does, and reads what it found.
        let samples = Mutex<[Bool]>([])
        let reading = Mutex(true)
        let reader = Task.detached {
            while reading.withLock({ $0 }) {
                guard let served = try? FileManager.default.destinationOfSymbolicLink(atPath: mirror) else { continue }
                let snapshot = (try? Tree.snapshot(scratch.path + "/mirror/" + served)) ?? [:]
                samples.withLock { $0.append(snapshot == revision1 || snapshot == revision2) }
            }
        }
        // Slow enough that the reader samples all through the build.
        let second = await TreeRunner.rsync().run(
            job(daemon.url, mirror) { $0.bandwidthLimit = ByteSize(bytes: 256 << 10) }, logger: testLogger)
        for _ in 0..<3 {
            if let served = try? FileManager.default.destinationOfSymbolicLink(atPath: mirror) {
                _ = try? Tree.snapshot(scratch.path + "/mirror/" + served)
            }
        }
        reading.withLock { $0 = false }
        await reader.value
        #expect(second.result == .success, "\(second)")
        #expect(second.filesDeleted == 30 && second.message.contains("published as revision 2"), "\(second.message)")
        let seen = samples.withLock { $0 }
        #expect(
            seen.count > 3 && seen.allSatisfy { $0 }, "\(seen.filter { !$0 }.count) of \(seen.count) samples saw a mix")
        #expect(try Self.served(mirror) == revision2)
        // An unchanged file is the same inode in both revisions: it cost no space.
        let store = scratch.path + "/mirror/.mirrorsync-revisions/debian"
        let names = try FileManager.default.contentsOfDirectory(atPath: store).sorted()
        #expect(names.count == 2 && names.allSatisfy { !$0.hasSuffix(".building") }, "\(names)")
        let unchanged = "/pool/2/file-2.deb"
        #expect(Self.inode(store + "/" + names[0] + unchanged) == Self.inode(store + "/" + names[1] + unchanged))
        #expect(
            Self.inode(store + "/" + names[0] + "/pool/3/file-3.deb")
                != Self.inode(store + "/" + names[1] + "/pool/3/file-3.deb"))
    }

    @Test(
        "a build that fails or would delete past the cap publishes nothing and leaves nothing behind; a killed build's leftovers go"
    )
    func failedBuildPublishesNothing() async throws {
        let (scratch, upstream, mirror) = try Self.setUp(files: 100, project: "gnu")
        #expect(await TreeRunner.rsync().run(job(upstream, mirror), logger: testLogger).result == .success)
        let served = try FileManager.default.destinationOfSymbolicLink(atPath: mirror)
        let store = scratch.path + "/mirror/.mirrorsync-revisions/gnu"

        // Most of the upstream gone: past the cap of 10%.
        for i in 0..<60 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        let capped = await TreeRunner.rsync().run(job(upstream, mirror), logger: testLogger)
        #expect(capped.result == .failed && capped.reason == "deletion-cap", "\(capped)")
        #expect(
            capped.message.contains("would delete 60 files") && capped.message.contains("nothing was published"),
            "\(capped.message)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: mirror) == served)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: store) == [String(served.split(separator: "/").last!)])

        // An upstream that is down.
        let down = await TreeRunner.rsync().run(job("rsync://127.0.0.1:\(freePort())/pub/", mirror), logger: testLogger)
        #expect(down.result == .failed && down.message.contains("nothing was published"), "\(down)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: mirror) == served)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store).count == 1)

        // What a killed agent's build left is removed before the next one.
        try FileManager.default.createDirectory(atPath: store + "/7.building/pool", withIntermediateDirectories: true)
        let allowed = await TreeRunner.rsync().run(
            job(upstream, mirror) { $0.maxDelete = .percent(100) }, logger: testLogger)
        #expect(allowed.result == .success && allowed.filesDeleted == 60, "\(allowed)")
        #expect(try !FileManager.default.contentsOfDirectory(atPath: store).contains { $0.hasSuffix(".building") })
    }

    @Test("revisions past the newest two are pruned once their grace has passed, never the served one")
    func pruning() async throws {
        let (scratch, upstream, mirror) = try Self.setUp(files: 10, project: "tools")
        let store = scratch.path + "/mirror/.mirrorsync-revisions/tools"
        var patient = TreeRunner.rsync()
        patient.revisionGrace = 3600
        for round in 0..<3 {
            // A different length each round: rsync's quick check (size and time) would miss a change within one second.
            try Data("round \(round)\(String(repeating: "!", count: round))\n".utf8).write(
                to: URL(fileURLWithPath: upstream + "/pool/0/file-0.deb"))
            #expect(await patient.run(job(upstream, mirror), logger: testLogger).result == .success)
        }
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: store).count == 3,
            "within the grace every revision is kept")
        var prompt = TreeRunner.rsync()
        prompt.revisionGrace = 0
        try Data("round 4!!!!\n".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/0/file-0.deb"))
        #expect(await prompt.run(job(upstream, mirror), logger: testLogger).result == .success)
        let left = try FileManager.default.contentsOfDirectory(atPath: store).compactMap(
            RevisionTree.Revision.init(name:)
        ).map(\.serial).sorted()
        #expect(left == [3, 4])
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: mirror).hasPrefix(
                ".mirrorsync-revisions/tools/4@"))
        #expect(try String(contentsOfFile: mirror + "/pool/0/file-0.deb", encoding: .utf8) == "round 4!!!!\n")
    }

    @Test("a tree switches from in place to atomic and back without a file copied: the same inodes throughout")
    func switchingModes() async throws {
        let (scratch, upstream, mirror) = try Self.setUp(files: 50, project: "kde")
        #expect(
            await TreeRunner.rsync().run(job(upstream, mirror) { $0.publish = .inPlace }, logger: testLogger).result
                == .success)
        let file = "/pool/4/file-4.deb"
        let original = try #require(Self.inode(mirror + file))

        let atomic = await TreeRunner.rsync().run(job(upstream, mirror), logger: testLogger)
        #expect(atomic.result == .success && atomic.filesTransferred == 0, "\(atomic)")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: mirror).hasPrefix(".mirrorsync-revisions/kde/1@"))
        #expect(Self.inode(mirror + file) == original, "the new revision hard-links the tree served in place")
        #expect(try Self.served(mirror) == Tree.snapshot(upstream))

        let back = await TreeRunner.rsync().run(job(upstream, mirror) { $0.publish = .inPlace }, logger: testLogger)
        #expect(back.result == .success && back.filesTransferred == 0, "\(back)")
        var info = stat()
        #expect(lstat(mirror, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR, "a directory again")
        #expect(Self.inode(mirror + file) == original)
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/mirror/.mirrorsync-revisions/kde"))
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))
    }
}
