import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// A hook runs only a program from a directory the host allows (`--allow-exec`), with a clean environment; the token
/// alone cannot make an agent run anything else.
@Suite("Hooks run only programs the host allows (real files and modes, a real agent, real processes)")
struct ExecAllowlistTests {
    /// A directory of hooks as the host would make it: mode 0755, one program `run` (0755) that writes its first
    /// argument to the file its second names.
    static func hooksDirectory(_ scratch: Scratch, _ name: String = "hooks") throws -> (
        directory: String, program: String
    ) {
        let directory = scratch.sub(name)
        chmod(directory, 0o755)
        let program = directory + "/run"
        try "#!/bin/sh\nprintf '%s\\n' \"$1\" > \"$2\"\n".write(toFile: program, atomically: true, encoding: .utf8)
        chmod(program, 0o755)
        return (directory, program)
    }

    /// An agent allowed the hooks directory of a scratch directory, with its settings and a local upstream tree.
    static func agentWithHooks() async throws -> (Scratch, String, String, AgentHarness, String) {
        let scratch = Scratch("exec")
        chmod(scratch.path, 0o755)
        let (directory, program) = try hooksDirectory(scratch)
        let agent = try await AgentHarness(allowExec: [directory])
        let upstream = agent.scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 3)
        #expect(try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root")).status == 200)
        return (scratch, directory, program, agent, upstream)
    }

    @Test(
        "a program resolves, links included, to a regular file inside an allowed directory; anything else is refused naming the program and the flag"
    )
    func resolve() throws {
        let scratch = Scratch("exec")
        chmod(scratch.path, 0o755)
        let (directory, program) = try Self.hooksDirectory(scratch)
        let allowlist = try ExecAllowlist(directories: [directory], user: nil)
        #expect(try allowlist.resolve(program) == program)
        // A link from elsewhere to an allowed program is the allowed program.
        let outsideLink = scratch.path + "/to-run"
        try FileManager.default.createSymbolicLink(atPath: outsideLink, withDestinationPath: program)
        #expect(try allowlist.resolve(outsideLink) == program)
        // A link inside to a program outside is the program outside: refused, without saying where it leads.
        try FileManager.default.createSymbolicLink(atPath: directory + "/sh", withDestinationPath: "/bin/sh")
        for refused in ["/bin/sh", directory + "/sh", scratch.path + "/missing", directory + "/../to-run-not"] {
            #expect { try allowlist.resolve(refused) } throws: { error in
                let message = (error as? ExecRefusal)?.message ?? ""
                return message.hasPrefix("program '\(refused)' is refused")
                    && message.contains("--allow-exec \(directory)")
                    && !message.contains("dash")
            }
        }
        #expect { try ExecAllowlist.none.resolve("/bin/sh") } throws: {
            ($0 as? ExecRefusal)?.message
                == "program '/bin/sh' is refused: this agent runs no program (no --allow-exec); "
                + "start the agent with --allow-exec naming a directory that holds it to allow it"
        }
        // A directory in the allowed one is not a program; neither is a program in a tree the agent writes.
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: true)
        #expect(throws: ExecRefusal.self) { try allowlist.resolve(directory + "/sub") }
        #expect { try allowlist.resolve(program, trees: [(directory, "the project's tree")]) } throws: {
            ($0 as? ExecRefusal)?.reason.contains("lies in the project's tree") == true
        }
    }

    @Test(
        "a program, its directory or one above it writable by group or others, or owned by the agent's user, is refused"
    )
    func modes() throws {
        let scratch = Scratch("exec-modes")
        chmod(scratch.path, 0o755)
        let (directory, program) = try Self.hooksDirectory(scratch)
        let allowlist = try ExecAllowlist(directories: [directory], user: nil)
        chmod(program, 0o775)
        #expect { try allowlist.resolve(program) } throws: {
            ($0 as? ExecRefusal)?.reason.contains("writable by group or others (mode 775)") == true
        }
        chmod(program, 0o755)
        // A directory the agent cannot start with, and why.
        chmod(directory, 0o777)
        #expect { try ExecAllowlist(directories: [directory], user: nil) } throws: {
            ($0 as? ExecAllowlistError)?.message
                == "--allow-exec \(directory) is refused: it is writable by group or others (mode 777); run: chmod go-w \(directory)"
        }
        #expect { try allowlist.resolve(program) } throws: {
            ($0 as? ExecRefusal)?.reason.contains("\(directory) above it is writable") == true
        }
        chmod(directory, 0o755)
        chmod(scratch.path, 0o757)
        #expect { try ExecAllowlist(directories: [directory], user: nil) } throws: {
            ($0 as? ExecAllowlistError)?.message.contains("\(scratch.path) above it is writable by group or others")
                == true
        }
        chmod(scratch.path, 0o755)
        chmod(program, 0o777)
        #expect { try ExecAllowlist(directories: [directory], user: nil) } throws: {
            ($0 as? ExecAllowlistError)?.message.contains("it holds \(program), which is writable by group or others")
                == true
        }
        chmod(program, 0o755)
        // Owned by the agent's own user (not root): it could rewrite its hooks. Root's are fine.
        let user: UInt32 = 4242
        chown(directory, user, 0)
        #expect { try ExecAllowlist(directories: [directory], user: user) } throws: {
            ($0 as? ExecAllowlistError)?.message.contains("owned by the agent's own user (uid 4242)") == true
        }
        chown(directory, 0, 0)
        chown(program, user, 0)
        #expect { try ExecAllowlist(directories: [directory], user: user) } throws: { $0 is ExecAllowlistError }
        #expect(try ExecAllowlist(directories: [directory], user: 0).resolve(program) == program)
        #expect(throws: ExecAllowlistError.self) { try ExecAllowlist(directories: [scratch.path + "/none"], user: nil) }
    }

    @Test(
        "the agent refuses to start with an allowed directory in its state directory, or one the rule refuses; and no root may hold one"
    )
    func agentStart() async throws {
        let scratch = Scratch("exec-start")
        chmod(scratch.path, 0o755)
        let (directory, _) = try Self.hooksDirectory(scratch)
        let token = scratch.path + "/token"
        try "t-\(UUID().uuidString)".write(toFile: token, atomically: true, encoding: .utf8)
        chmod(token, 0o600)
        func start(_ allowExec: [String], state: String) -> String? {
            var options = AgentOptions(
                role: .master, name: "master", host: "127.0.0.1", port: 0, tokenFile: token, stateDirectory: state,
                handleSignals: false)
            options.allowExec = allowExec
            do {
                _ = try AgentDaemon(options: options, logger: testLogger)
                return nil
            } catch { return error.message }
        }
        let inState = scratch.sub("state/hooks")
        chmod(scratch.path + "/state", 0o755)
        chmod(inState, 0o755)
        #expect(
            start([inState], state: scratch.path + "/state")?.contains("is inside the agent's state directory") == true)
        chmod(directory, 0o775)
        #expect(
            start([directory], state: scratch.path + "/state2")
                == "--allow-exec \(directory) is refused: it is writable by group or others (mode 775); run: chmod go-w \(directory)"
        )
        chmod(directory, 0o755)

        let agent = try await AgentHarness(allowExec: [directory])
        let holding = try await agent.put("/v1/settings", AgentSettings(root: scratch.path))
        #expect(
            holding.status == 403
                && holding.error?.message.contains("it holds the --allow-exec directory \(directory)") == true,
            "\(holding.text)")
        await agent.stop()
    }

    @Test(
        "PUT of a project whose hook runs a program outside --allow-exec: 403 naming the program and the flag, nothing stored; inside: taken and run"
    )
    func api() async throws {
        let (scratch, directory, program, agent, upstream) = try await Self.agentWithHooks()
        for argv in [
            ["/bin/sh", "-c", "id > /tmp/pwned"], [scratch.path + "/elsewhere"], [directory + "/../hooks-not/run"],
        ] {
            let reply = try await agent.put(
                "/v1/projects/p", try AgentHarness.project(upstream, path: "p") { $0.hooks = HookSpec(onFailure: argv) }
            )
            #expect(
                reply.status == 403 && reply.error?.code == "forbidden-exec" && reply.error?.field == "hooks.onFailure",
                "\(reply.text)")
            #expect(
                reply.error?.message.hasPrefix("hooks.onFailure '\(argv[0])' is refused: ") == true
                    && reply.error?.message.contains("--allow-exec \(directory)") == true, "\(reply.text)")
        }
        #expect(try await agent.state().projects.isEmpty)
        let out = scratch.path + "/out"
        let put = try await agent.put(
            "/v1/projects/p",
            try AgentHarness.project(upstream, path: "p") { $0.hooks = HookSpec(onSuccess: [program, "ran", out]) })
        #expect(put.status == 201, "\(put.text)")
        try await eventually("the hook ran", seconds: 30) {
            (try? String(contentsOfFile: out, encoding: .utf8)) == "ran\n"
        }
        await agent.stop()
    }

    @Test(
        "at run time: a hook stored before the flag narrowed, or whose link now leads out, is refused and recorded as the hook's error"
    )
    func runTime() async throws {
        let (scratch, directory, program, agent, upstream) = try await Self.agentWithHooks()
        // Stored as an agent without the rule took it, past today's API.
        let out = scratch.path + "/out"
        _ = try await agent.daemon.scheduler.putProject(
            "stored",
            spec: try AgentHarness.project(upstream, path: "stored") {
                $0.hooks = HookSpec(onSuccess: ["/bin/sh", "-c", "echo ran > \(out)"])
            })
        // Allowed when it came, through a link that now leads out of the directory.
        let link = directory + "/linked"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: program)
        var linked = try AgentHarness.project(upstream, path: "linked") {
            $0.hooks = HookSpec(onSuccess: [link, "ran", out])
            $0.suspended = true
        }
        let put = try await agent.put("/v1/projects/linked", linked)
        try #require(put.status == 201, "\(put.text)")
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/bin/echo")
        linked.suspended = false
        #expect(try await agent.put("/v1/projects/linked", linked).status == 403)
        // Taken before the link changed: only its suspension is lifted here.
        _ = try await agent.daemon.scheduler.putProject("linked", spec: linked)
        for (name, program) in [("stored", "/bin/sh"), ("linked", link)] {
            var hook: HookOutcome?
            try await eventually("\(name)'s hook is recorded", seconds: 30) {
                hook = try await agent.state().projects[name]?.status.lastRun?.hook
                return hook != nil
            }
            #expect(
                hook?.exitCode == nil && hook?.error?.hasPrefix("not run: program '\(program)' is refused: ") == true
                    && hook?.error?.contains("--allow-exec \(directory)") == true, "\(String(describing: hook))")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        await agent.stop()
    }

    @Test(
        "a hook's environment is clean: a minimal PATH and LANG, the run's MIRRORSYNC_* and tunasync's TUNASYNC_*, nothing of the agent's (no token)"
    )
    func cleanEnvironment() async throws {
        setenv("MIRRORSYNC_TOKEN_FOR_TEST", "secret", 1)
        setenv("AGENT_ONLY_VARIABLE", "secret", 1)
        let agent = try await AgentHarness(allowExec: ["/usr/bin"])
        let upstream = agent.scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 3)
        #expect(try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root")).status == 200)
        #expect(
            try await agent.put(
                "/v1/projects/env",
                try AgentHarness.project(upstream, path: "env") { $0.hooks = HookSpec(onSuccess: ["/usr/bin/env"]) }
            ).status == 201)
        var hook: HookOutcome?
        try await eventually("the hook is recorded", seconds: 30) {
            hook = try await agent.state().projects["env"]?.status.lastRun?.hook
            return hook != nil
        }
        let names = Set(
            (hook?.outputTail ?? []).compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
        #expect(
            names == [
                "PATH", "LANG", "MIRRORSYNC_PROJECT", "MIRRORSYNC_HOST", "MIRRORSYNC_RESULT", "MIRRORSYNC_EXIT_CODE",
                "MIRRORSYNC_REVISION", "MIRRORSYNC_DIR", "MIRRORSYNC_LOG",
                // tunasync's names for its hooks' scripts (docs/providers.md).
                "TUNASYNC_MIRROR_NAME", "TUNASYNC_WORKING_DIR", "TUNASYNC_UPSTREAM_URL", "TUNASYNC_LOG_DIR",
                "TUNASYNC_LOG_FILE", "TUNASYNC_JOB_EXIT_STATUS",
            ], "\(String(describing: hook))")
        #expect(!(hook?.outputTail ?? []).contains { $0.contains(agent.token) || $0.contains("secret") })
        await agent.stop()
    }
}
