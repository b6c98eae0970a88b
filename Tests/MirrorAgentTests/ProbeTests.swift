import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// `probe:`: the master fetches one small file of the upstream before a scheduled run, and ends the run `unchanged`
/// when it is as it was at the last successful run; a push, a manual sync, `verifyEvery` and a failed probe walk.
/// The probes are real (rsync from a local upstream and from a daemon, HTTP from `python3 -m http.server`); the full
/// runs are scripted, on a manual clock.
@Suite("Probes")
struct ProbeTests {
    /// A master's scheduler with the real prober, a scripted runner, and a local upstream holding the probe file.
    final class Harness: Sendable {
        let scratch = Scratch("probe")
        let clock = ManualClock()
        let runner = ScriptedRunner()
        let metrics = AgentMetrics()
        let scheduler: SyncScheduler
        let store: AgentStore
        let loop: Task<Void, Never>
        var upstream: String { scratch.path + "/upstream" }
        var probeFile: String { upstream + "/project/trace/master" }

        init() throws {
            store = try AgentStore(directory: scratch.sub("state"))
            let prober = UpstreamProber(rsync: RsyncProvider(), scratchDirectory: scratch.path + "/state/probes")
            scheduler = try SyncScheduler(
                store: store, role: .master, runner: runner, prober: prober, clock: clock, metrics: metrics,
                policy: .init(maxAttempts: 1), logs: RunLogs(directory: scratch.path + "/logs"), logger: testLogger)
            let scheduler = self.scheduler
            loop = Task { await scheduler.run() }
            try FileManager.default.createDirectory(
                atPath: upstream + "/project/trace", withIntermediateDirectories: true)
            try "Date: Mon Dec  7 10:00:00 UTC 2026\n".write(toFile: probeFile, atomically: true, encoding: .utf8)
        }

        func spec(verifyEvery: Int? = nil, probe: String? = "project/trace/master") -> AgentProjectSpec {
            var spec = AgentProjectSpec(
                upstream: UpstreamSpec(url: .local(path: upstream)), path: "p",
                interval: .every(TimeSpan(seconds: 3600)))
            spec.probe = probe
            spec.verifyEvery = verifyEvery.map { TimeSpan(seconds: $0) }
            return spec
        }

        func lastRun() throws -> RunRecord? { try store.runs(project: "p", limit: 1).first }

        /// Waits for the `n`th run to end, finishing the runner's run when it is a full one.
        func ended(_ n: Int, full: Bool) async throws -> RunRecord {
            if full {
                try await eventually("full run \(n) starts") { self.runner.running.contains("p") }
                runner.finish("p")
            }
            try await eventually("run \(n) ends") {
                let runs = try self.store.runs(project: "p", limit: 50)
                return runs.count == n && runs.first?.state == .finished
            }
            return try #require(try lastRun())
        }

        func shutdown() async {
            await scheduler.stop()
            await loop.value
        }
    }

    @Test("an unchanged probe ends the scheduled run unchanged; a changed one, a manual sync and verifyEvery walk")
    func decisions() async throws {
        let h = try Harness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path + "/root"))
        _ = try await h.scheduler.putProject("p", spec: h.spec(verifyEvery: 3 * 3600))
        // The first run has nothing to compare with: it walks.
        var run = try await h.ended(1, full: true)
        #expect(run.result == .success && h.runner.startCount("p") == 1)

        // An hour on, the probe is as it was: no walk, the revision kept, and counted.
        h.clock.advance(by: 3600)
        run = try await h.ended(2, full: false)
        #expect(run.result == .unchanged, "\(run)")
        #expect(h.runner.startCount("p") == 1)
        #expect(try h.store.project("p")?.revision == 1)
        #expect(h.metrics.render().contains("mirrorsync_project_unchanged_runs_total{project=\"p\"} 1"))
        let state = try #require(await h.scheduler.projectStates()["p"])
        #expect(state.status.lastRun?.result == .unchanged && state.status.lastSuccessAt == run.endedAt)

        // The upstream's trace changes: the next scheduled run walks.
        try "Date: Mon Dec  7 11:00:00 UTC 2026\n".write(toFile: h.probeFile, atomically: true, encoding: .utf8)
        h.clock.advance(by: 3600)
        run = try await h.ended(3, full: true)
        #expect(run.result == .success && h.runner.startCount("p") == 2)

        // A manual sync walks even though the probe is unchanged.
        _ = try await h.scheduler.requestRun("p")
        run = try await h.ended(4, full: true)
        #expect(run.trigger == .request && h.runner.startCount("p") == 3)

        // Unchanged until verifyEvery (3 h) has passed since the last full run: then it walks.
        h.clock.advance(by: 3600)
        #expect(try await h.ended(5, full: false).result == .unchanged)
        h.clock.advance(by: 3600)
        #expect(try await h.ended(6, full: false).result == .unchanged)
        h.clock.advance(by: 3600)
        run = try await h.ended(7, full: true)
        #expect(run.result == .success && h.runner.startCount("p") == 4)

        // A probe that cannot be fetched means a full run, and the log says so.
        try FileManager.default.removeItem(atPath: h.probeFile)
        h.clock.advance(by: 3600)
        run = try await h.ended(8, full: true)
        #expect(run.result == .success && h.runner.startCount("p") == 5)
        let log = try String(
            contentsOfFile: try #require(h.scheduler.logPath(project: "p", run: run.id)), encoding: .utf8)
        #expect(log.contains("probe project/trace/master failed") && log.contains("walks the tree in full"), "\(log)")
        await h.shutdown()
    }

    @Test("a failed full run forgets the probe, so the next scheduled run walks; a push always walks")
    func failureAndPush() async throws {
        let h = try Harness()
        _ = try await h.scheduler.putSettings(AgentSettings(root: h.scratch.path + "/root"))
        _ = try await h.scheduler.putProject("p", spec: h.spec())
        _ = try await h.ended(1, full: true)
        h.clock.advance(by: 3600)
        #expect(try await h.ended(2, full: false).result == .unchanged)
        // A run that fails leaves a tree that may be half synced.
        _ = try await h.scheduler.requestRun("p")
        try await eventually("run 3 starts") { h.runner.running.contains("p") }
        h.runner.finish("p", SyncOutcome(result: .failed, reason: "rsync", message: "broken"))
        try await eventually("run 3 ends") { try h.lastRun()?.result == .failed }
        h.clock.advance(by: 3600)
        #expect(try await h.ended(4, full: true).result == .success)
        // A changed spec makes the mark worth nothing: the next run walks.
        h.clock.advance(by: 3600)
        #expect(try await h.ended(5, full: false).result == .unchanged)
        var spec = h.spec()
        spec.exclude = ["*.tmp"]
        _ = try await h.scheduler.putProject("p", spec: spec)
        h.clock.advance(by: 3600)
        #expect(try await h.ended(6, full: true).result == .success)
        await h.shutdown()
    }

    @Test("the real probe: rsync from a daemon and a local tree, HTTP for a program's http url; what is no file fails")
    func fetches() async throws {
        let scratch = Scratch("probe-fetch")
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree + "/project/trace", withIntermediateDirectories: true)
        try "trace 1\n".write(toFile: tree + "/project/trace/master", atomically: true, encoding: .utf8)
        let expected = SHA256.hex(SHA256.hash(Array("trace 1\n".utf8)))
        let prober = UpstreamProber(rsync: RsyncProvider(), scratchDirectory: scratch.path + "/probes")
        let daemon = try RsyncDaemon(tree: tree, scratch: scratch)
        defer { daemon.stop() }
        func job(_ source: SyncSource) -> SyncJob { SyncJob(project: "p", source: source, destination: "/nowhere/") }

        for source in [try SyncSource.upstream(daemon.url), .rsync(.local(path: tree))] {
            guard
                case .fetched(let digest, _) = await prober.probe(
                    job(source), path: "project/trace/master", logger: testLogger)
            else {
                Issue.record("no probe from \(source)")
                continue
            }
            #expect(digest == expected)
            // A directory or a missing file is no probe; nor is last time's file left in the scratch directory.
            for path in ["project/trace", "project/trace/none"] {
                guard case .failed = await prober.probe(job(source), path: path, logger: testLogger) else {
                    Issue.record("\(path) from \(source) was taken for a probe")
                    continue
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: tree + "/p"), "the probe wrote nothing in the tree")

        let server = try await HTTPServer(serving: tree)
        defer { server.stop() }
        let program = CommandUpstream(command: ["/bin/true"], url: server.url, env: [:])
        guard
            case .fetched(let digest, let wire) = await prober.probe(
                job(.command(program)), path: "project/trace/master", logger: testLogger)
        else {
            Issue.record("no probe over HTTP")
            return
        }
        #expect(digest == expected && wire == 8)
        guard case .failed = await prober.probe(job(.command(program)), path: "project/none", logger: testLogger)
        else {
            Issue.record("a 404 was taken for a probe")
            return
        }
        let local = CommandUpstream(command: ["/bin/true"], url: "/srv/upstream", env: [:])
        guard case .failed(let why) = await prober.probe(job(.command(local)), path: "a", logger: testLogger) else {
            Issue.record("a program's non-http url was probed")
            return
        }
        #expect(why.contains("http"))
    }
}
