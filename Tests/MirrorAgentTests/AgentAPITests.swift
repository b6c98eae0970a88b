import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

@Suite("Agent API (live HTTP on loopback, real rsync)")
struct AgentAPITests {
    @Test("health needs no token; everything else needs the right one, and a wrong one changes nothing")
    func auth() async throws {
        let agent = try await AgentHarness()
        #expect(try await agent.request("GET", "/v1/health", token: .some(nil)).status == 200)
        #expect(try await agent.request("GET", "/v1/state", token: .some(nil)).status == 401)
        let wrong = try await agent.request(
            "PUT", "/v1/settings", body: Data(#"{"root":"/srv/x"}"#.utf8), token: "nope")
        #expect(wrong.status == 401)
        #expect(wrong.error?.code == "unauthorized")
        #expect(try await agent.request("GET", "/metrics", token: "Bearer").status == 401)
        #expect(try await agent.state().settings == nil)
        let state = try await agent.request("GET", "/v1/state")
        #expect(state.status == 200 && !state.text.contains(agent.token))
        await agent.stop()
    }

    @Test("PUT is idempotent, and GET /v1/state reports the spec and its generation")
    func idempotentPut() async throws {
        let agent = try await AgentHarness()
        let settings = AgentSettings(root: agent.scratch.path + "/root", maxConcurrentSyncs: 2)
        #expect(try await agent.put("/v1/settings", settings).decode(PutResponse.self).change == .created)
        #expect(try await agent.put("/v1/settings", settings).decode(PutResponse.self).change == .unchanged)
        let spec = try AgentHarness.project(agent.scratch.path + "/nonexistent/upstream", path: "p") {
            $0.suspended = true
        }
        let created = try await agent.put("/v1/projects/p", spec)
        #expect(created.status == 201)
        let again = try await agent.put("/v1/projects/p", spec)
        #expect(try again.status == 200 && again.decode(PutResponse.self).change == .unchanged)
        let state = try await agent.state()
        #expect(state.projects["p"]?.spec == spec)
        #expect(state.projects["p"]?.generation == Generation.of(spec))
        #expect(state.projects["p"]?.status.activity == .suspended)
        #expect(state.settings == settings && state.role == .master)
        // Asked with the digest it has, the agent leaves its projects out; with another one, it sends them.
        let digest = try #require(state.projectsDigest)
        #expect(digest == AgentState.digest(of: state.projects))
        let same = try await agent.request("GET", "/v1/state?ifDigest=\(digest)").decode(AgentState.self)
        #expect(
            same.projectsOmitted && same.projects.isEmpty && same.projectsDigest == digest && same.settings == settings)
        let other = try await agent.request("GET", "/v1/state?ifDigest=0000000000000000").decode(AgentState.self)
        #expect(!other.projectsOmitted && other.projects == state.projects)
        await agent.stop()
    }

    @Test("GET /v1/state?since= sends only the projects changed since that version, with the digest of them all")
    func stateDelta() async throws {
        let agent = try await AgentHarness()
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        for name in ["a", "b", "c"] {
            _ = try await agent.put(
                "/v1/projects/\(name)",
                try AgentHarness.project(agent.scratch.path + "/nonexistent/upstream", path: name) {
                    $0.suspended = true
                })
        }
        let whole = try await agent.state()
        let version = try #require(whole.stateVersion)
        #expect(whole.projectsSince == nil && whole.projects.count == 3)
        // Nothing changed since: no project, the same digest and version.
        let none = try await agent.request("GET", "/v1/state?since=\(whole.bootID):\(version)").decode(AgentState.self)
        #expect(
            none.projectsSince == version && none.projects.isEmpty && none.projectsDigest == whole.projectsDigest
                && none.stateVersion == version)
        // One project changed: that one alone, and the digest of all three.
        let changed = try AgentHarness.project(agent.scratch.path + "/nonexistent/upstream", path: "b") {
            $0.suspended = true
            $0.exclude = ["*.tmp"]
        }
        _ = try await agent.put("/v1/projects/b", changed)
        let delta = try await agent.request("GET", "/v1/state?since=\(whole.bootID):\(version)").decode(AgentState.self)
        let after = try await agent.state()
        #expect(Array(delta.projects.keys) == ["b"] && delta.projects["b"] == after.projects["b"])
        #expect(delta.projectsDigest == after.projectsDigest && delta.projectsDigest != whole.projectsDigest)
        #expect(try #require(delta.stateVersion) > version)
        // Another run's id, a version not reached yet, or not a version: the whole state.
        for since in ["other:\(version)", "\(whole.bootID):\(version + 1_000)", "\(whole.bootID):x"] {
            let full = try await agent.request("GET", "/v1/state?since=\(since)").decode(AgentState.self)
            #expect(full.projectsSince == nil && full.projects.count == 3, "\(since)")
        }
        await agent.stop()
    }

    @Test("hostile or malformed bodies get a 4xx with a JSON error naming the field, and change nothing")
    func hostileBodies() async throws {
        let agent = try await AgentHarness()
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        let cases: [(String, String, Int, String?)] = [
            (
                "/v1/projects/p",
                #"{"upstream":{"url":"/srv/up"},"path":"../../etc","interval":{"every":"1h"},"suspended":true}"#, 400,
                "path"
            ),
            (
                "/v1/projects/p",
                #"{"upstream":{"url":"/srv/up"},"path":"p","interval":{"every":"1h"},"exclude":["- *"],"suspended":true}"#,
                400, "exclude"
            ),
            (
                "/v1/projects/p",
                #"{"upstream":{"url":"/srv/up"},"path":"p","interval":{"every":"1h"},"rsyncOptions":["-e","sh"],"suspended":true}"#,
                400, "rsyncOptions"
            ),
            (
                "/v1/projects/p",
                #"{"upstream":{"url":"/srv/up"},"path":"p","interval":{"every":"1h"},"rootSquash":true}"#, 400,
                "rootSquash"
            ),
            ("/v1/projects/p", #"{"upstream":{"url":"/srv/up"},"path":"p","#, 400, nil),
            (
                "/v1/projects/Bad.Name", #"{"upstream":{"url":"/srv/up"},"path":"p","interval":{"every":"1h"}}"#, 400,
                "name"
            ),
            ("/v1/settings", #"{"root":"relative/path"}"#, 400, "root"),
        ]
        for (path, body, status, field) in cases {
            let reply = try await agent.request("PUT", path, body: Data(body.utf8))
            #expect(reply.status == status, "\(body): \(reply.text)")
            #expect(reply.error?.field == field, "\(body): \(reply.text)")
            #expect(reply.error?.message.isEmpty == false)
        }
        let big = Data(("{\"x\":\"" + String(repeating: "a", count: 2 << 20) + "\"}").utf8)
        #expect(try await agent.request("PUT", "/v1/projects/p", body: big).status == 413)
        let state = try await agent.state()
        #expect(state.projects.isEmpty)
        #expect(state.settings?.root == agent.scratch.path + "/root")
        await agent.stop()
    }

    @Test(
        "the master pulls a project from an rsync daemon at once; a changed file arrives on the next run with a new revision"
    )
    func syncs() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 120)
        let daemon = try RsyncDaemon(tree: upstream, scratch: agent.scratch)
        let root = agent.scratch.path + "/root"
        _ = try await agent.put("/v1/settings", AgentSettings(root: root))
        #expect(
            try await agent.put("/v1/projects/debian", try AgentHarness.project(daemon.url, path: "debian")).status
                == 201)
        let first = try await agent.waitForRun("debian", revision: 1)
        #expect(first.result == .success, "\(first)")
        #expect(try Tree.snapshot(root + "/debian") == Tree.snapshot(upstream))

        try Data("new contents".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/7/file-7.deb"))
        let accepted = try await agent.request("POST", "/v1/projects/debian/sync")
        #expect(accepted.status == 202)
        let sync = try accepted.decode(SyncResponse.self)
        let second = try await agent.waitForRun("debian", revision: 2)
        #expect(
            second.id == sync.runID && second.result == .success && second.filesTransferred == 1 && second.revision == 2
        )
        #expect(try String(contentsOfFile: root + "/debian/pool/7/file-7.deb", encoding: .utf8) == "new contents")
        let fetched = try await agent.request("GET", "/v1/projects/debian/runs/\(sync.runID)").decode(RunRecord.self)
        #expect(fetched == second)
        #expect(try await agent.request("GET", "/v1/projects/other/runs/\(sync.runID)").status == 404)

        let metrics = try await agent.request("GET", "/metrics").text
        #expect(metrics.contains(#"mirrorsync_runs_total{project="debian",result="success"} 2"#))
        #expect(metrics.contains("mirrorsync_last_success_timestamp_seconds"))
        #expect(!metrics.contains(agent.token))
        await agent.stop()
    }

    @Test("an upstream that is down gives a failed run stating rsync's reason, while another project keeps syncing")
    func upstreamDown() async throws {
        let agent = try await AgentHarness(policy: .init(maxAttempts: 2, retryBase: 0.05, retryMax: 0.1))
        let upstream = agent.scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 10)
        let daemon = try RsyncDaemon(tree: upstream, scratch: agent.scratch)
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        _ = try await agent.put(
            "/v1/projects/down", try AgentHarness.project("rsync://127.0.0.1:\(freePort())/pub/", path: "down"))
        _ = try await agent.put("/v1/projects/up", try AgentHarness.project(daemon.url, path: "up"))
        let failed = try await agent.waitForRun("down")
        #expect(failed.result == .failed && failed.attempts == 2 && failed.exitCode == 10)
        #expect(failed.message?.contains("Connection refused") == true, "\(failed)")
        let ok = try await agent.waitForRun("up", revision: 1)
        #expect(ok.result == .success)
        #expect(try await agent.state().projects["down"]?.status.revision == 0)
        await agent.stop()
    }

    @Test("DELETE keeps the files unless purge=true; a sync of a suspended or unknown project is refused")
    func deleteAndRefusals() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 5)
        let root = agent.scratch.path + "/root"
        _ = try await agent.put("/v1/settings", AgentSettings(root: root))
        _ = try await agent.put("/v1/projects/keep", try AgentHarness.project(upstream, path: "keep"))
        _ = try await agent.put("/v1/projects/gone", try AgentHarness.project(upstream, path: "gone"))
        _ = try await agent.waitForRun("keep", revision: 1)
        _ = try await agent.waitForRun("gone", revision: 1)
        #expect(try await agent.request("DELETE", "/v1/projects/keep").status == 200)
        #expect(FileManager.default.fileExists(atPath: root + "/keep/pool/0/file-0.deb"))
        #expect(
            FileManager.default.fileExists(atPath: agent.scratch.path + "/state/logs/keep"),
            "a project removed keeps its run logs")
        #expect(FileManager.default.fileExists(atPath: agent.scratch.path + "/state/logs/gone"))
        let purged = try await agent.request("DELETE", "/v1/projects/gone?purge=true")
        #expect(
            try purged.status == 200
                && purged.decode(DeleteResponse.self) == DeleteResponse(name: "gone", removed: true, purged: true))
        #expect(!FileManager.default.fileExists(atPath: root + "/gone"))
        #expect(
            !FileManager.default.fileExists(atPath: agent.scratch.path + "/state/logs/gone"),
            "a purge deletes the run logs too")
        #expect(try await agent.request("DELETE", "/v1/projects/gone").status == 404)
        #expect(try await agent.request("POST", "/v1/projects/nothing/sync").status == 404)
        _ = try await agent.put(
            "/v1/projects/paused", try AgentHarness.project(upstream, path: "paused") { $0.suspended = true })
        let refused = try await agent.request("POST", "/v1/projects/paused/sync")
        #expect(refused.status == 409 && refused.error?.code == "conflict")
        #expect(try await agent.state().projects.keys.sorted() == ["paused"])
        await agent.stop()
    }

    @Test("everything acknowledged survives a restart on the same state directory")
    func restart() async throws {
        let scratch = Scratch("restart-agent")
        let state = scratch.path + "/state"
        let first = try await AgentHarness(stateDirectory: state)
        _ = try await first.put("/v1/settings", AgentSettings(root: scratch.path + "/root"))
        let spec = try AgentHarness.project(first.scratch.path + "/none", path: "p") { $0.suspended = true }
        #expect(try await first.put("/v1/projects/p", spec).status == 201)
        let before = try await first.state()
        await first.stop()
        let second = try await AgentHarness(stateDirectory: state)
        let after = try await second.state()
        #expect(after.projects == before.projects && after.settings == before.settings && after.bootID != before.bootID)
        await second.stop()
    }
}
