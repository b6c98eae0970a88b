import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// A trace file as the mirror checker reads it, or nil when it does not parse.
func checkedTrace(_ path: String) -> CheckedTrace? { CheckedTrace(file: path) }

@Suite("Debian trace files (real rsync, real daemon)")
struct TraceFileTests {
    @Test("a trace parses back with the checker's rules: dates, fields in ftpsync's order, the rate")
    func traceText() throws {
        let started = Date(timeIntervalSince1970: 1_793_001_600)  // Mon Oct 26 2026 08:00:00 UTC
        let ended = started.addingTimeInterval(394)
        let record = DebianTrace.Record(
            started: started, ended: ended, archiveSerial: "2026102701", creator: "mirrorsync 0.1.0",
            host: "ftp1.example.org", upstream: "master.example.org", bytesReceived: 1_109_846_675,
            passSeconds: [347, 47])
        let trace = try #require(CheckedTrace(record.text))
        #expect(trace.date == ended)
        #expect(trace.rfc2822("Date") == ended)
        #expect(trace.rfc2822("Date-Started") == started)
        #expect(
            trace.keys == [
                "Date", "Date-Started", "Archive serial", "Creator", "Running on host", "Architectures-Configuration",
                "Upstream-mirror", "Rsync-Transport", "Total bytes received in rsync",
                "Total time spent in stage1 rsync", "Total time spent in stage2 rsync", "Total time spent in rsync",
                "Average rate",
            ])
        #expect(trace.fields["Archive serial"] == "2026102701")
        #expect(trace.fields["Total time spent in rsync"] == "394")
        #expect(trace.fields["Average rate"] == "\(1_109_846_675 / 394) B/s")
        #expect(record.text.hasPrefix("Mon Oct 26 08:06:34 UTC 2026\nDate: Mon, 26 Oct 2026 08:06:34 +0000\n"))

        // One pass, a day below ten (date -u pads it with a space), nothing received, no time: no bytes, no rate; both
        // stages' times, as ftpsync always writes them.
        let early = Date(timeIntervalSince1970: 1_772_586_000)  // Wed Mar  4 2026 01:00:00 UTC
        let short = DebianTrace.Record(
            started: early, ended: early, archiveSerial: nil, creator: "mirrorsync", host: "m",
            upstream: "u", bytesReceived: 0, passSeconds: [0])
        #expect(short.text.hasPrefix("Wed Mar  4 01:00:00 UTC 2026\n"))
        let parsed = try #require(CheckedTrace(short.text))
        #expect(parsed.date == early)
        #expect(
            parsed.keys == [
                "Date", "Date-Started", "Creator", "Running on host", "Architectures-Configuration", "Upstream-mirror",
                "Rsync-Transport", "Total time spent in stage1 rsync", "Total time spent in stage2 rsync",
                "Total time spent in rsync",
            ])
    }

    /// The runner tests' job: a project copied from `source` into `destination` within two minutes.
    func job(_ source: String, _ destination: String, _ tweak: (inout SyncJob) -> Void = { _ in }) -> SyncJob {
        RsyncRunnerTests().job(source, destination, tweak)
    }

    @Test(
        "master and slave each write their trace (the checker parses both), keep the other's, list them in _traces; no marker is copied or left"
    )
    func masterAndSlave() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 30, bytes: 4096)
        try FileManager.default.createDirectory(atPath: upstream + "/project/trace", withIntermediateDirectories: true)
        try "Tue Oct 27 06:46:34 UTC 2026\nDate: Tue, 27 Oct 2026 06:46:34 +0000\nArchive serial: 2026102701\n"
            .write(toFile: upstream + "/project/trace/master", atomically: true, encoding: .utf8)
        for name in ["Packages", "Release"] {
            try name.write(toFile: upstream + "/" + name, atomically: true, encoding: .utf8)
        }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let masterTree = scratch.path + "/master"
        let master = TreeRunner.rsync(traceHost: "master.example.org", creator: "mirrorsync test")
        // `trace` left out: the upstream's project/trace/ turns it on from the first sync.
        let started = Date()
        let first = await master.run(
            job(daemon.url, masterTree) { $0.twoStage = ["Packages", "Release"] }, logger: testLogger)
        #expect(first.result == .success, "\(first)")
        let trace = try #require(checkedTrace(masterTree + "/project/trace/master.example.org"))
        #expect(abs(trace.date.timeIntervalSince(Date())) < 60 && trace.date >= started.addingTimeInterval(-1))
        // The rate follows when the passes took a second or more, as ftpsync leaves it out for zero.
        #expect(
            Array(trace.keys.prefix(12)) == [
                "Date", "Date-Started", "Archive serial", "Creator", "Running on host", "Architectures-Configuration",
                "Upstream-mirror", "Rsync-Transport", "Total bytes received in rsync",
                "Total time spent in stage1 rsync", "Total time spent in stage2 rsync", "Total time spent in rsync",
            ])
        #expect(trace.keys.count == 12 || trace.keys.dropFirst(12) == ["Average rate"])
        #expect(trace.fields["Archive serial"] == "2026102701")
        #expect(trace.fields["Running on host"] == "master.example.org")
        #expect(trace.fields["Upstream-mirror"] == "127.0.0.1")
        #expect(trace.fields["Creator"] == "mirrorsync test")
        #expect(Int(trace.fields["Total bytes received in rsync"] ?? "") ?? 0 > 30 * 4096)
        #expect(
            try String(contentsOfFile: masterTree + "/project/trace/_traces", encoding: .utf8)
                == "master\nmaster.example.org\n")
        #expect(!FileManager.default.fileExists(atPath: masterTree + "/Archive-Update-in-Progress-master.example.org"))
        #expect(!FileManager.default.fileExists(atPath: masterTree + "/project/trace/master.example.org.new"))

        // The slave pulls the master's tree while the master (say) syncs again: its marker is not the slave's data.
        try "busy".write(
            toFile: masterTree + "/Archive-Update-in-Progress-master.example.org", atomically: true, encoding: .utf8)
        let masterDaemon = try RsyncDaemon(tree: masterTree, scratch: scratch, module: "debian")
        let slaveTree = scratch.path + "/slave"
        let slave = TreeRunner.rsync(traceHost: "ftp1.example.org")
        let pulled = await slave.run(job(masterDaemon.url, slaveTree), logger: testLogger)
        #expect(pulled.result == .success, "\(pulled)")
        let slaveTrace = try #require(checkedTrace(slaveTree + "/project/trace/ftp1.example.org"))
        #expect(slaveTrace.fields["Archive serial"] == "2026102701")
        #expect(slaveTrace.fields["Upstream-mirror"] == "127.0.0.1")
        #expect(slaveTrace.fields["Total time spent in stage2 rsync"] == "0")
        // The master's trace is upstream data for the slave: kept byte for byte beside the slave's own.
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: slaveTree + "/project/trace/master.example.org"))
                == Data(contentsOf: URL(fileURLWithPath: masterTree + "/project/trace/master.example.org")))
        // Oldest first: the master's files came with their times; the slave's own is the newest.
        #expect(
            try String(contentsOfFile: slaveTree + "/project/trace/_traces", encoding: .utf8)
                == "master\nmaster.example.org\nftp1.example.org\n")
        #expect(!FileManager.default.fileExists(atPath: slaveTree + "/Archive-Update-in-Progress-master.example.org"))
        #expect(!FileManager.default.fileExists(atPath: slaveTree + "/Archive-Update-in-Progress-ftp1.example.org"))

        // Again, with --delete at work: the slave's own trace is not the master's to delete, and it is rewritten.
        try FileManager.default.removeItem(atPath: masterTree + "/Archive-Update-in-Progress-master.example.org")
        func inode(_ path: String) -> UInt64 {
            var info = stat()
            return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
        }
        let before = inode(slaveTree + "/project/trace/ftp1.example.org")
        let again = await slave.run(job(masterDaemon.url, slaveTree), logger: testLogger)
        #expect(again.result == .success, "\(again)")
        // Written anew (a new file renamed over the old), not left over.
        #expect(inode(slaveTree + "/project/trace/ftp1.example.org") != before)
        #expect(checkedTrace(slaveTree + "/project/trace/ftp1.example.org") != nil)

        // trace: false writes nothing, even into a tree that has project/trace/.
        let off = scratch.path + "/off"
        let quiet = await master.run(job(daemon.url, off) { $0.trace = false }, logger: testLogger)
        #expect(quiet.result == .success)
        #expect(!FileManager.default.fileExists(atPath: off + "/project/trace/master.example.org"))
        #expect(!FileManager.default.fileExists(atPath: off + "/project/trace/_traces"))
    }

    @Test(
        "the in-progress marker is at the top of the tree while a slow sync runs, and gone once the trace is written; a failed run removes it too"
    )
    func markerDuringSync() async throws {
        let scratch = Scratch()
        let upstream = scratch.path + "/upstream"
        try FileManager.default.createDirectory(atPath: upstream, withIntermediateDirectories: true)
        try Data((0..<(768 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }).write(
            to: URL(fileURLWithPath: upstream + "/big.iso"))
        let tree = scratch.path + "/mirror"
        let marker = tree + "/Archive-Update-in-Progress-m.example"
        let runner = TreeRunner.rsync(traceHost: "m.example")
        // 256 KiB/s: three seconds for the file. A local upstream: --bwlimit paces rsync's own pipe as it would a
        // socket, and no daemon's port can be taken by another test in between.
        let slow = job(upstream + "/", tree) {
            $0.trace = true
            $0.bandwidthLimit = ByteSize(bytes: 256 << 10)
        }
        let began = Date()
        let run = Task { await runner.run(slow, logger: testLogger) }
        try await eventually("the marker appears", seconds: 10) { FileManager.default.fileExists(atPath: marker) }
        #expect(!FileManager.default.fileExists(atPath: tree + "/project/trace/m.example"))
        let outcome = await run.value
        #expect(outcome.result == .success, "\(outcome)")
        #expect(Date().timeIntervalSince(began) >= 2)
        #expect(!FileManager.default.fileExists(atPath: marker))
        let trace = try #require(checkedTrace(tree + "/project/trace/m.example"))
        #expect(trace.fields["Archive serial"] == nil)
        #expect(Int(trace.fields["Total time spent in rsync"] ?? "") ?? 0 >= 2)

        let failed = await runner.run(
            job("rsync://127.0.0.1:\(freePort())/none/", tree) { $0.trace = true }, logger: testLogger)
        #expect(failed.result == .failed)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a stale marker left by a killed agent is removed when the agent starts")
    func staleMarker() async throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try "x".write(toFile: tree + "/Archive-Update-in-Progress-old.example", atomically: true, encoding: .utf8)
        try "x".write(toFile: tree + "/keep", atomically: true, encoding: .utf8)
        #expect(TraceFiles.removeStaleMarkers(in: tree) == [tree + "/Archive-Update-in-Progress-old.example"])
        #expect(FileManager.default.fileExists(atPath: tree + "/keep"))
    }
}

@Suite("Hooks (a real agent, real rsync, real processes)")
struct HookTests {
    /// The hooks below run /bin/sh: the agent allows its directory.
    static let shell = ["/bin"]

    /// An agent with one project synced from a local tree, its hooks as given; returns the agent, the tree and the run
    /// once its hook has been recorded.
    /// `upstreamMissing`: the upstream is a directory that does not exist (inside what the agent may read), so the
    /// sync fails.
    func syncWithHook(_ hooks: HookSpec, upstreamMissing: Bool = false, label: String) async throws -> (
        AgentHarness, RunRecord
    ) {
        let agent = try await AgentHarness(allowExec: Self.shell)
        let source =
            upstreamMissing ? agent.scratch.path + "/missing-upstream-\(label)" : agent.scratch.sub("upstream-\(label)")
        if !upstreamMissing { try Tree.generate(at: source, files: 5) }
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        let put = try await agent.put(
            "/v1/projects/\(label)", try AgentHarness.project(source, path: label) { $0.hooks = hooks })
        try #require(put.status == 201, "PUT answered \(put.status)")
        var run: RunRecord?
        try await eventually("the hook of \(label) is recorded", seconds: 30) {
            run = try await agent.state().projects[label]?.status.lastRun
            return run?.hook != nil
        }
        return (agent, try #require(run))
    }

    @Test(
        "a hook runs after the sync with the run's environment, as an argv (no shell between), and its outcome is recorded"
    )
    func environment() async throws {
        let scratch = Scratch()
        let out = scratch.path + "/env"
        // The argument with a space and a '$' reaches the program as it is: no shell reads the argv.
        let hooks = HookSpec(onSuccess: [
            "/bin/sh", "-c", "env | grep '^MIRRORSYNC_' | sort > \"$1\"; printf '%s\\n' \"$2\"", "hook", out, "a $b",
        ])
        let (agent, run) = try await syncWithHook(hooks, label: "envy")
        #expect(run.result == .success)
        let hook = try #require(run.hook)
        #expect(hook.event == "onSuccess" && hook.exitCode == 0 && !hook.timedOut)
        #expect(hook.outputTail == ["a $b"])
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        let env = Dictionary(
            uniqueKeysWithValues: lines.map { line in
                let eq = line.firstIndex(of: "=")!
                return (String(line[..<eq]), String(line[line.index(after: eq)...]))
            })
        #expect(env["MIRRORSYNC_PROJECT"] == "envy")
        #expect(env["MIRRORSYNC_HOST"] == "master")
        #expect(env["MIRRORSYNC_RESULT"] == "success")
        #expect(env["MIRRORSYNC_EXIT_CODE"] == "0")
        #expect(env["MIRRORSYNC_REVISION"] == "1")
        #expect(env["MIRRORSYNC_DIR"] == agent.scratch.path + "/root/envy")
        let log = try #require(env["MIRRORSYNC_LOG"])
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("files"))
        // Kept with the run in the store.
        #expect(try await agent.daemon.scheduler.run(run.id)?.hook == hook)
        await agent.stop()
    }

    @Test(
        "a hook that fails leaves the sync a success, its exit code and output recorded; a failed sync runs onFailure")
    func failing() async throws {
        let hooks = HookSpec(
            onSuccess: ["/bin/sh", "-c", "echo broken >&2; exit 1"],
            onFailure: ["/bin/sh", "-c", "echo $MIRRORSYNC_RESULT"])
        let (agent, run) = try await syncWithHook(hooks, label: "fails")
        #expect(run.result == .success)
        #expect(run.revision == 1)
        #expect(run.hook?.exitCode == 1 && run.hook?.outputTail == ["broken"] && run.hook?.succeeded == false)
        await agent.stop()

        let (other, failed) = try await syncWithHook(hooks, upstreamMissing: true, label: "down")
        #expect(failed.result == .failed)
        #expect(failed.hook?.event == "onFailure" && failed.hook?.outputTail == ["failed"])
        await other.stop()
    }

    @Test(
        "a hook that hangs is stopped at its timeout, process group and all; the run was recorded a success before it ended"
    )
    func hanging() async throws {
        let scratch = Scratch()
        let pidFile = scratch.path + "/pid"
        let hooks = HookSpec(
            onSuccess: ["/bin/sh", "-c", "sleep 60 & echo $! > \"$1\"; wait", "hook", pidFile],
            timeout: TimeSpan(seconds: 2))
        let agent = try await AgentHarness(allowExec: Self.shell)
        let source = agent.scratch.sub("upstream")
        try Tree.generate(at: source, files: 5)
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        _ = try await agent.put(
            "/v1/projects/hang", try AgentHarness.project(source, path: "hang") { $0.hooks = hooks })
        // The run is recorded (and the project idle, ready for its next run) while the hook still sleeps.
        let run = try await agent.waitForRun("hang")
        #expect(run.result == .success)
        try await eventually("the hook has started", seconds: 10) { FileManager.default.fileExists(atPath: pidFile) }
        #expect(try await agent.state().projects["hang"]?.status.lastRun?.hook == nil)
        var hook: HookOutcome?
        try await eventually("the hook is recorded", seconds: 20) {
            hook = try await agent.state().projects["hang"]?.status.lastRun?.hook
            return hook != nil
        }
        #expect(hook?.timedOut == true && hook?.exitCode == nil)
        #expect((hook?.seconds ?? 0) >= 2 && (hook?.seconds ?? 99) < 10)
        let sleeper = pid_t(
            try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        // Gone, or a zombie waiting to be reaped: /proc/PID/stat's state after the command's closing parenthesis.
        let stat = (try? String(contentsOfFile: "/proc/\(sleeper)/stat", encoding: .utf8)) ?? ""
        let state = stat.range(of: ") ").map { stat[$0.upperBound...].prefix(1) } ?? "gone"
        #expect(state == "gone" || state == "Z" || state == "X", "the hook's child outlived its timeout: \(stat)")
        await agent.stop()
    }
}
