import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// No rsync option that follows or keeps a link across the tree's edge passes, in any spelling rsync reads: not in
/// mirrors.d, not through the API, not from a spec stored before the rule.
@Suite("rsync options that follow or keep links (the policy, mirrors.d, the API and a real run)")
struct LinkOptionTests {
    /// Every spelling: the long form, a value after it, an abbreviation rsync accepts, the short letter alone and in a
    /// cluster.
    static let spellings = [
        "--copy-links", "--copy-links=1", "--copy-li", "-L", "-aL", "-rlptL",
        "--copy-unsafe-links", "--copy-unsafe", "--copy-unsafe-links=yes",
        "--copy-dirlinks", "--copy-dirl", "-k", "-avk",
        "--keep-dirlinks", "--keep-dir", "--keep-dirlinks=x", "-K", "-aKv",
    ]

    @Test("each option and its kin is refused, saying it follows or keeps a link", arguments: spellings)
    func policy(_ option: String) {
        #expect { try RsyncPolicy.checkOption(option) } throws: { error in
            let message = (error as? ValueError)?.message ?? ""
            return message.contains("is not allowed") && message.contains("symlink")
        }
    }

    @Test("the options that stay allowed are not taken for link options")
    func neighbours() throws {
        for option in ["--compress", "--compress-level=9", "--checksum", "--no-owner", "--omit-link-times"] {
            try RsyncPolicy.checkOption(option)
        }
        #expect(!RsyncPolicy.allowedFlags.contains { $0.contains("copy") || $0.contains("dirlinks") })
    }

    @Test("validate refuses each in mirrors.d, at the option's line and column")
    func validator() throws {
        let scratch = Scratch("link-options")
        let options = Self.spellings.map { "\"\($0)\"" }.joined(separator: ", ")
        try """
        master: { api: "http://127.0.0.1:7070", tokenFile: /etc/mirrorsync/token, root: /srv/mirror }
        intervals: { hourly: { every: 1h } }
        upstreams: { up: { url: "rsync://rsync.example.org/pub/" } }
        projects:
          p: { upstream: up, interval: hourly, rsyncOptions: [\(options)] }
        """.write(toFile: scratch.path + "/site.yaml", atomically: true, encoding: .utf8)
        #expect { try DesiredStateLoader().load(directory: scratch.path) } throws: { error in
            let errors = (error as? ConfigError)?.errors ?? []
            return errors.count == Self.spellings.count
                && errors.allSatisfy { $0.line == 5 && $0.message.contains("symlink") }
        }
    }

    @Test("the agent answers 400 to each and stores nothing")
    func api() async throws {
        let agent = try await AgentHarness()
        for option in Self.spellings {
            let reply = try await agent.put(
                "/v1/projects/p", try AgentHarness.project(agent.scratch.path, path: "p") { $0.rsyncOptions = [option] }
            )
            #expect(
                reply.status == 400 && reply.error?.field == "rsyncOptions"
                    && reply.error?.message.contains("symlink") == true,
                "\(option): \(reply.text)")
        }
        #expect(try await agent.state().projects.isEmpty)
        await agent.stop()
    }

    @Test(
        "a spec stored before the rule does not copy a key that a link in the upstream points at: the run fails, writing nothing"
    )
    func storedBeforeTheRule() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.sub("upstream")
        let key = agent.scratch.path + "/secret.key"
        try "the key\n".write(toFile: key, atomically: true, encoding: .utf8)
        try "a file\n".write(toFile: upstream + "/README", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: upstream + "/key", withDestinationPath: key)
        let root = agent.scratch.path + "/root"
        #expect(try await agent.put("/v1/settings", AgentSettings(root: root)).status == 200)
        for (name, option) in [("links", "--copy-links"), ("unsafe", "--copy-unsafe-links")] {
            // Stored as an agent of the previous release took it, past today's API.
            _ = try await agent.daemon.scheduler.putProject(
                name, spec: try AgentHarness.project(upstream, path: name) { $0.rsyncOptions = [option] })
            let run = try await agent.waitForRun(name)
            #expect(
                run.result == .failed && run.reason == "forbidden-option" && run.message?.contains(option) == true,
                "\(run)")
            #expect(!FileManager.default.fileExists(atPath: root + "/\(name)/README"))
            #expect((try? String(contentsOfFile: root + "/\(name)/key", encoding: .utf8)) == nil)
        }
        await agent.stop()
    }
}
