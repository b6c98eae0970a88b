import Foundation
import Testing
import MirrorAgent
@testable import MirrorCLI
import MirrorCore
import MirrorTestSupport
import Synchronization

/// An agent whose runs are a script: each `run` answers the next record, and keeps how long it was asked to wait.
final class ScriptedRuns: RunPolling {
    private let calls: Mutex<(script: [RunRecord], waits: [Double])>

    init(_ script: [RunRecord]) { calls = Mutex((script, [])) }

    var left: Int { calls.withLock { $0.script.count } }
    var waits: [Double] { calls.withLock { $0.waits } }

    func run(project: String, id: Int64, waitingUpTo seconds: Double) async throws(OperatorCallError) -> RunRecord {
        calls.withLock { calls in
            calls.waits.append(seconds)
            return calls.script.removeFirst()
        }
    }
}

@Suite("mirrorsync sync --wait and logs", .serialized)
struct SyncWaitTests {
    @Test(
        "--wait follows the run by long polls, one after another with no pause, and returns with the answer that says it ended"
    )
    func follower() async throws {
        func record(_ state: RunState, _ progress: RunProgress? = nil) -> RunRecord {
            var run = RunRecord(
                id: 7, project: "linux", trigger: .request, state: state, result: state == .finished ? .success : nil,
                queuedAt: Date())
            run.progress = progress
            return run
        }
        let client = ScriptedRuns([
            record(.queued), record(.running, RunProgress(bytes: 10, files: 1, percent: 50)), record(.finished),
        ])
        var follower = RunFollower(project: "linux", runID: 7, display: ProgressDisplay(style: .none))
        let run = try await follower.follow(client, timeout: 3600)
        #expect(run?.state == .finished && client.left == 0)
        // Every call was a long poll: the agent, not a timer here, decides when each answers.
        #expect(client.waits == [RunFollower.longestPoll, RunFollower.longestPoll, RunFollower.longestPoll])
        #expect(
            ProgressDisplay.describe(
                record(
                    .running,
                    RunProgress(bytes: 3_400_000, files: 12, percent: 34, filesTotal: 40, bytesTotal: 10_000_000)))
                == "run 7 of linux: running, pass 1: 12 files, 3.24 MiB of 9.54 MiB (34%)")
        #expect(
            ProgressDisplay.bar(record(.running, RunProgress(bytes: 10, files: 1, percent: 50)), width: 10)
                == "[#####-----]  50%  pass 1: 10 B, 1 file")
    }

    @Test(
        "against a live master: sync --wait shows a slowed run's progress as plain lines and returns with it; logs shows and follows the log"
    )
    func live() async throws {
        let scratch = Scratch("cli-wait")
        let token = try cliToken(in: scratch)
        let upstream = scratch.path + "/upstream/linux"
        try Tree.generate(at: upstream, files: 3)
        let daemon = try AgentDaemon(
            options: AgentOptions(
                role: .master, name: "master", host: "127.0.0.1", port: 0, tokenFile: token,
                stateDirectory: scratch.path + "/master", policy: .init(maxAttempts: 1),
                handleSignals: false, allowLocalUpstreams: [scratch.path + "/upstream"]),
            logger: testLogger)
        let task = Task { try? await daemon.run() }
        let port = await daemon.listeningPort() ?? 0
        let dir = scratch.sub("mirrors.d")
        try """
        master: { api: "http://127.0.0.1:\(port)", tokenFile: \(token), root: \(scratch.path)/root, rsyncd: { address: 127.0.0.1, port: \(freePort()) } }
        intervals: { hourly: { every: 1h } }
        upstreams: { local: { url: \(scratch.path)/upstream, bandwidthLimit: 800KiB } }
        projects: { linux: { upstream: local, source: linux, interval: hourly, rsyncOptions: [--itemize-changes] } }
        """.write(toFile: dir + "/site.yaml", atomically: true, encoding: .utf8)
        func live(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await Binary.run(arguments + ["--agent-timeout", "30"])
        }
        let applied = try await live(["reconcile", dir])
        #expect(applied.status == 0, "\(applied.stderr)")

        // A run with nothing to copy (after the first): how long --wait takes past the run's end.
        _ = try await live(["sync", "linux", dir, "--wait"])
        let quick = try await live(["sync", "linux", dir, "--wait", "--output", "json"])
        let returned = Date()
        #expect(quick.status == 0, "\(quick.stderr)")
        let quickRun = try APICoding.decoder().decode(RunRecord.self, from: Data(quick.stdout.utf8))
        let runSeconds = try #require(quickRun.endedAt).timeIntervalSince(try #require(quickRun.startedAt))
        let past = returned.timeIntervalSince(quickRun.endedAt!)
        print(
            "sync --wait on a no-change run: the run took \(String(format: "%.3f", runSeconds)) s; the command returned \(String(format: "%.3f", past)) s after its end"
        )

        // A slowed run (2.4 MB at 800 KiB/s): plain progress lines, as standard error is no terminal here.
        try FileManager.default.removeItem(atPath: upstream)
        try Tree.generate(at: upstream, files: 30, bytes: 80_000, seed: 1)
        let slow = try await live(["sync", "linux", dir, "--wait"])
        #expect(slow.status == 0 && slow.stdout.contains(": success"), "\(slow.stdout)\(slow.stderr)")
        #expect(slow.stderr.contains(": running, pass 1: ") && slow.stderr.contains("iB ("), "\(slow.stderr)")
        let shown = try await live(["logs", "linux", dir])
        #expect(
            shown.status == 0 && shown.stdout.contains(">f.st...... pool/")
                && shown.stdout.contains("Total file size: "),
            "\(shown.stdout)\(shown.stderr)")

        // logs --follow of a run as it goes: it ends when the run does, with the run's last line.
        try FileManager.default.removeItem(atPath: upstream)
        try Tree.generate(at: upstream, files: 30, bytes: 80_000, seed: 2)
        let queued = try await live(["sync", "linux", dir, "--output", "json"])
        let id = try APICoding.decoder().decode(SyncResponse.self, from: Data(queued.stdout.utf8)).runID
        let followed = try await live(["logs", "linux", dir, "--run", "\(id)", "--follow"])
        #expect(
            followed.status == 0 && followed.stdout.contains("mirrorsync: run \(id) success: "),
            "\(followed.stdout)\(followed.stderr)")
        #expect(try await daemon.scheduler.run(id)?.state == .finished)

        let nowhere = try await live(["logs", "linux", dir, "--host", "ftp9"])
        #expect(nowhere.status == 1 && nowhere.stderr.contains("no host 'ftp9'"))
        let missing = try await live(["logs", "linux", dir, "--run", "999999"])
        #expect(missing.status == 1 && missing.stderr.contains("no run 999999 of project 'linux'"), "\(missing.stderr)")
        await daemon.shutdown()
        await task.value
    }
}
