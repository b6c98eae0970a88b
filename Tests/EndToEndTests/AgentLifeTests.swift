import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Agents as real processes: killed, stopped, restarted, and given large trees.
@Suite("Agent processes (built binary, real rsync)", .serialized)
struct AgentLifeTests {
    @Test(
        "kill -9 during a sync: the restarted agent opens its store, records the run as interrupted, stops the orphaned rsync and syncs again"
    )
    func killNine() async throws {
        let scratch = Scratch("kill9")
        let upstream = scratch.path + "/upstream"
        try await offPool { try Tree.generate(at: upstream, files: 6, bytes: 1 << 20) }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let agent = try AgentProcess(role: .master, name: "master", scratch: scratch)
        try await agent.start()
        let root = scratch.path + "/root"
        _ = try await agent.request("PUT", "/v1/settings", json: AgentSettings(root: root))
        let slow = try projectSpec(daemon.url, path: "debian") { $0.upstream.bandwidthLimit = ByteSize(bytes: 1 << 20) }
        _ = try await agent.request("PUT", "/v1/projects/debian", json: slow)
        let running = try await agent.wait("runs debian") { $0.projects["debian"]?.status.activity == .running }
        let runID = try #require(running.projects["debian"]?.status.currentRunID)
        try await eventually("rsync writes into the tree") {
            rsyncRunning(into: root + "/debian/") && Self.holdsFiles(root + "/debian")
        }
        await agent.stop(SIGKILL)
        #expect(agent.terminationReason == .uncaughtSignal)
        // rsync has a process group of its own, so it outlives the agent...
        #expect(rsyncRunning(into: root + "/debian/"))

        try await agent.start()
        let resumed = try await agent.wait("syncs debian again", seconds: 90) {
            ($0.projects["debian"]?.status.revision ?? 0) >= 1
        }
        #expect(resumed.projects["debian"]?.status.lastRun?.result == .success)
        let interrupted = try await agent.request("GET", "/v1/projects/debian/runs/\(runID)").decode(RunRecord.self)
        #expect(interrupted.result == .interrupted && interrupted.state == .finished)
        #expect(try Tree.snapshot(root + "/debian") == Tree.snapshot(upstream))
        // ...until the restarted agent stops it before it runs the project again.
        #expect(!rsyncRunning(into: root + "/debian/"))
        #expect(
            try String(contentsOfFile: agent.log, encoding: .utf8).contains(
                "stopped an rsync left by the previous agent"))
        await agent.stop()
    }

    @Test("SIGTERM during a sync ends rsync's process group, records the run as interrupted and exits 0")
    func sigterm() async throws {
        let scratch = Scratch("sigterm")
        let upstream = scratch.path + "/upstream"
        try await offPool { try Tree.generate(at: upstream, files: 4, bytes: 4 << 20) }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let agent = try AgentProcess(role: .master, name: "master", scratch: scratch)
        try await agent.start()
        let root = scratch.path + "/root"
        _ = try await agent.request("PUT", "/v1/settings", json: AgentSettings(root: root))
        _ = try await agent.request(
            "PUT", "/v1/projects/p",
            json: try projectSpec(daemon.url, path: "p") {
                $0.upstream.bandwidthLimit = ByteSize(bytes: 256 << 10)
            })
        let running = try await agent.wait("runs p") { $0.projects["p"]?.status.activity == .running }
        let runID = try #require(running.projects["p"]?.status.currentRunID)
        try await eventually("rsync writes into the tree") {
            rsyncRunning(into: root + "/p/") && Self.holdsFiles(root + "/p")
        }
        #expect(await agent.stop(SIGTERM) == 0)
        #expect(!rsyncRunning(into: root + "/p/"))
        // Read the record back through a restarted agent (which then syncs the project again).
        try await agent.start()
        let record = try await agent.request("GET", "/v1/projects/p/runs/\(runID)").decode(RunRecord.self)
        #expect(record.result == .interrupted)
        #expect(record.message == "the agent stopped while the run was in progress")
        await agent.stop(SIGKILL)
    }

    @Test("an agent restarted twice within a minute runs no project twice")
    func restartsTwice() async throws {
        let scratch = Scratch("twice")
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 20)
        let agent = try AgentProcess(role: .master, name: "master", scratch: scratch)
        try await agent.start()
        _ = try await agent.request("PUT", "/v1/settings", json: AgentSettings(root: scratch.path + "/root"))
        _ = try await agent.request("PUT", "/v1/projects/p", json: try projectSpec(upstream, path: "p", every: 3600))
        let synced = try await agent.wait("syncs p") { $0.projects["p"]?.status.revision == 1 }
        let firstRun = synced.projects["p"]?.status.lastRun?.id
        for _ in 0..<2 {
            #expect(await agent.stop(SIGTERM) == 0)
            try await agent.start()
            // The scheduler's word on p: its next run an interval after the last start, not now.
            let state = try await agent.wait("plans p for later") {
                ($0.projects["p"]?.status.nextRunAt).map { $0.timeIntervalSinceNow > 3000 } ?? false
            }
            #expect(state.projects["p"]?.status.revision == 1)
            #expect(state.projects["p"]?.status.lastRun?.id == firstRun)
            #expect(state.projects["p"]?.status.activity == .idle)
        }
        await agent.stop()
    }

    @Test("a tree of 50,000 files syncs to the end with rsync listing every file")
    func largeTree() async throws {
        let scratch = Scratch("large")
        let upstream = scratch.path + "/upstream"
        try await offPool { try Tree.generate(at: upstream, files: 50_000, bytes: 8) }
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let agent = try AgentProcess(role: .master, name: "master", scratch: scratch)
        try await agent.start()
        _ = try await agent.request("PUT", "/v1/settings", json: AgentSettings(root: scratch.path + "/root"))
        // A line per file on standard output: the runner must drain it all without stalling rsync.
        _ = try await agent.request(
            "PUT", "/v1/projects/big",
            json: try projectSpec(daemon.url, path: "big") {
                $0.rsyncOptions = ["--verbose", "--itemize-changes"]
            })
        let state = try await agent.wait("syncs big", seconds: 300) { $0.projects["big"]?.status.lastRun != nil }
        let run = try #require(state.projects["big"]?.status.lastRun)
        #expect(run.result == .success, "\(run)")
        #expect(run.filesTransferred == 50_000)
        #expect(Tree.count(scratch.path + "/root/big") == Tree.count(upstream))
        await agent.stop()
    }

    @Test(
        "the binary's --allow-root and --allow-local-upstream: a valid token gets 403 beyond them, and what is inside syncs"
    )
    func bounds() async throws {
        let scratch = Scratch("bounds")
        let upstreams = scratch.path + "/upstreams"
        try Tree.generate(at: upstreams + "/debian", files: 4)
        let allowed = scratch.sub("allowed")
        let agent = try AgentProcess(
            role: .master, name: "master", scratch: scratch,
            extraArguments: ["--allow-root", allowed, "--allow-local-upstream", upstreams])
        try await agent.start()
        for root in ["/etc", scratch.path + "/other"] {
            let reply = try await agent.request("PUT", "/v1/settings", json: AgentSettings(root: root))
            #expect(reply.status == 403, "\(root)")
            #expect(try reply.decode(APIErrorBody.self).error.code == "forbidden-path")
        }
        #expect(try await agent.state().settings == nil)
        #expect(
            try await agent.request("PUT", "/v1/settings", json: AgentSettings(root: allowed + "/root")).status == 200)
        let etc = try await agent.request("PUT", "/v1/projects/etc", json: try projectSpec("/etc/", path: "etc"))
        #expect(try etc.status == 403 && etc.decode(APIErrorBody.self).error.field == "upstream.url")
        #expect(
            try await agent.request(
                "PUT", "/v1/projects/debian", json: try projectSpec(upstreams + "/debian", path: "debian")
            ).status == 201)
        let state = try await agent.wait("syncs debian") { ($0.projects["debian"]?.status.revision ?? 0) >= 1 }
        #expect(state.projects.keys.sorted() == ["debian"])
        #expect(try Tree.snapshot(allowed + "/root/debian") == Tree.snapshot(upstreams + "/debian"))
        #expect(!FileManager.default.fileExists(atPath: allowed + "/root/etc"))
        await agent.stop()
    }

    /// Whether rsync has made anything in `directory` yet (a file, or one of its temporary files).
    static func holdsFiles(_ directory: String) -> Bool {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return false }
        while let path = walker.nextObject() as? String {
            var info = stat()
            if lstat(directory + "/" + path, &info) == 0, info.st_mode & S_IFMT == S_IFREG { return true }
        }
        return false
    }
}
