import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

@Suite("rsync runner (real rsync, real daemon)")
struct RsyncRunnerTests {
    let runner = TreeRunner.rsync()

    func job(_ source: String, _ destination: String, _ tweak: (inout SyncJob) -> Void = { _ in }) -> SyncJob {
        var job = SyncJob(
            project: "test", source: .test(source), destination: destination + "/", timeout: TimeSpan(seconds: 120))
        tweak(&job)
        return job
    }

    @Test(
        "a full sync from an rsync daemon gives a byte-identical tree, links and hard links kept; a re-sync copies nothing"
    )
    func fullSync() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 200)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let outcome = await runner.run(job(daemon.url, mirror), logger: testLogger)
        #expect(outcome.result == .success, "\(outcome)")
        #expect(outcome.filesTransferred == 200)  // the hard link is made, not transferred
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))
        #expect(
            try Tree.snapshot(mirror)["hardlink.deb"]?.contains("linked to") == true
                || Tree.snapshot(mirror)["pool/0/file-0.deb"]?.contains("linked to") == true)

        let again = await runner.run(job(daemon.url, mirror), logger: testLogger)
        #expect(again.result == .success)
        #expect(again.filesTransferred == 0)
        #expect(again.filesDeleted == 0)

        try Data("changed".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/3/file-3.deb"))
        let changed = await runner.run(job(daemon.url, mirror), logger: testLogger)
        #expect(changed.filesTransferred == 1)
        #expect(try String(contentsOfFile: mirror + "/pool/3/file-3.deb", encoding: .utf8) == "changed")
    }

    @Test("with a second stage, the index files land after everything else")
    func twoStageOrder() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 300)
        for name in ["Packages", "Packages.gz", "Release"] {
            try Data(name.utf8).write(to: URL(fileURLWithPath: upstream + "/\(name)"))
        }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let outcome = await runner.run(
            job(daemon.url, mirror) { $0.twoStage = ["Packages*", "Release"] }, logger: testLogger)
        #expect(outcome.result == .success, "\(outcome)")
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))
        func changeTime(_ path: String) -> Double {
            var info = stat()
            lstat(path, &info)
            return Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9
        }
        let indexTimes = ["Packages", "Packages.gz", "Release"].map { changeTime(mirror + "/" + $0) }
        let poolTimes = (0..<300).map { changeTime(mirror + "/pool/\($0 % 10)/file-\($0).deb") }
        #expect(indexTimes.min()! > poolTimes.max()!)
    }

    @Test(
        "a slave's two stages as two runs: the first brings the packages, deletes nothing and leaves the index; the second brings the index and deletes within the first's count"
    )
    func stagesAsRuns() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 50)
        try FileManager.default.createDirectory(atPath: upstream + "/dists", withIntermediateDirectories: true)
        try Data("index 1\n".utf8).write(to: URL(fileURLWithPath: upstream + "/dists/Packages"))
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let staged = { (stage: SyncStage, previous: Int?) in
            self.job(daemon.url, mirror) {
                $0.twoStage = ["dists/"]
                $0.stage = stage
                $0.previousFiles = previous
            }
        }
        let whole = await runner.run(staged(.whole, nil), logger: testLogger)
        #expect(whole.result == .success, "\(whole)")

        // The next revision: a new package named by a new index, and two packages gone.
        try Data("new".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/1/new.deb"))
        try Data("index 2, names new.deb\n".utf8).write(to: URL(fileURLWithPath: upstream + "/dists/Packages"))
        for i in [2, 3] { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i)/file-\(i).deb") }
        let first = await runner.run(staged(.first, whole.filesTotal), logger: testLogger)
        #expect(first.result == .success, "\(first)")
        #expect(first.message.hasPrefix("stage 1 of 2") && first.message.contains("2 to delete"), "\(first.message)")
        #expect(
            first.deletionLimit == staged(.first, whole.filesTotal).deletionLimit(currentFiles: 0),
            "the cap on the tree it held")
        #expect(FileManager.default.fileExists(atPath: mirror + "/pool/1/new.deb"))
        #expect(
            FileManager.default.fileExists(atPath: mirror + "/pool/2/file-2.deb"), "the first stage deletes nothing")
        #expect(
            try String(contentsOfFile: mirror + "/dists/Packages", encoding: .utf8) == "index 1\n",
            "the index waits for stage 2")

        let second = await runner.run(
            staged(.second(deletionLimit: try #require(first.deletionLimit)), whole.filesTotal), logger: testLogger)
        #expect(second.result == .success, "\(second)")
        #expect(second.message.hasPrefix("stage 2 of 2"), "\(second.message)")
        #expect(second.filesDeleted == 2)
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))

        // A second stage held to the first's count: deletions past it stop the run, as the cap says.
        for i in 4..<20 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        let capped = await runner.run(staged(.second(deletionLimit: 0), second.filesTotal), logger: testLogger)
        #expect(capped.result == .failed && capped.reason == "deletion-cap", "\(capped)")
    }

    @Test("deletions within the cap happen; an upstream mostly deleted is stopped with every file kept")
    func deletionCap() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 100)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let first = await runner.run(job(daemon.url, mirror), logger: testLogger)
        #expect(first.result == .success)
        let synced = try #require(first.filesTotal)

        // Five of 100 files go: within a 10% cap.
        for i in 0..<5 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        let small = await runner.run(job(daemon.url, mirror) { $0.previousFiles = synced }, logger: testLogger)
        #expect(small.result == .success, "\(small)")
        #expect(small.filesDeleted == 5)
        #expect(try Tree.snapshot(mirror) == Tree.snapshot(upstream))

        // Then half of the rest goes: the cap stops the run and nothing is deleted.
        let before = try Tree.snapshot(mirror)
        for i in 5..<60 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        let big = await runner.run(job(daemon.url, mirror) { $0.previousFiles = small.filesTotal }, logger: testLogger)
        #expect(big.result == .failed)
        #expect(big.reason == "deletion-cap")
        #expect(big.message.contains("would delete 55 files"))
        #expect(try Tree.snapshot(mirror) == before)
        #expect(!big.retryable)

        // An absolute limit lets the same deletions through.
        let allowed = await runner.run(
            job(daemon.url, mirror) {
                $0.previousFiles = small.filesTotal
                $0.maxDelete = .files(100)
            }, logger: testLogger)
        #expect(allowed.result == .success)
        #expect(allowed.filesDeleted == 55)
    }

    @Test("an upstream that suddenly lists nothing never empties the mirror")
    func emptiedUpstream() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 50)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let mirror = scratch.path + "/mirror"
        let first = await runner.run(job(daemon.url, mirror), logger: testLogger)
        let before = try Tree.snapshot(mirror)
        try FileManager.default.removeItem(atPath: upstream)
        try FileManager.default.createDirectory(atPath: upstream, withIntermediateDirectories: true)
        // Even a cap of 100% does not let an empty upstream through.
        let outcome = await runner.run(
            job(daemon.url, mirror) {
                $0.previousFiles = first.filesTotal
                $0.maxDelete = .percent(100)
            }, logger: testLogger)
        #expect(outcome.result == .failed)
        #expect(outcome.reason == "empty-upstream")
        #expect(try Tree.snapshot(mirror) == before)
    }

    @Test("an upstream that is down fails with rsync's reason and may be retried")
    func upstreamDown() async throws {
        let scratch = Scratch()
        let port = freePort()
        let outcome = await runner.run(
            job("rsync://127.0.0.1:\(port)/pub/", scratch.path + "/mirror"), logger: testLogger)
        #expect(outcome.result == .failed)
        #expect(outcome.exitCode == 10)
        #expect(outcome.message.contains("Connection refused"), "\(outcome.message)")
        #expect(outcome.retryable)
    }

    @Test(
        "a failure quotes the first system error rsync names, not what its sibling process says after it",
        arguments: [
            // An upstream's link cut mid-transfer, once TCP gives up (the fault suite's story).
            (
                [
                    "rsync: [receiver] read error: Connection timed out (110)",
                    "rsync error: error in socket IO (code 10) at io.c(907) [receiver=3.5.0]",
                    "rsync: connection unexpectedly closed (2606 bytes received so far) [generator]",
                    "rsync error: error in rsync protocol data stream (code 12) at io.c(285) [generator=3.5.0]",
                ], 12,
                "rsync: [receiver] read error: Connection timed out (110)"
            ),
            (
                [
                    "[generator] io timeout after 5 seconds -- exiting",
                    "rsync error: timeout in data send/receive (code 30) at io.c(248) [generator=3.5.0]",
                    "rsync error: received SIGUSR1 (code 19) at main.c(1660) [receiver=3.5.0]",
                ], 30, "[generator] io timeout after 5 seconds -- exiting"
            ),
        ])
    func causeOfFailure(stderr: [String], code: Int, cause: String) {
        var invocation = RsyncProvider.Invocation()
        invocation.exitCode = code
        invocation.stderrTail = stderr
        let outcome = RsyncProvider().failure(of: invocation, pass: "first", allowing: [0])
        #expect(outcome?.message.hasSuffix("in the first pass: " + cause) == true, "\(outcome?.message ?? "none")")
    }

    @Test("the password reaches rsync through the run's own environment; a wrong one fails saying so")
    func password() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 10)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch, user: "mirror", password: "s3cret")
        let good = scratch.path + "/good.secret"
        let bad = scratch.path + "/bad.secret"
        try "s3cret\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "wrong\n".write(toFile: bad, atomically: true, encoding: .utf8)
        // Secrets only their owner may read (SecretFileRules).
        chmod(good, 0o600)
        chmod(bad, 0o600)
        let ok = await runner.run(
            job(daemon.url(user: "mirror"), scratch.path + "/a") {
                $0.source = .test(daemon.url(user: "mirror"), passwordFile: good)
            }, logger: testLogger)
        #expect(ok.result == .success, "\(ok)")
        let denied = await runner.run(
            job(daemon.url(user: "mirror"), scratch.path + "/b") {
                $0.source = .test(daemon.url(user: "mirror"), passwordFile: bad)
            }, logger: testLogger)
        #expect(denied.result == .failed)
        #expect(denied.message.contains("auth failed"), "\(denied.message)")
        let missing = await runner.run(
            job(daemon.url(user: "mirror"), scratch.path + "/c") {
                $0.source = .test(daemon.url(user: "mirror"), passwordFile: scratch.path + "/none")
            }, logger: testLogger)
        #expect(missing.reason == "password-file")
    }

    /// The site's credential as a slave's runner gets it, without a master.
    actor FixedCredentials: SiteCredentials {
        var password: String
        var forgotten = 0
        init(password: String) { self.password = password }
        func credential(from masterAPI: String) async throws(PeerError) -> RsyncCredential {
            RsyncCredential(user: "mirror", password: password)
        }
        func forget() { forgotten += 1 }
    }

    @Test("a source that names the site's credential logs in as its user; a refusal says so and forgets it")
    func siteCredential() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 10)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch, user: "mirror", password: "s3cret")
        let good = FixedCredentials(password: "s3cret")
        let ok = await TreeRunner.rsync(siteCredentials: good).run(
            job(daemon.url, scratch.path + "/a") {
                $0.source = .masterModule(
                    .rsync(user: nil, host: "127.0.0.1", port: daemon.port, path: "pub"), masterAPI: "http://m")
            },
            logger: testLogger)
        #expect(ok.result == .success, "\(ok)")
        let bad = FixedCredentials(password: "wrong")
        let denied = await TreeRunner.rsync(siteCredentials: bad).run(
            job(daemon.url, scratch.path + "/b") {
                $0.source = .masterModule(
                    .rsync(user: nil, host: "127.0.0.1", port: daemon.port, path: "pub"), masterAPI: "http://m")
            },
            logger: testLogger)
        #expect(
            denied.reason == "credential-refused" && denied.message.contains("refused this slave's credential"),
            "\(denied.message)")
        #expect(await bad.forgotten == 1)
        let orphan = await runner.run(
            job(daemon.url, scratch.path + "/c") {
                $0.source = .masterModule(
                    .rsync(user: nil, host: "127.0.0.1", port: daemon.port, path: "pub"), masterAPI: nil)
            }, logger: testLogger)
        #expect(orphan.reason == "credential")
    }

    @Test("a run past its timeout is stopped, rsync's whole process group with it")
    func timeout() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try await offPool { try Tree.generate(at: upstream, files: 4, bytes: 4 << 20) }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let start = Date()
        let outcome = await runner.run(
            job(daemon.url, scratch.path + "/mirror") {
                $0.bandwidthLimit = ByteSize(bytes: 64 << 10)
                $0.timeout = TimeSpan(seconds: 1)
            }, logger: testLogger)
        #expect(outcome.result == .failed)
        #expect(outcome.reason == "timeout")
        // Stopped, not finished: the whole transfer at 64 KiB/s would take 256 s (the bound leaves room for a machine
        // that runs every suite at once beside other builds, where stopping took 24 s).
        #expect(Date().timeIntervalSince(start) < 90)
        // No rsync of ours is left pulling into the mirror.
        #expect(!rsyncRunning(into: scratch.path + "/mirror"))
    }

    @Test("a cancelled run stops rsync and says so")
    func cancelled() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try await offPool { try Tree.generate(at: upstream, files: 4, bytes: 4 << 20) }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let job = job(daemon.url, scratch.path + "/mirror") { $0.bandwidthLimit = ByteSize(bytes: 64 << 10) }
        let task = Task { await runner.run(job, logger: testLogger) }
        try await eventually("rsync runs", seconds: 30) { rsyncRunning(into: scratch.path + "/mirror") }
        task.cancel()
        let outcome = await task.value
        #expect(outcome.result == .cancelled)
        // Stopped, not waited for: at 64 KiB/s the 16 MiB would take minutes to arrive.
        #expect(try Tree.snapshot(scratch.path + "/mirror") != Tree.snapshot(upstream))
        #expect(!rsyncRunning(into: scratch.path + "/mirror"))
    }

    @Test("the arguments are an argv array with safe defaults, in the order the passes need")
    func arguments() {
        var job = SyncJob(
            project: "p", source: .test("rsync://h/m/"), destination: "/srv/m/p/", exclude: ["*.tmp"],
            twoStage: ["Packages*"],
            rsyncOptions: ["--no-owner"], bandwidthLimit: ByteSize(bytes: 1500))
        let first = RsyncArguments.arguments(for: job, pass: .first)
        #expect(
            first.contains("--max-delete=0") && first.contains("--delete-delay") && !first.contains("--delay-updates"))
        #expect(first.contains("--exclude=Packages*") && first.contains("--exclude=*.tmp"))
        #expect(first.contains("--bwlimit=2") && first.contains("--safe-links") && first.contains("--hard-links"))
        #expect(Array(first.suffix(3)) == ["--", "rsync://h/m/", "/srv/m/p/"])
        #expect(first.firstIndex(of: "--no-owner")! > first.firstIndex(of: "--owner")!)
        let second = RsyncArguments.arguments(for: job, pass: .second(maxDelete: 7))
        #expect(
            second.contains("--max-delete=7") && second.contains("--delay-updates")
                && !second.contains("--exclude=Packages*"))
        job.twoStage = []
        #expect(RsyncArguments.arguments(for: job, pass: .first).contains("--delay-updates"))
    }

    @Test("rsync's statistics are read, with thousands separators")
    func report() {
        var report = RsyncReport()
        for line in [
            "Number of files: 20,001 (reg: 20,000, dir: 1)", "Number of regular files transferred: 1,234",
            "Number of deleted files: 5", "Total transferred file size: 1,073,741,824 bytes",
            "Deletions stopped due to --max-delete limit (55 skipped)", ">f+++++++++ Number of files: 9",
        ] { report.read(Substring(line)) }
        #expect(report.filesTotal == 20_001 && report.regularFiles == 20_000 && report.filesTransferred == 1_234)
        #expect(report.filesDeleted == 5 && report.bytesTransferred == 1_073_741_824 && report.deletionsSkipped == 55)
        var empty = RsyncReport()
        empty.read("Number of files: 1 (dir: 1)")
        #expect(empty.regularFiles == 0)
    }
}
