import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorPresentation
import MirrorTestSupport

/// `GET /mirrorz.json` and `GET /jobs` from a real master agent syncing from a real rsync daemon: after a success, a
/// failure, and while a sync runs; and the tree's size as rsync itself prints it.
@Suite("mirrorz.json and /jobs (live master, real rsync)")
struct FormatsLiveTests {
    struct Mirrorz: Decodable {
        struct Mirror: Decodable {
            var cname: String
            var desc: String?
            var url: String
            var status: String
            var help: String?
            var upstream: String?
            var size: String?
        }
        struct Site: Decodable {
            var url: String
            var abbr: String
            var name: String?
        }
        var version: Double
        var site: Site
        var info: [String]
        var mirrors: [Mirror]
    }

    struct Job: Decodable {
        var name: String
        var is_master: Bool
        var status: String
        var last_update: String, last_update_ts: Int64
        var last_started: String, last_started_ts: Int64
        var last_ended: String, last_ended_ts: Int64
        var next_schedule: String, next_schedule_ts: Int64
        var upstream: String
        var size: String
    }

    static func unix(_ date: Date?) -> Int64? { date.map { Int64(floor($0.timeIntervalSince1970)) } }

    /// What `rsync --stats -h` itself says the tree's size is.
    static func rsyncHumanSize(_ tree: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "rsync", "-a", "-h", "--stats", "--dry-run", tree + "/",
            NSTemporaryDirectory() + "/mirrorsync-size-\(UUID().uuidString)/",
        ]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("Total file size: ") })
        return String(line.dropFirst("Total file size: ".count).prefix { $0 != " " })
    }

    @Test("after a success, a failure and during a sync, both documents say what the master's state says")
    func live() async throws {
        let agent = try await AgentHarness()
        let upstream = agent.scratch.path + "/upstream"
        try Tree.generate(at: upstream, files: 40, bytes: 4096)
        let daemon = try RsyncDaemon(tree: upstream, scratch: agent.scratch)
        let site = SiteSpec(url: "https://mirrors.example.org", abbr: "EXAMPLE", name: "Example mirrors")
        _ = try await agent.put(
            "/v1/settings", AgentSettings(root: agent.scratch.path + "/root", publicStatus: true, site: site))
        let spec = try AgentHarness.project(daemon.url, path: "debian") {
            $0.cname = "Debian"
            $0.desc = "The universal operating system"
            $0.help = "/help/debian/"
        }
        _ = try await agent.put("/v1/projects/debian", spec)
        let first = try await agent.waitForRun("debian", revision: 1)
        #expect(first.result == .success)

        // After a success: S and its end, X the next run; tunasync's success with last_update = last_ended.
        var status = try #require(try await agent.state().projects["debian"]?.status)
        let bytes = try #require(status.sizeBytes)
        // rsync counts the hard link's file again and the symlink as its target's length ("pool/0").
        #expect(bytes == 41 * 4096 + 6)
        #expect(SizeText.rsync(bytes) == (try Self.rsyncHumanSize(upstream)))
        let publicMirrorz = try await agent.request("GET", "/mirrorz.json", token: .some(nil))
        #expect(publicMirrorz.status == 200)
        var mirrorz = try publicMirrorz.decode(Mirrorz.self)
        #expect(
            mirrorz.version == 1.7 && mirrorz.site.url == site.url && mirrorz.site.abbr == "EXAMPLE"
                && mirrorz.info.isEmpty)
        var mirror = try #require(mirrorz.mirrors.first)
        #expect(
            mirror.cname == "Debian" && mirror.url == "/debian" && mirror.help == "/help/debian/"
                && mirror.desc == spec.desc)
        #expect(mirror.upstream == daemon.url && mirror.size == SizeText.human(bytes))
        let success = try #require(Self.unix(status.lastSuccessAt))
        #expect(mirror.status == "S\(success)X\(try #require(Self.unix(status.nextRunAt)))")
        #expect(mirror.status == MirrorzStatus.of(status))
        var job = try #require(try await agent.request("GET", "/jobs", token: .some(nil)).decode([Job].self).first)
        #expect(job.name == "debian" && job.is_master && job.status == "success" && job.size == SizeText.rsync(bytes))
        #expect(job.last_update_ts == success && job.last_ended_ts == success)
        #expect(
            job.last_started_ts == Self.unix(first.startedAt) && job.next_schedule_ts == Self.unix(status.nextRunAt))
        #expect(job.last_update == FormatTime.tunasync(status.lastSuccessAt, timeZone: .current))
        #expect(job.upstream == daemon.url)

        // A failure: F and its end, O the last success; last_update stays, last_ended moves. It ends in a later
        // second than the success, as a real one would: the formats count whole seconds.
        try await eventually("a second after the success") { Date().timeIntervalSince1970 >= Double(success + 1) }
        let down = try AgentHarness.project("rsync://127.0.0.1:\(freePort())/pub/", path: "debian") {
            $0.cname = "Debian"
        }
        _ = try await agent.put("/v1/projects/debian", down)
        _ = try await agent.request("POST", "/v1/projects/debian/sync")
        try await eventually("the failed run recorded") {
            try await agent.state().projects["debian"]?.status.lastRun?.result == .failed
        }
        status = try #require(try await agent.state().projects["debian"]?.status)
        let failedRun = try #require(status.lastRun)
        let failedEnd = try #require(Self.unix(failedRun.endedAt))
        mirrorz = try await agent.request("GET", "/mirrorz.json", token: .some(nil)).decode(Mirrorz.self)
        mirror = try #require(mirrorz.mirrors.first)
        #expect(mirror.status == "F\(failedEnd)O\(success)X\(try #require(Self.unix(status.nextRunAt)))")
        #expect(mirror.size == SizeText.human(bytes), "the size is the tree's after its last success")
        job = try #require(try await agent.request("GET", "/jobs", token: .some(nil)).decode([Job].self).first)
        #expect(job.status == "failed" && job.last_update_ts == success && job.last_ended_ts == failedEnd)
        #expect(job.last_started_ts == Self.unix(failedRun.startedAt) && job.last_ended_ts != job.last_update_ts)

        // While a sync runs: Y and its start, O the last success; tunasync's syncing with last_started moved.
        let slowTree = agent.scratch.path + "/slow-upstream"
        try Tree.generate(at: slowTree, files: 4, bytes: 1 << 20)
        _ = try await agent.put(
            "/v1/projects/debian",
            try AgentHarness.project(slowTree, path: "debian") {
                $0.upstream.bandwidthLimit = ByteSize(bytes: 64 << 10)
            })
        _ = try await agent.request("POST", "/v1/projects/debian/sync")
        try await eventually("the slow sync running") {
            try await agent.state().projects["debian"]?.status.activity == .running
        }
        status = try #require(try await agent.state().projects["debian"]?.status)
        let started = try #require(Self.unix(status.lastStartedAt))
        mirror = try #require(
            try await agent.request("GET", "/mirrorz.json", token: .some(nil)).decode(Mirrorz.self).mirrors.first)
        #expect(mirror.status == "Y\(started)O\(success)")
        #expect(mirror.cname == "debian" && mirror.desc == nil, "a spec without cname and desc shows the name alone")
        job = try #require(try await agent.request("GET", "/jobs", token: .some(nil)).decode([Job].self).first)
        #expect(
            job.status == "syncing" && job.last_started_ts == started && job.last_update_ts == success
                && job.last_ended_ts == failedEnd)

        // The size in the site's status and in the metrics.
        let siteStatus = try await agent.request("GET", "/v1/status").decode(SiteStatus.self)
        #expect(siteStatus.projects["debian"]?.sizeBytes == bytes)
        let metrics = try await agent.request("GET", "/metrics").text
        #expect(metrics.contains(#"mirrorsync_project_size_bytes{project="debian"} \#(bytes)"#), "\(metrics)")
        #expect(try await agent.request("DELETE", "/v1/projects/debian").status == 200)
        await agent.stop()
    }

    @Test(
        "public like the status: without publicStatus they need the token; without site: mirrorz.json says what is missing"
    )
    func access() async throws {
        let agent = try await AgentHarness()
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        #expect(try await agent.request("GET", "/mirrorz.json", token: .some(nil)).status == 401)
        #expect(try await agent.request("GET", "/jobs", token: .some(nil)).status == 401)
        let missing = try await agent.request("GET", "/mirrorz.json")
        #expect(
            missing.status == 404 && missing.error?.code == "no-site"
                && missing.error?.message.contains("site:") == true)
        let jobs = try await agent.request("GET", "/jobs")
        #expect(jobs.status == 200 && jobs.text == "[]")
        _ = try await agent.put(
            "/v1/settings",
            AgentSettings(
                root: agent.scratch.path + "/root", publicStatus: true,
                site: SiteSpec(url: "https://m.example.org", abbr: "M")))
        let open = try await agent.request("GET", "/mirrorz.json", token: .some(nil))
        #expect(open.status == 200 && open.text.contains(#""abbr":"M""#))
        #expect(try await agent.request("GET", "/v1/state", token: .some(nil)).status == 401)
        await agent.stop()

        let slave = try await AgentHarness(role: .slave, name: "ftp1")
        #expect(try await slave.request("GET", "/jobs").status == 404)
        await slave.stop()
    }
}
