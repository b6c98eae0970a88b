import Foundation
import Logging
import Synchronization
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// Traces as Debian's ftpsync writes them, from real syncs with real rsync: the golden file ftpsync's source gives
/// (Tests/MirrorCoreTests/Fixtures/traces), `_hierarchy`, the update-required marker and an upstream that updates.
@Suite("Debian traces as ftpsync writes them (real rsync)")
struct TraceFtpsyncTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("MirrorCoreTests/Fixtures/traces/ftpsync-two-stage-slave").path

    static let info = TraceSettings(
        host: "ftp1.example.org", maintainer: "Mirror admins <mirror@example.org>",
        sponsor: "Example University <https://example.org>", country: "DE", location: "Berlin", throughput: "10Gb")

    func job(_ source: String, _ destination: String, _ tweak: (inout SyncJob) -> Void = { _ in }) -> SyncJob {
        RsyncRunnerTests().job(source, destination, tweak)
    }

    /// A Debian-like master tree: dists with three architectures and sources, a pool, the master's trace and hierarchy.
    static func masterTree(_ root: String, poolBytes: Int = 0) throws {
        let fm = FileManager.default
        for (dir, file) in [
            ("dists/stable/main/binary-amd64", "Packages.xz"), ("dists/stable/main/binary-i386", "Packages.gz"),
            ("dists/stable/main/binary-all", "Packages.xz"), ("dists/stable/main/source", "Sources.xz"),
            ("dists/stable/main/binary-arm64/by-hash/SHA256", "Packages.xz"), ("dists/stable", "Release"),
        ] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
            try "index \(dir)\n".write(toFile: root + "/" + dir + "/" + file, atomically: true, encoding: .utf8)
        }
        try Tree.generate(at: root + "/pool", files: 8, bytes: max(64, poolBytes / 8))
        try fm.createDirectory(atPath: root + "/project/trace", withIntermediateDirectories: true)
        try "Mon Dec  7 08:50:00 UTC 2026\nDate: Mon, 07 Dec 2026 08:50:00 +0000\nArchive serial: 2026120701\n"
            .write(toFile: root + "/project/trace/master", atomically: true, encoding: .utf8)
        try "master master.example.org box1.example.org ftp-master.debian.org\n".write(
            toFile: root + "/project/trace/_hierarchy.mirror", atomically: true, encoding: .utf8)
    }

    @Test(
        "a two-stage sync on a slave writes ftpsync's trace field by field: the same keys in the same order, the same values and formats"
    )
    func goldenTwoStage() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/master"
        // 512 KiB at 256 KiB/s: the first stage takes seconds, so the times and the rate are not zero.
        try Self.masterTree(upstream, poolBytes: 512 << 10)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch, module: "debian")
        let tree = scratch.path + "/ftp1"
        let slave = TreeRunner.rsync(traceHost: "ftp1.example.org", creator: "mirrorsync 0.1.0")
        let outcome = await slave.run(
            job(daemon.url, tree) {
                $0.trace = true
                $0.twoStage = ["Packages*", "Sources*", "Release"]
                $0.bandwidthLimit = ByteSize(bytes: 256 << 10)
                $0.traceInfo = Self.info
                $0.trigger = .schedule
            }, logger: testLogger)
        #expect(outcome.result == .success, "\(outcome)")
        #expect(outcome.passSeconds.count == 2, "a two-stage sync: \(outcome.passSeconds)")

        let ftpsyncText = try String(contentsOfFile: Self.golden, encoding: .utf8)
        let oursText = try String(contentsOfFile: tree + "/project/trace/ftp1.example.org", encoding: .utf8)
        let ftpsync = try #require(CheckedTrace(ftpsyncText))
        let ours = try #require(CheckedTrace(oursText), "the checker reads it:\n\(oursText)")
        // The keys, in order: ftpsync's, less the one line only ftpsync may write.
        #expect(ours.keys == ftpsync.keys.filter { $0 != "Used ftpsync version" }, "\(oursText)")
        // The dates as `date -u` and `date -u -R` write them, read back as the checker reads them.
        #expect(abs(ours.date.timeIntervalSinceNow) < 120)
        #expect(ours.rfc2822("Date") == ours.date)
        let started = try #require(ours.rfc2822("Date-Started"))
        #expect(started <= ours.date)
        // The values that do not depend on when and how fast: ftpsync's, line for line (spaces included).
        let lines = Dictionary(
            oursText.split(separator: "\n").dropFirst().map { line in
                (String(line[..<line.firstIndex(of: ":")!]), String(line))
            }, uniquingKeysWith: { a, _ in a })
        for key in [
            "Archive serial", "Running on host", "Maintainer", "Sponsor", "Country", "Location", "Throughput",
            "Trigger", "Architectures", "Architectures-Configuration", "Upstream-mirror", "Rsync-Transport",
        ] {
            let theirs = ftpsyncText.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map(String.init)
            #expect(lines[key] == theirs, "\(key)")
        }
        // Creator: the program and its version, as ftpsync's `ftpsync VERSION`.
        #expect(ours.fields["Creator"] == "mirrorsync 0.1.0")
        // The figures: whole numbers, the total the stages' sum, the rate the bytes over the time, as ftpsync's.
        let stage1 = try #require(Int(ours.fields["Total time spent in stage1 rsync"] ?? ""))
        let stage2 = try #require(Int(ours.fields["Total time spent in stage2 rsync"] ?? ""))
        let total = try #require(Int(ours.fields["Total time spent in rsync"] ?? ""))
        let bytes = try #require(Int(ours.fields["Total bytes received in rsync"] ?? ""))
        #expect(stage1 >= 1 && total == stage1 + stage2)
        #expect(bytes > 512 << 10)
        #expect(ours.fields["Average rate"] == "\(bytes / total) B/s")

        // _hierarchy: the master's lines, then this host's; the .mirror copy for the hosts below; _traces by age.
        let hierarchy = try String(contentsOfFile: tree + "/project/trace/_hierarchy", encoding: .utf8)
        #expect(
            hierarchy
                == "master master.example.org box1.example.org ftp-master.debian.org\n"
                + "ftp1.example.org ftp1.example.org ftp1.example.org 127.0.0.1\n")
        #expect(try String(contentsOfFile: tree + "/project/trace/_hierarchy.mirror", encoding: .utf8) == hierarchy)
        #expect(
            try String(contentsOfFile: tree + "/project/trace/_traces", encoding: .utf8)
                == "master\nftp1.example.org\n")
        daemon.stop()
    }

    @Test(
        "the file is named after the public host name, Running on host says the machine; the marker and the required marker too"
    )
    func publicName() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/up"
        try Self.masterTree(upstream)
        let tree = scratch.path + "/www"
        let runner = TreeRunner.rsync(traceHost: "box7.example.org")
        var pull = job(upstream + "/", tree) {
            $0.trace = true
            $0.traceInfo = TraceSettings(host: "www.example.org")
        }
        // A push came during the last sync: the next one removes the marker as it starts (ftpsync's rm before stage1).
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        runner.markUpdateRequired(pull, logger: testLogger)
        #expect(FileManager.default.fileExists(atPath: tree + "/Archive-Update-Required-www.example.org"))
        let outcome = await runner.run(pull, logger: testLogger)
        #expect(outcome.result == .success, "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: tree + "/Archive-Update-Required-www.example.org"))
        let trace = try #require(CheckedTrace(file: tree + "/project/trace/www.example.org"))
        #expect(trace.fields["Running on host"] == "box7.example.org")
        #expect(!trace.keys.contains("Trigger") && !trace.keys.contains("Maintainer"))
        #expect(!FileManager.default.fileExists(atPath: tree + "/project/trace/box7.example.org"))
        // An exclude may leave architectures out: the configuration is not claimed to be ALL.
        pull.exclude = ["*.iso"]
        _ = await runner.run(pull, logger: testLogger)
        let again = try #require(CheckedTrace(file: tree + "/project/trace/www.example.org"))
        #expect(!again.keys.contains("Architectures-Configuration"))
        #expect(again.fields["Architectures"] == "all amd64 i386 source")
    }

    @Test(
        "an upstream that shows its own Archive-Update-in-Progress is waited for on the run's clock and tried again; the run says so"
    )
    func upstreamInProgress() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/up"
        try Self.masterTree(upstream)
        let marker = upstream + "/Archive-Update-in-Progress-master.example.org"
        try "Mon Dec  7 09:00:00 UTC 2026\n".write(toFile: marker, atomically: true, encoding: .utf8)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch, module: "debian")
        let tree = scratch.sub("ftp1") + "/"
        try FileManager.default.createDirectory(atPath: tree + "project/trace", withIntermediateDirectories: true)
        let clock = ManualClock()
        let runner = TreeRunner.rsync(clock: clock, traceHost: "ftp1.example.org")
        let logs = scratch.sub("logs")
        let activity = RunActivity(project: "test", run: 1, logPath: logs + "/1.log", logger: testLogger)
        let pull = job(daemon.url, tree) {
            $0.timeout = TimeSpan(seconds: 86_400)
            $0.traceInfo = TraceSettings(upstreamWait: TimeSpan(seconds: 1200), upstreamRetries: 2)
        }
        let run = Task { await runner.run(pull, activity: activity, logger: testLogger) }
        // The run's timeout and its wait sleep on the clock: nothing was copied meanwhile, and the marker is ours.
        try await eventually("the run waits", seconds: 30) { clock.sleepers == 2 }
        #expect(!FileManager.default.fileExists(atPath: tree + "pool"))
        #expect(FileManager.default.fileExists(atPath: tree + "Archive-Update-in-Progress-ftp1.example.org"))
        try FileManager.default.removeItem(atPath: marker)
        clock.advance(by: 1200)
        let outcome = await run.value
        #expect(outcome.result == .success, "\(outcome)")
        #expect(
            outcome.message.contains(
                "waited 20m for the upstream's own update (Archive-Update-in-Progress-master.example.org at its top), 1 time"
            ),
            "\(outcome.message)")
        activity.end()
        let log = try String(contentsOfFile: logs + "/1.log", encoding: .utf8)
        #expect(
            log.contains(
                "the upstream is updating (Archive-Update-in-Progress-master.example.org at its top): waiting 20m"))
        #expect(FileManager.default.fileExists(atPath: tree + "pool"))
        // The upstream's marker was not copied.
        #expect(!FileManager.default.fileExists(atPath: tree + "Archive-Update-in-Progress-master.example.org"))

        // Still updating after every retry: the run fails, nothing synced, and says why.
        try "busy\n".write(toFile: marker, atomically: true, encoding: .utf8)
        try "new\n".write(toFile: upstream + "/pool/new-file", atomically: true, encoding: .utf8)
        let stuck = Task { await runner.run(pull, logger: testLogger) }
        for _ in 0..<2 {
            try await eventually("the run waits", seconds: 30) { clock.sleepers == 2 }
            clock.advance(by: 1200)
        }
        let failed = await stuck.value
        #expect(failed.result == .failed && failed.reason == "upstream-in-progress", "\(failed)")
        #expect(failed.message.contains("still updating") && failed.message.contains("after 2 retries 20m apart"))
        #expect(!FileManager.default.fileExists(atPath: tree + "pool/new-file"))
        // A marker of this host's own name upstream is not taken for the upstream's (as ftpsync skips its own lock).
        try FileManager.default.removeItem(atPath: marker)
        try "x\n".write(
            toFile: upstream + "/Archive-Update-in-Progress-ftp1.example.org", atomically: true, encoding: .utf8)
        let own = await runner.run(pull, logger: testLogger)
        #expect(own.result == .success, "\(own)")
        daemon.stop()
    }

    @Test(
        "stage: site: the first stage writes HOST-stage1, the second's trace takes its stage 1 time, a whole sync removes it"
    )
    func stagedTraces() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/up"
        try Self.masterTree(upstream, poolBytes: 384 << 10)
        let tree = scratch.path + "/ftp1"
        let runner = TreeRunner.rsync(traceHost: "ftp1.example.org")
        func pull(_ stage: SyncStage) -> SyncJob {
            job(upstream + "/", tree) {
                $0.trace = true
                $0.twoStage = ["Packages*", "Sources*", "Release"]
                $0.stage = stage
                // Slow enough that the first stage's time is whole seconds.
                $0.bandwidthLimit = ByteSize(bytes: 256 << 10)
            }
        }
        let first = await runner.run(pull(.first), logger: testLogger)
        #expect(first.result == .success, "\(first)")
        let stage1 = try #require(CheckedTrace(file: tree + "/project/trace/ftp1.example.org-stage1"))
        let seconds = try #require(stage1.fields["Total time spent in stage1 rsync"])
        #expect((Int(seconds) ?? 0) >= 1)
        #expect(!FileManager.default.fileExists(atPath: tree + "/project/trace/ftp1.example.org"))
        #expect(
            try String(contentsOfFile: tree + "/project/trace/_hierarchy", encoding: .utf8)
                .hasSuffix("ftp1.example.org-stage1 ftp1.example.org ftp1.example.org ftp1.example.org\n"))
        let second = await runner.run(pull(.second(deletionLimit: first.deletionLimit ?? 0)), logger: testLogger)
        #expect(second.result == .success, "\(second)")
        let trace = try #require(CheckedTrace(file: tree + "/project/trace/ftp1.example.org"))
        #expect(trace.fields["Total time spent in stage1 rsync"] == seconds)
        let stage2 = try #require(Int(trace.fields["Total time spent in stage2 rsync"] ?? ""))
        #expect(trace.fields["Total time spent in rsync"] == "\((Int(seconds) ?? 0) + stage2)")
        // ftpsync keeps HOST-stage1 after a second stage, and removes it after a whole sync.
        #expect(FileManager.default.fileExists(atPath: tree + "/project/trace/ftp1.example.org-stage1"))
        _ = await runner.run(pull(.whole), logger: testLogger)
        #expect(!FileManager.default.fileExists(atPath: tree + "/project/trace/ftp1.example.org-stage1"))
    }

    @Test("a push during a run writes Archive-Update-Required-HOST in the tree, and one more run follows")
    func requiredOnPush() async throws {
        let scratch = Scratch("required")
        let clock = ManualClock()
        let scripted = ScriptedRunner()
        let runner = MarkingRunner(scripted: scripted, trees: TreeRunner.rsync(traceHost: "box7.example.org"))
        let store = try AgentStore(directory: scratch.path)
        let scheduler = try SyncScheduler(
            store: store, runner: runner, clock: clock, policy: .init(maxAttempts: 1, pushGap: 0), logger: testLogger)
        let loop = Task { await scheduler.run() }
        _ = try await scheduler.putSettings(
            AgentSettings(root: scratch.path, trace: TraceSettings(host: "www.example.org")))
        var spec = SchedulerHarness.spec()
        spec.path = "p"
        spec.trace = true
        _ = try await scheduler.putProject("p", spec: spec)
        try await eventually("p starts") { scripted.startCount("p") == 1 }
        try FileManager.default.createDirectory(atPath: scratch.path + "/p", withIntermediateDirectories: true)
        let required = scratch.path + "/p/Archive-Update-Required-www.example.org"
        #expect(!FileManager.default.fileExists(atPath: required))
        _ = try await scheduler.push("p")
        #expect(FileManager.default.fileExists(atPath: required))
        scripted.finish("p")
        try await eventually("the push's run starts") { scripted.startCount("p") == 2 }
        #expect(scripted.starts.last?.job.trigger == .push)
        #expect(scripted.starts.last?.job.traceInfo?.host == "www.example.org")
        // An operator's request during that run marks it too.
        _ = try await scheduler.requestRun("p")
        #expect(runner.marks == 2)
        scripted.finish("p")
        await scheduler.stop()
        await loop.value
    }
}

/// The scripted runner's runs, with the real runner's update-required marker.
final class MarkingRunner: SyncRunner {
    let scripted: ScriptedRunner
    let trees: TreeRunner
    private let count = Mutex(0)

    init(scripted: ScriptedRunner, trees: TreeRunner) {
        self.scripted = scripted
        self.trees = trees
    }

    var marks: Int { count.withLock { $0 } }

    func run(_ job: SyncJob, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        await scripted.run(job, activity: activity, logger: logger)
    }

    func markUpdateRequired(_ job: SyncJob, logger: Logger) {
        count.withLock { $0 += 1 }
        trees.markUpdateRequired(job, logger: logger)
    }
}
