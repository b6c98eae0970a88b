import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// A command upstream as a value (its rules, its JSON), the contract in docs/providers.md held to what the provider
/// builds, and a program run by a real agent: its log through the API, and the hook after it with tunasync's names.
@Suite("Command upstreams: the spec, the docs' table, a real agent")
struct CommandUpstreamTests {
    @Test("its rules, and its JSON with the defaults left out")
    func spec() throws {
        let plain = CommandUpstream(command: ["/usr/share/mirrorsync/providers/git-mirror"], url: "https://x/y.git")
        try plain.check()
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(!json.contains("successExitCodes") && !json.contains("env"), "\(json)")
        let full = CommandUpstream(
            command: ["/opt/bin/bandersnatch", "mirror"], env: ["CONF": "/etc/b.conf"], sizePattern: "size: (\\S+)",
            failOnMatch: "^ERROR", successExitCodes: [0, 24])
        try full.check()
        #expect(try JSONDecoder().decode(CommandUpstream.self, from: JSONEncoder().encode(full)) == full)
        #expect(
            try JSONDecoder().decode(CommandUpstream.self, from: Data(#"{"command":["/bin/x"]}"#.utf8)).successExitCodes
                == [0])
        let refused: [(CommandUpstream, String)] = [
            (CommandUpstream(command: []), "at least the program"),
            (CommandUpstream(command: ["bandersnatch"]), "not an absolute path"),
            (CommandUpstream(command: ["/bin/x"], env: ["TUNASYNC_LOG_DIR": "/tmp"]), "set by the agent itself"),
            (CommandUpstream(command: ["/bin/x"], env: ["1X": "a"]), "not a variable's name"),
            (CommandUpstream(command: ["/bin/x"], sizePattern: "size: \\S+"), "needs a group"),
            (CommandUpstream(command: ["/bin/x"], failOnMatch: "(unclosed"), "not a regular expression"),
            (CommandUpstream(command: ["/bin/x"], successExitCodes: [256]), "not an exit code"),
        ]
        for (upstream, why) in refused {
            #expect(throws: ValueError.self) { try upstream.check() }
            do throws(ValueError) { try upstream.check() } catch {
                #expect(error.message.contains(why), "\(error.message)")
            }
        }
        try ResourceLimits(memory: ByteSize(bytes: 64 << 20), cpus: 1.5, nice: 10, io: .idle).check()
        #expect(throws: ValueError.self) { try ResourceLimits(nice: 20).check() }
        #expect(throws: ValueError.self) { try ResourceLimits(memory: ByteSize(bytes: 1 << 20)).check() }
        #expect(
            try JSONDecoder().decode(ResourceLimits.self, from: Data(#"{"io":"best-effort","cpus":0.5}"#.utf8))
                == ResourceLimits(cpus: 0.5, io: .bestEffort))
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The rows of the table under `heading` in docs/providers.md: its cells, the first without its backquotes.
    static func table(under heading: String) throws -> [[String]] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/providers.md"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex(of: heading), "docs/providers.md has no '\(heading)'")
        let rows = lines[(start + 1)...].drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        return rows.dropFirst(2).map { row in
            row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.enumerated().map {
                $0.offset == 0 ? $0.element.replacingOccurrences(of: "`", with: "") : $0.element
            }
        }
    }

    @Test("the environment table in docs/providers.md names every variable the program gets, and its value")
    func documentedEnvironment() throws {
        let rows = try Self.table(under: "## The program's environment")
        let built = CommandProvider.environment(
            project: "pypi", host: "master", upstream: CommandUpstream(command: ["/x"], url: "https://pypi.org/"),
            tree: "/srv/mirror/.mirrorsync-revisions/pypi/5.building",
            served: "/srv/mirror/.mirrorsync-revisions/pypi/4@1767225600",
            logFile: "/var/lib/mirrorsync/logs/pypi/7.log", logDirectory: "/var/lib/mirrorsync/logs/pypi")
        #expect(Set(rows.map(\.[0])) == Set(built.keys), "\(rows.map(\.[0]))")
        // Each row's value column names the value for the example the page gives (a project `pypi`, ...).
        for row in rows where row.count >= 2 {
            let value = try #require(built[row[0]])
            #expect(row[1].contains("`\(value)`") || value.isEmpty, "\(row[0]): '\(row[1])' does not show '\(value)'")
        }
        let hooks = try Self.table(under: "## What hooks get")
        let hookEnvironment = HookSpec.environment(
            project: "pypi", host: "master", result: .success, exitCode: 0, revision: 4, directory: "/srv/mirror/pypi",
            log: "/var/lib/mirrorsync/logs/pypi/7.log")
        #expect(Set(hooks.map(\.[0])) == Set(hookEnvironment.keys.filter { $0.hasPrefix("TUNASYNC_") }))
    }

    /// A provider for the agent's rsync-shaped specs (the configuration layer does not yet make command sources): a
    /// local upstream's job becomes a run of `upstream` by the real `CommandProvider`.
    struct Adapter: SyncProvider {
        let provider: CommandProvider
        let upstream: CommandUpstream
        func accepts(_ source: SyncSource) -> Bool {
            if case .rsync(.local, nil) = source { return true }
            return false
        }
        func transfer(_ job: SyncJob, into mode: TransferMode, context: TransferContext) async -> SyncOutcome {
            var job = job
            job.source = .command(upstream)
            return await provider.transfer(job, into: mode, context: context)
        }
    }

    @Test("on a real agent: the program's output is the run's log, and the hook after it gets TUNASYNC_JOB_EXIT_STATUS")
    func agent() async throws {
        let scratch = Scratch("command-agent")
        let bin = scratch.sub("bin")
        try CommandProviderTests.script(bin + "/fetch", "echo \"fetching $TUNASYNC_UPSTREAM_URL\"\necho data > file")
        let provider = CommandProvider(host: "master", allowlist: try ExecAllowlist(directories: [bin], user: nil))
        let upstream = CommandUpstream(command: [bin + "/fetch"], url: "https://up.example/")
        let agent = try await AgentHarness(
            allowExec: ["/bin"], runner: TreeRunner(providers: [Adapter(provider: provider, upstream: upstream)]))
        let root = agent.scratch.path + "/root"
        _ = try await agent.put("/v1/settings", AgentSettings(root: root))
        let marker = agent.scratch.path + "/hook"
        let put = try await agent.put(
            "/v1/projects/p",
            try AgentHarness.project(agent.scratch.sub("unused"), path: "p") {
                $0.hooks = HookSpec(
                    onSuccess: [
                        "/bin/sh", "-c", "echo \"$TUNASYNC_JOB_EXIT_STATUS $TUNASYNC_MIRROR_NAME\" > \"$0\"", marker,
                    ])
            })
        try #require(put.status == 201, "PUT answered \(put.status): \(put.text)")
        var run: RunRecord?
        try await eventually("the hook is recorded", seconds: 30) {
            run = try await agent.state().projects["p"]?.status.lastRun
            return run?.hook != nil
        }
        let done = try #require(run)
        #expect(done.result == .success, "\(done)")
        #expect(CommandProviderTests.read(marker) == "success p\n")
        let log = try await agent.request("GET", "/v1/projects/p/runs/\(done.id)/log").text
        #expect(
            log.contains("mirrorsync: command: \(bin)/fetch in \(root)/p")
                && log.contains("fetching https://up.example/"), "\(log)")
        #expect(CommandProviderTests.read(root + "/p/file") == "data\n")
        await agent.stop()
    }
}
