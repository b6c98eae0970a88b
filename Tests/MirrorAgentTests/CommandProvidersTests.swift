import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorProcess
import MirrorTestSupport

/// The providers shipped in providers/ against local upstreams (a git repository the test makes; a tree served by
/// `python3 -m http.server`), and resource limits on real processes: a memory hog stopped by its cgroup, rsync held
/// to the same limits.
@Suite("Command upstreams: shipped providers and limits", .serialized)
struct CommandProvidersTests {
    static let providers = CommandUpstreamTests.root.appendingPathComponent("providers").path

    static func runner(_ allowed: String = providers) throws -> TreeRunner {
        let provider = CommandProvider(
            host: "master", allowlist: try ExecAllowlist(directories: [allowed], user: nil),
            terminationGrace: .milliseconds(500))
        return TreeRunner(providers: [provider, RsyncProvider()], host: "master")
    }

    /// Runs a tool to its end; its standard output.
    @discardableResult
    static func run(_ argv: [String]) async throws -> String {
        let ran = try await runProgram("/usr/bin/env", argv)
        guard ran.status == 0 else { throw ValueError("\(argv) exited with \(ran.status): \(ran.stderr)") }
        return ran.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func served(_ tree: String) -> String { URL(fileURLWithPath: tree).resolvingSymlinksInPath().path }

    @Test(
        "git-mirror clones a repository, then fetches its new commit; the revision served before keeps its FETCH_HEAD")
    func gitMirror() async throws {
        let scratch = Scratch("git-mirror")
        let upstream = scratch.sub("upstream.git")
        let git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
        try await Self.run(git + ["init", "-q", "-b", "main", upstream])
        try await Self.run(git + ["-C", upstream, "commit", "-q", "--allow-empty", "-m", "one"])
        var job = SyncJob(
            project: "repo",
            source: .command(CommandUpstream(command: [Self.providers + "/git-mirror"], url: upstream)),
            destination: scratch.path + "/mirror/repo.git/")
        job.publish = .atomic
        let runner = try Self.runner()
        let first = await runner.run(job, logger: testLogger)
        #expect(first.result == .success && first.message.contains("published as revision 1"), "\(first)")
        let revision1 = Self.served(scratch.path + "/mirror/repo.git")
        let head = { (repo: String) in try await Self.run(["git", "--git-dir=" + repo, "rev-parse", "refs/heads/main"])
        }
        #expect(try await head(revision1) == head(upstream + "/.git"))

        try await Self.run(git + ["-C", upstream, "commit", "-q", "--allow-empty", "-m", "two"])
        try await Self.run(git + ["-C", upstream, "tag", "v2"])
        let fetchHead = (try? String(contentsOfFile: revision1 + "/FETCH_HEAD", encoding: .utf8)) ?? ""
        job.previousFiles = first.filesTotal
        let second = await runner.run(job, logger: testLogger)
        #expect(second.result == .success && second.message.contains("published as revision 2"), "\(second)")
        let revision2 = Self.served(scratch.path + "/mirror/repo.git")
        #expect(try await head(revision2) == head(upstream + "/.git"))
        #expect(try await Self.run(["git", "--git-dir=" + revision2, "tag"]) == "v2")
        #expect((try? String(contentsOfFile: revision1 + "/FETCH_HEAD", encoding: .utf8)) ?? "" == fetchHead)
        #expect(try await head(revision1) != head(revision2))
    }

    @Test("lftp-mirror mirrors an HTTP tree and its new files; an emptied upstream publishes nothing, saying why")
    func lftpMirror() async throws {
        let scratch = Scratch("lftp-mirror")
        let web = scratch.sub("web")
        try Tree.generate(at: web, files: 12)
        let server = try await HTTPServer(serving: web)
        defer { server.stop() }
        var job = SyncJob(
            project: "web",
            source: .command(CommandUpstream(command: [Self.providers + "/lftp-mirror"], url: server.url)),
            destination: scratch.path + "/mirror/web/", maxDelete: .percent(10))
        job.publish = .atomic
        let runner = try Self.runner()
        let first = await runner.run(job, logger: testLogger)
        #expect(first.result == .success && first.message.contains("published as revision 1"), "\(first)")
        let files = { (tree: String) in CopyProvider.files(tree) }
        let regular = files(web)
        #expect(regular.isSubset(of: files(Self.served(scratch.path + "/mirror/web"))), "\(regular)")

        try "new\n".write(toFile: web + "/pool/0/new.deb", atomically: true, encoding: .utf8)
        job.previousFiles = first.filesTotal
        let second = await runner.run(job, logger: testLogger)
        #expect(second.result == .success && second.message.contains("published as revision 2"), "\(second)")
        let revision2 = Self.served(scratch.path + "/mirror/web")
        #expect(files(revision2).contains("/pool/0/new.deb"))

        for entry in try FileManager.default.contentsOfDirectory(atPath: web) {
            try FileManager.default.removeItem(atPath: web + "/" + entry)
        }
        job.previousFiles = second.filesTotal
        let emptied = await runner.run(job, logger: testLogger)
        #expect(emptied.result == .failed && emptied.reason == "empty-upstream", "\(emptied)")
        #expect(
            emptied.message.contains("the upstream lists no files where the tree held")
                && emptied.message.contains("nothing was published: the served revision is as it was"),
            "\(emptied.message)")
        #expect(Self.served(scratch.path + "/mirror/web") == revision2 && files(revision2).contains("/pool/0/new.deb"))
    }

    /// The memory controller a run's cgroup needs, which this suite's machines have (cgroup v1, as root).
    static let hasMemoryCgroup = FileManager.default.isWritableFile(
        atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes")

    @Test(
        "a program past its memory limit is stopped, and the run fails with 'memory limit'; rsync runs under limits too",
        .enabled(if: hasMemoryCgroup, "no cgroup v1 memory controller this process may write"))
    func memoryLimit() async throws {
        let scratch = Scratch("limits")
        let bin = scratch.sub("bin")
        try CommandProviderTests.script(
            bin + "/hog", "exec /usr/bin/python3 -c 'b = bytearray(500 * 1024 * 1024); print(len(b))'")
        var job = SyncJob(
            project: "hog", source: .command(CommandUpstream(command: [bin + "/hog"])),
            destination: scratch.path + "/mirror/hog/")
        job.limits = ResourceLimits(memory: ByteSize(bytes: 64 << 20), nice: 5)
        let activity = RunActivity(project: "hog", run: 1, logPath: scratch.path + "/hog.log", logger: testLogger)
        let outcome = try await Self.runner(bin).run(job, activity: activity, logger: testLogger)
        #expect(
            outcome.result == .failed && outcome.reason == "memory-limit"
                && outcome.message.contains("hog was stopped at its memory limit of 64 MiB"), "\(outcome)")
        let log = CommandProviderTests.read(scratch.path + "/hog.log")
        #expect(log.contains("mirrorsync: limits: memory 67108864 bytes: cgroup"), "\(log)")
        // The run's cgroup is gone with it.
        let own = RunConfinement.ownGroup(controller: "memory") ?? "/"
        let left = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/memory" + own)) ?? []
        #expect(!left.contains { $0.hasPrefix("mirrorsync-hog-") }, "\(left)")

        let upstream = scratch.sub("upstream")
        try Tree.generate(at: upstream, files: 20)
        var rsync = SyncJob(project: "r", source: .test(upstream), destination: scratch.path + "/mirror/r/")
        rsync.limits = ResourceLimits(memory: ByteSize(bytes: 256 << 20), cpus: 1, nice: 10, io: .idle)
        let rsyncActivity = RunActivity(project: "r", run: 1, logPath: scratch.path + "/r.log", logger: testLogger)
        let synced = try await Self.runner(bin).run(rsync, activity: rsyncActivity, logger: testLogger)
        #expect(synced.result == .success, "\(synced)")
        #expect(
            CommandProviderTests.read(scratch.path + "/r.log").contains("mirrorsync: limits: memory 268435456 bytes"))
    }
}
