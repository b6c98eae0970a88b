import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// A second provider behind the seam (`CopyProvider`, no rsync in it) goes through the same mechanics as rsync's:
/// the run's log, retries, cancelling and hooks (a real agent over HTTP), atomic publication and the deletion cap
/// (`TreeRunner`).
@Suite("The provider seam: a provider that is not rsync")
struct ProviderSeamTests {
    @Test("its run is retried, logged, and followed by the hook, on a real agent")
    func logRetryHook() async throws {
        let copy = CopyProvider(failures: 1)
        let agent = try await AgentHarness(
            policy: .init(maxAttempts: 3, retryBase: 0.05, retryMax: 0.1), allowExec: ["/bin"],
            runner: TreeRunner(providers: [copy]))
        let upstream = agent.scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 12)
        let root = agent.scratch.path + "/root"
        _ = try await agent.put("/v1/settings", AgentSettings(root: root))
        let marker = agent.scratch.path + "/hook-ran"
        let put = try await agent.put(
            "/v1/projects/p",
            try AgentHarness.project(upstream, path: "p") {
                $0.hooks = HookSpec(onSuccess: ["/bin/sh", "-c", "echo \"$MIRRORSYNC_RESULT\" > \"$0\"", marker])
            })
        try #require(put.status == 201, "PUT answered \(put.status): \(put.text)")
        var run: RunRecord?
        try await eventually("the hook is recorded", seconds: 30) {
            run = try await agent.state().projects["p"]?.status.lastRun
            return run?.hook != nil
        }
        let done = try #require(run)
        #expect(done.result == .success && done.attempts == 2, "\(done)")
        #expect(done.hook?.exitCode == 0 && (try? String(contentsOfFile: marker, encoding: .utf8)) == "success\n")
        let log = try await agent.request("GET", "/v1/projects/p/runs/\(done.id)/log").text
        #expect(
            log.contains("mirrorsync: copy: \(upstream)/ into \(root)/p/")
                && log.contains("mirrorsync: copied /pool/3/file-3.deb"), "\(log)")
        #expect(CopyProvider.files(root + "/p") == CopyProvider.files(upstream))
        await agent.stop()
    }

    @Test("its run is cancelled like any other")
    func cancel() async throws {
        let scratch = Scratch()
        let hold = scratch.path + "/hold"
        #expect(FileManager.default.createFile(atPath: hold, contents: Data()))
        let agent = try await AgentHarness(runner: TreeRunner(providers: [CopyProvider(hold: hold)]))
        let upstream = agent.scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 3)
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        let put = try await agent.put("/v1/projects/p", try AgentHarness.project(upstream, path: "p"))
        try #require(put.status == 201, "PUT answered \(put.status): \(put.text)")
        try await eventually("p runs", seconds: 30) {
            try await agent.state().projects["p"]?.status.activity == .running
        }
        let cancelled = try await agent.request("POST", "/v1/projects/p/cancel")
        #expect(cancelled.status == 200, "\(cancelled.text)")
        let run = try await agent.waitForRun("p")
        #expect(run.result == .cancelled, "\(run)")
        await agent.stop()
        withExtendedLifetime(scratch) {}
    }

    @Test(
        "its revisions are published whole, and the cap holds a build that deletes too much, the served revision kept")
    func atomicAndCap() async throws {
        let scratch = Scratch()
        let upstream = scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 20)
        let runner = TreeRunner(providers: [CopyProvider()])
        var job = SyncJob(
            project: "p", source: .test(upstream), destination: scratch.path + "/mirror/p/", maxDelete: .files(3))
        job.publish = .atomic
        let first = await runner.run(job, logger: testLogger)
        #expect(first.result == .success && first.message.contains("published as revision 1"), "\(first)")
        let served = { URL(fileURLWithPath: scratch.path + "/mirror/p").resolvingSymlinksInPath().path }
        #expect(
            served().contains(".mirrorsync-revisions") && CopyProvider.files(served()) == CopyProvider.files(upstream))

        for i in 0..<5 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        job.previousFiles = first.filesTotal
        let capped = await runner.run(job, logger: testLogger)
        #expect(capped.result == .failed && capped.reason == "deletion-cap", "\(capped)")
        #expect(capped.message.contains("nothing was published: the served revision is as it was"), "\(capped.message)")
        #expect(CopyProvider.files(served()).count == 21)

        job.maxDelete = .files(5)
        let second = await runner.run(job, logger: testLogger)
        #expect(
            second.result == .success && second.filesDeleted == 5 && second.message.contains("published as revision 2"),
            "\(second)")
        #expect(CopyProvider.files(served()) == CopyProvider.files(upstream))

        // In place, the provider holds to the cap itself.
        job.publish = .inPlace
        for i in 5..<10 { try FileManager.default.removeItem(atPath: upstream + "/pool/\(i % 10)/file-\(i).deb") }
        job.maxDelete = .files(4)
        let inPlace = await runner.run(job, logger: testLogger)
        #expect(inPlace.result == .failed && inPlace.reason == "deletion-cap", "\(inPlace)")
    }

    @Test("a source no provider accepts fails the run, saying so")
    func noProvider() async {
        let runner = TreeRunner(providers: [CopyProvider()])
        let outcome = await runner.run(
            SyncJob(project: "p", source: .test("rsync://127.0.0.1:1/pub/"), destination: Scratch().path + "/p/"),
            logger: testLogger)
        #expect(outcome.result == .failed && outcome.reason == "no-provider", "\(outcome)")
    }
}

@Suite("A job's source, as a value")
struct SyncSourceTests {
    @Test(
        "rsync's argument, the upstream's host for the trace, daemon or directory, a project's source below it, the site's user"
    )
    func source() throws {
        let daemon = try SyncSource.upstream("rsync://[::1]:873/debian/", passwordFile: "/etc/secret").appending(
            "main/pool")
        #expect(
            daemon.description == "rsync://[::1]:873/debian/main/pool/" && daemon.host == "::1" && daemon.isDaemon
                && daemon.localPath == nil)
        #expect(
            daemon
                == .rsync(
                    .rsync(user: nil, host: "::1", port: 873, path: "debian/main/pool"), passwordFile: "/etc/secret"))
        let local = try SyncSource.upstream("/srv/upstream").appending("linux")
        #expect(
            local.description == "/srv/upstream/linux/" && local.host == nil && !local.isDaemon
                && local.localPath == "/srv/upstream/linux")
        let module = SyncSource.masterModule(
            try UpstreamLocation.parse("rsync://master.example:8873/linux/"), masterAPI: "http://m")
        #expect(
            SyncSource.location(module.location!, as: "mirrorsync").description
                == "rsync://mirrorsync@master.example:8873/linux/")
        #expect(throws: ValueError.self) { try SyncSource.upstream("ftp://example.org/pub/") }
    }
}
