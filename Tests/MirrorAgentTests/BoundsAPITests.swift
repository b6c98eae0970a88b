import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// A valid token does not reach past the agent's own flags: each refusal is a 403 `forbidden-path` naming the field,
/// the path and the flag, and nothing is stored or written.
@Suite("Agent API: roots and local upstreams within the agent's flags (live HTTP, real rsync)")
struct BoundsAPITests {
    @Test(
        "settings whose root is /, a system directory, the state directory, one holding it, or reached by '..' or a link: refused, nothing written"
    )
    func refusedRoots() async throws {
        let agent = try await AgentHarness()
        let good = AgentSettings(root: agent.scratch.path + "/root")
        #expect(try await agent.put("/v1/settings", good).status == 200)
        let link = agent.scratch.path + "/to-etc"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/etc")
        let marker = "mirrorsync-bounds-\(UUID().uuidString.prefix(8))"
        let refused = [
            "/", "/etc", "/etc/" + marker, "/var/lib/" + marker, agent.scratch.path + "/state",
            agent.scratch.path + "/state/tree",
            agent.scratch.path, link + "/" + marker,
        ]
        for root in refused {
            let reply = try await agent.put("/v1/settings", AgentSettings(root: root))
            #expect(reply.status == 403, "\(root): \(reply.text)")
            #expect(reply.error?.code == "forbidden-path" && reply.error?.field == "root", "\(root): \(reply.text)")
            #expect(
                reply.error?.message.hasPrefix("root '\(root)'") == true
                    && reply.error?.message.contains("--allow-root") == true,
                "\(reply.text)")
        }
        // '..' never reaches the bounds: the body's own checks refuse it first, as they do in mirrors.d.
        let dotted = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root/../../../etc"))
        #expect(dotted.status == 400 && dotted.error?.field == "root", "\(dotted.text)")
        #expect(try await agent.state().settings == good)
        #expect(!FileManager.default.fileExists(atPath: "/etc/" + marker))
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/" + marker))
        #expect(!FileManager.default.fileExists(atPath: agent.scratch.path + "/state/tree"))
        await agent.stop()

        let slave = try await AgentHarness(role: .slave, name: "ftp1")
        let reply = try await slave.put(
            "/v1/settings", AgentSettings(root: "/usr/share/" + marker, master: "http://127.0.0.1:1"))
        #expect(
            reply.status == 403 && reply.error?.message.contains("inside the system directory /usr") == true,
            "\(reply.text)")
        #expect(try await slave.state().settings == nil)
        await slave.stop()
    }

    @Test("with --allow-root, a root outside it is refused naming the flag; one inside is taken")
    func allowRoot() async throws {
        let scratch = Scratch("allow-root")
        let allowed = scratch.sub("allowed")
        let agent = try await AgentHarness(allowRoots: [allowed])
        let outside = try await agent.put("/v1/settings", AgentSettings(root: scratch.path + "/other"))
        #expect(outside.status == 403 && outside.error?.code == "forbidden-path", "\(outside.text)")
        #expect(outside.error?.message.contains("(--allow-root \(allowed))") == true, "\(outside.text)")
        #expect(try await agent.state().settings == nil)
        #expect(try await agent.put("/v1/settings", AgentSettings(root: allowed + "/mirror")).status == 200)
        await agent.stop()
    }

    @Test(
        "a project whose local upstream is outside --allow-local-upstream is refused and not stored; inside, it is taken and synced"
    )
    func localUpstreams() async throws {
        let scratch = Scratch("allow-upstream")
        let allowed = scratch.path + "/upstreams"
        try Tree.generate(at: allowed + "/debian", files: 20)
        try Tree.generate(at: scratch.path + "/outside", files: 3)
        try FileManager.default.createSymbolicLink(
            atPath: allowed + "/out", withDestinationPath: scratch.path + "/outside")
        let agent = try await AgentHarness(allowLocalUpstreams: [allowed])
        let root = scratch.path + "/root"
        _ = try await agent.put("/v1/settings", AgentSettings(root: root))
        let cases: [(AgentProjectSpec, String)] = [
            (try AgentHarness.project("/etc", path: "etc"), "upstream.url"),
            (try AgentHarness.project(scratch.path + "/outside", path: "p"), "upstream.url"),
            (try AgentHarness.project(allowed, path: "p") { $0.source = "out" }, "source"),
            (try AgentHarness.project(agent.scratch.path + "/state", path: "p"), "upstream.url"),
        ]
        for (spec, field) in cases {
            let reply = try await agent.put("/v1/projects/p", spec)
            #expect(
                reply.status == 403 && reply.error?.code == "forbidden-path" && reply.error?.field == field,
                "\(reply.text)")
            #expect(reply.error?.message.contains("--allow-local-upstream") == true, "\(reply.text)")
        }
        #expect(try await agent.state().projects.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root + "/p"))
        #expect(!FileManager.default.fileExists(atPath: root + "/etc"))

        #expect(
            try await agent.put("/v1/projects/debian", try AgentHarness.project(allowed + "/debian", path: "debian"))
                .status == 201)
        let run = try await agent.waitForRun("debian", revision: 1)
        #expect(run.result == .success, "\(run)")
        #expect(try Tree.snapshot(root + "/debian") == Tree.snapshot(allowed + "/debian"))
        await agent.stop()
    }

    @Test("settings stored before the agent's flags narrowed: the run fails with forbidden-path and writes nothing")
    func narrowedAfterRestart() async throws {
        let scratch = Scratch("narrowed")
        let state = scratch.path + "/state"
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 5)
        let root = scratch.path + "/root"
        let first = try await AgentHarness(stateDirectory: state, allowLocalUpstreams: [upstream])
        _ = try await first.put("/v1/settings", AgentSettings(root: root))
        _ = try await first.put("/v1/projects/p", try AgentHarness.project(upstream, path: "p"))
        #expect(try await first.waitForRun("p", revision: 1).result == .success)
        await first.stop()

        try Data("changed".utf8).write(to: URL(fileURLWithPath: upstream + "/pool/0/file-0.deb"))
        let second = try await AgentHarness(
            stateDirectory: state, allowRoots: [scratch.sub("elsewhere")], allowLocalUpstreams: [upstream])
        _ = try await second.request("POST", "/v1/projects/p/sync")
        let run = try await second.waitForRun("p")
        #expect(run.result == .failed && run.reason == "forbidden-path", "\(run)")
        #expect(run.message?.contains("(--allow-root \(scratch.path)/elsewhere)") == true, "\(run)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/p/pool/0/file-0.deb")) != Data("changed".utf8))
        await second.stop()
    }
}
