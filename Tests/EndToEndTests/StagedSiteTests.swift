import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `stage: site` across a master and two slaves, each a process of its own, with real rsync.
@Suite("Staged two-stage across the slaves (separate processes, real rsync)", .serialized)
struct StagedSiteTests {
    static let staged =
        "linux: { upstream: up, source: linux, interval: hourly, slaves: all, twoStage: [dists/], stage: site }"

    /// An index naming every package in the pool, as a Debian `Packages` file does.
    static func writeIndex(_ site: Site) throws {
        let linux = site.upstream + "/linux"
        let pool = try FileManager.default.subpathsOfDirectory(atPath: linux + "/pool").filter { $0.hasSuffix(".deb") }
            .sorted()
        try FileManager.default.createDirectory(atPath: linux + "/dists/stable", withIntermediateDirectories: true)
        try (pool.map { "Filename: pool/\($0)\n" }.joined()).write(
            toFile: linux + "/dists/stable/Packages", atomically: true, encoding: .utf8)
    }

    /// A new package in the pool, named by the index: revision `revision` of linux.
    static func publish(_ site: Site, revision: Int) async throws {
        try Data("package of revision \(revision)\n".utf8).write(
            to: URL(fileURLWithPath: site.upstream + "/linux/pool/1/new-\(revision).deb"))
        try writeIndex(site)
        let reply = try await site.master.request("POST", "/v1/projects/linux/sync")
        #expect(reply.status == 202)
    }

    /// The slave's runs of linux back to (and with) its newest first stage, newest first.
    static func stagedRuns(_ slave: AgentProcess) async throws -> [RunRecord] {
        var id = try #require(try await slave.state().projects["linux"]?.status.lastRun?.id)
        var runs: [RunRecord] = []
        while id > 0 {
            let reply = try await slave.request("GET", "/v1/projects/linux/runs/\(id)")
            if reply.status == 200 {
                let run = try reply.decode(RunRecord.self)
                runs.append(run)
                if run.trigger == .firstStage { return runs }
            }
            id -= 1
        }
        throw ValueError("\(slave.name) has no first-stage run of linux")
    }

    @Test(
        "no slave starts stage 2 before every slave finished stage 1; between the stages a slave serves the revision before, index and all"
    )
    func together() async throws {
        // Slave a's rsync waits while the test holds it (a file), then 1 s more: without the master's staging, b would
        // switch its index while a lacks the packages it names. Held, not slowed by a fixed time, so that a loaded
        // machine cannot close the window between b's first stage and a's before the test has looked into it.
        let hold = NSTemporaryDirectory() + "mirrorsync-staged-hold-\(getpid())-\(UUID().uuidString)"
        defer { unlink(hold) }
        let site = try Site(
            "staged",
            agentEnvironment: { name, scratch in
                guard name == "a" else { return [:] }
                let bin = scratch.sub("slow-bin")
                let rsync = try #require(
                    ["/usr/bin/rsync", "/bin/rsync"].first { FileManager.default.isExecutableFile(atPath: $0) })
                try "#!/bin/sh\nwhile [ -e '\(hold)' ]; do sleep 0.1; done\nsleep 1\nexec \(rsync) \"$@\"\n"
                    .write(toFile: bin + "/rsync", atomically: true, encoding: .utf8)
                chmod(bin + "/rsync", 0o755)
                return ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
            })
        try Self.writeIndex(site)
        try await site.start(
            replacing: "linux: { upstream: up, source: linux, interval: hourly, slaves: all }", with: Self.staged)
        let index = "dists/stable/Packages"
        for slave in [site.a, site.b] {
            #expect(
                try Tree.snapshot(site.tree(slave, "linux")) == Tree.snapshot(site.upstream + "/linux"), "\(slave.name)"
            )
        }

        #expect(FileManager.default.createFile(atPath: hold, contents: nil))
        try await Self.publish(site, revision: 2)
        // b finishes its first stage while a's is held: it holds the new package and serves the old index.
        try await eventually("b finished stage 1 of revision 2", seconds: 60) {
            guard let run = try await site.b.state().projects["linux"]?.status.lastRun else { return false }
            return run.trigger == .firstStage && run.result == .success && run.endedAt! > Date().addingTimeInterval(-60)
        }
        let between = try #require(try await site.b.state().projects["linux"])
        #expect(between.status.revision == 1, "between the stages b still serves revision 1")
        let bTree = site.tree(site.b, "linux")
        #expect(FileManager.default.fileExists(atPath: bTree + "/pool/1/new-2.deb"))
        #expect(
            try !String(contentsOfFile: bTree + "/" + index, encoding: .utf8).contains("new-2.deb"),
            "b's index must not name the new package before every slave has it")
        unlink(hold)

        try await site.wait("served revision 2 everywhere", site.atRevision(2))
        var firstEnds: [Date] = []
        var secondStarts: [Date] = []
        for slave in [site.a, site.b] {
            let runs = try await Self.stagedRuns(slave)
            let first = try #require(runs.last)
            let second = try #require(runs.first)
            #expect(second.trigger == .secondStage && second.result == .success, "\(slave.name): \(second)")
            #expect(
                first.result == .success && first.message?.contains("stage 1 of 2: ") == true, "\(slave.name): \(first)"
            )
            firstEnds.append(try #require(first.endedAt))
            secondStarts.append(try #require(second.startedAt))
            #expect(
                try Tree.snapshot(site.tree(slave, "linux")) == Tree.snapshot(site.upstream + "/linux"), "\(slave.name)"
            )
        }
        let lastFirst = try #require(firstEnds.max())
        let firstSecond = try #require(secondStarts.min())
        #expect(
            lastFirst <= firstSecond, "stage 2 started at \(firstSecond), before the last stage 1 ended at \(lastFirst)"
        )
        #expect(
            abs(secondStarts[0].timeIntervalSince(secondStarts[1])) < 2,
            "the slaves start stage 2 together: \(secondStarts)")
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }

    @Test(
        "a slave that does not answer holds the others back no longer than --stage-timeout, and catches up once it answers"
    )
    func timeout() async throws {
        let site = try Site("staged-timeout", agentArguments: { $0 == "master" ? ["--stage-timeout", "3"] : [] })
        try Self.writeIndex(site)
        try await site.start(
            replacing: "linux: { upstream: up, source: linux, interval: hourly, slaves: all }", with: Self.staged)
        // Stopped, b takes the master's connection and never answers.
        let b = try #require(site.b.process?.processIdentifier)
        kill(b, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(b, SIGCONT) } }
        try await Self.publish(site, revision: 2)
        try await site.wait("served revision 2 on a", seconds: 60, site.atRevision(2, slaves: ["a"]))
        let runs = try await Self.stagedRuns(site.a)
        let first = try #require(runs.last?.endedAt)
        let second = try #require(runs.first)
        #expect(second.trigger == .secondStage)
        let held = try #require(second.startedAt).timeIntervalSince(first)
        #expect(held < 3 + 5, "a waited \(held) s for b, more than the stage timeout allows")

        kill(b, SIGCONT)
        resumed = true
        try await site.wait("served revision 2 on b", seconds: 90, site.atRevision(2))
        #expect(try Tree.snapshot(site.tree(site.b, "linux")) == Tree.snapshot(site.upstream + "/linux"))
        for agent in [site.master, site.a, site.b] { await agent.stop() }
    }
}
