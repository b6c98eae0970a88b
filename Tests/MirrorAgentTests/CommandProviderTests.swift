import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorProcess
import MirrorTestSupport

/// A program as upstream (`CommandProvider`) through the run mechanics every sync shares (`TreeRunner`): its
/// environment, its log, its exit status, `failOnMatch`, `sizePattern`, the timeout and a cancel that stop its whole
/// group, atomic publication held to the cap, and the guard against writes through a build's hard links.
@Suite("Command upstreams: a program through the run mechanics")
struct CommandProviderTests {
    /// A scratch directory with `bin/` (the programs, allowed by `--allow-exec`) and the runner.
    struct Site {
        let scratch = Scratch("command")
        let bin: String
        let runner: TreeRunner

        init(_ scripts: [String: String]) throws {
            bin = scratch.sub("bin")
            for (name, body) in scripts { try CommandProviderTests.script(bin + "/" + name, body) }
            let provider = CommandProvider(
                host: "master", allowlist: try ExecAllowlist(directories: [bin], user: nil),
                terminationGrace: .milliseconds(500))
            runner = TreeRunner(providers: [provider], host: "master")
        }

        func job(
            _ command: [String], url: String? = nil, env: [String: String] = [:],
            _ edit: (inout CommandUpstream) -> Void = { _ in }
        ) -> SyncJob {
            var upstream = CommandUpstream(command: [bin + "/" + command[0]] + command.dropFirst(), url: url, env: env)
            edit(&upstream)
            return SyncJob(project: "p", source: .command(upstream), destination: scratch.path + "/mirror/p/")
        }

        func activity(run: Int64 = 1) -> RunActivity {
            RunActivity(project: "p", run: run, logPath: scratch.path + "/logs/p/\(run).log", logger: testLogger)
        }

        /// The served tree, through the link when it is published by revisions.
        var served: String { URL(fileURLWithPath: scratch.path + "/mirror/p").resolvingSymlinksInPath().path }
    }

    static func script(_ path: String, _ body: String) throws {
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("the program gets tunasync's environment and mirrorsync's, on a clean base, and its output is the run's log")
    func environment() async throws {
        setenv("MIRRORSYNC_AGENT_SECRET", "the agent's own", 1)
        let site = try Site(["dump": "env > \"$1\"\necho 'hello from the program'\necho 'to standard error' >&2"])
        let dump = site.scratch.path + "/env.txt"
        let job = site.job(["dump", dump], url: "https://up.example/pub/", env: ["BANDERSNATCH_CONF": "/etc/b.conf"])
        let activity = site.activity()
        let outcome = await site.runner.run(job, activity: activity, logger: testLogger)
        #expect(outcome.result == .success && outcome.message.hasPrefix("dump exited with 0"), "\(outcome)")
        var got: [String: String] = [:]
        for line in Self.read(dump).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            got[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        // What the shell adds to what it was given.
        for added in ["PWD", "SHLVL", "_", "OLDPWD"] { got[added] = nil }
        let tree = site.scratch.path + "/mirror/p"
        let log = site.scratch.path + "/logs/p/1.log"
        #expect(
            got
                == CommandProvider.environment(
                    project: "p", host: "master", upstream: try #require(Self.upstream(job)), tree: tree, served: nil,
                    logFile: log, logDirectory: site.scratch.path + "/logs/p"))
        #expect(
            got["TUNASYNC_MIRROR_NAME"] == "p" && got["TUNASYNC_WORKING_DIR"] == tree
                && got["TUNASYNC_UPSTREAM_URL"] == "https://up.example/pub/" && got["TUNASYNC_LOG_FILE"] == log
                && got["TUNASYNC_LOG_DIR"] == site.scratch.path + "/logs/p" && got["MIRRORSYNC_DIR"] == tree
                && got["BANDERSNATCH_CONF"] == "/etc/b.conf" && got["MIRRORSYNC_AGENT_SECRET"] == nil,
            "\(got)")
        let text = Self.read(log)
        #expect(text.contains("hello from the program\n") && text.contains("to standard error\n"), "\(text)")
        unsetenv("MIRRORSYNC_AGENT_SECRET")
    }

    static func upstream(_ job: SyncJob) -> CommandUpstream? {
        if case .command(let upstream) = job.source { return upstream }
        return nil
    }

    @Test("its exit status against successExitCodes, failOnMatch, and the size sizePattern catches")
    func results() async throws {
        let site = try Site([
            "say": "echo \"Total size: ${SIZE:-1.5G}\"\n[ -z \"${SAY:-}\" ] || echo \"$SAY\"\nexit \"${CODE:-0}\""
        ])
        let failed = await site.runner.run(
            site.job(["say"], env: ["CODE": "3", "SAY": "the upstream is down"]), logger: testLogger)
        #expect(
            failed.result == .failed && failed.reason == "exit-3" && failed.retryable
                && failed.message == "say exited with 3: the upstream is down", "\(failed)")
        let allowed = await site.runner.run(
            site.job(["say"], env: ["CODE": "3"]) { $0.successExitCodes = [0, 3] }, logger: testLogger)
        #expect(allowed.result == .success && allowed.exitCode == 3, "\(allowed)")
        let matched = await site.runner.run(
            site.job(["say"], env: ["SAY": "ERROR: 404 on simple/index"]) { $0.failOnMatch = "^ERROR: " },
            logger: testLogger)
        #expect(
            matched.result == .failed && matched.reason == "fail-on-match"
                && matched.message.contains("matched failOnMatch '^ERROR: ': ERROR: 404 on simple/index"), "\(matched)")
        let sized = await site.runner.run(
            site.job(["say"]) { $0.sizePattern = "^Total size: (\\S+)$" }, logger: testLogger)
        #expect(sized.result == .success && sized.bytesTotal == 1_610_612_736, "\(sized)")
        let unsized = await site.runner.run(site.job(["say"]), logger: testLogger)
        #expect(unsized.bytesTotal == 0 && unsized.filesTotal == 0, "\(unsized)")
        #expect(
            [("1.2G", 1_288_490_189), ("345M", 361_758_720), ("12K", 12_288), ("1234", 1234), ("2 GiB", 2_147_483_648)]
                .allSatisfy { CommandUpstream.bytes(ofSize: $0.0) == Int64($0.1) })
        #expect(CommandUpstream.bytes(ofSize: "lots") == nil)
    }

    @Test("the timeout and a cancel stop the program's whole process group")
    func stops() async throws {
        let site = try Site(["linger": "sleep 300 &\necho $! > \"$1\"\necho $$ > \"$2\"\nwait"])
        let child = site.scratch.path + "/child"
        let leader = site.scratch.path + "/leader"
        var job = site.job(["linger", child, leader])
        job.timeout = TimeSpan(seconds: 1)
        let timedOut = await site.runner.run(job, logger: testLogger)
        #expect(timedOut.result == .failed && timedOut.reason == "timeout", "\(timedOut)")
        try await Self.expectGone([child, leader])

        for file in [child, leader] { try FileManager.default.removeItem(atPath: file) }
        job.timeout = TimeSpan(seconds: 300)
        let running = Task { await site.runner.run(job, logger: testLogger) }
        try await eventually("the program starts its child", seconds: 20) {
            !Self.read(child).isEmpty && !Self.read(leader).isEmpty
        }
        running.cancel()
        let cancelled = await running.value
        #expect(cancelled.result == .cancelled, "\(cancelled)")
        try await Self.expectGone([child, leader])
    }

    static func expectGone(_ pidFiles: [String]) async throws {
        let pids = pidFiles.compactMap { pid_t(read($0).trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(pids.count == pidFiles.count)
        try await eventually("the program's group ends", seconds: 10) {
            !pids.contains(where: ProcessGroupStopper.isRunning)
        }
    }

    @Test("a program outside --allow-exec is not run, and the run says why")
    func refused() async throws {
        let site = try Site([:])
        var job = site.job(["x"])
        job.source = .command(CommandUpstream(command: ["/bin/echo", "hi"]))
        let outcome = await site.runner.run(job, logger: testLogger)
        #expect(
            outcome.result == .failed && outcome.reason == "exec-refused"
                && outcome.message.contains("program '/bin/echo' is refused"), "\(outcome)")
    }

    @Test(
        "atomic: a revision the program emptied, or that deletes past maxDelete, is not published, and the run says why"
    )
    func atomic() async throws {
        let site = try Site([
            "tree": "for f in ${MAKE:-}; do echo \"$f\" > \"$f\"; done\nfor f in ${REMOVE:-}; do rm -f \"$f\"; done"
        ])
        func job(_ env: [String: String]) -> SyncJob {
            var job = site.job(["tree"], env: env)
            job.publish = .atomic
            job.maxDelete = .files(2)
            return job
        }
        let first = await site.runner.run(job(["MAKE": "a b c d e"]), logger: testLogger)
        #expect(first.result == .success && first.message.contains("published as revision 1"), "\(first)")
        let published = try FileManager.default.contentsOfDirectory(atPath: site.served)
        #expect(first.filesTotal == 5 && published.count == 5)
        var capped = job(["REMOVE": "a b c"])
        capped.previousFiles = first.filesTotal
        let held = await site.runner.run(capped, logger: testLogger)
        #expect(held.result == .failed && held.reason == "deletion-cap", "\(held)")
        #expect(held.message.contains("nothing was published: the served revision is as it was"), "\(held.message)")
        var emptied = job(["REMOVE": "a b c d e"])
        emptied.previousFiles = first.filesTotal
        let empty = await site.runner.run(emptied, logger: testLogger)
        #expect(
            empty.result == .failed && empty.reason == "empty-upstream"
                && empty.message.contains("the upstream lists no files where the tree held 5"), "\(empty)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.served).count == 5)
        var within = job(["MAKE": "f", "REMOVE": "a b"])
        within.previousFiles = first.filesTotal
        let second = await site.runner.run(within, logger: testLogger)
        #expect(
            second.result == .success && second.filesDeleted == 2 && second.message.contains("published as revision 2"),
            "\(second)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: site.served)) == ["c", "d", "e", "f"])
    }

    @Test("atomic: FETCH_HEAD is the program's own copy; a write in place through a hard link fails the run, naming it")
    func inPlaceRewrites() async throws {
        let site = try Site([
            "git-like": "echo \"${HEAD_TEXT:-old}\" > FETCH_HEAD\necho v1 > pack.tmp && mv pack.tmp pack",
            "appender": "echo more >> \"$1\"",
        ])
        var job = site.job(["git-like"])
        job.publish = .atomic
        let first = await site.runner.run(job, logger: testLogger)
        #expect(first.result == .success, "\(first)")
        let revision1 = site.served
        job.source = site.job(["git-like"], env: ["HEAD_TEXT": "new"]).source
        let second = await site.runner.run(job, logger: testLogger)
        #expect(second.result == .success && second.message.contains("published as revision 2"), "\(second)")
        // The revision served before is as it was: the program's FETCH_HEAD was a copy, not a link to it.
        #expect(Self.read(revision1 + "/FETCH_HEAD") == "old\n" && Self.read(site.served + "/FETCH_HEAD") == "new\n")
        let revision2 = site.served

        job.source = site.job(["appender", "pack"]).source
        let third = await site.runner.run(job, logger: testLogger)
        #expect(
            third.result == .failed && third.reason == "in-place-rewrite"
                && third.message.contains(
                    "appender wrote 1 file of the served revision in place through its hard link (pack)")
                && third.message.contains("nothing was published"), "\(third)")
        #expect(site.served == revision2)
    }
}
