import Foundation
import Testing
import MirrorCore
@testable import MirrorPresentation

/// The status page's HTML from status values alone: escaping, the red and amber marks, stale, behind, the project
/// page's runs, and the size and time of a page of 1,000 projects on 3 slaves.
@Suite("The status page (HTML)")
struct StatusPageTests {
    static let now = Date(timeIntervalSince1970: 1_764_460_800)  // 2025-11-30 00:00:00 UTC
    static let hostile = "<script>alert(\"x\")</script> & 'quoted'"

    static func ago(_ seconds: Double) -> Date { now.addingTimeInterval(-seconds) }

    static func run(
        _ id: Int64, _ project: String, _ result: RunResult, endedAgo: Double = 600, message: String? = nil,
        stderr: [String] = []
    ) -> RunRecord {
        RunRecord(
            id: id, project: project, trigger: .schedule, state: .finished, result: result,
            queuedAt: ago(endedAgo + 30),
            startedAt: ago(endedAgo + 20), endedAt: ago(endedAgo), attempts: 1, exitCode: result == .failed ? 10 : 0,
            reason: result == .failed ? "rsync-exit-10" : nil, message: message, filesTransferred: 4,
            bytesTransferred: 2_048,
            filesTotal: 40, bytesTotal: 1_500_000, stderrTail: stderr, revision: result == .success ? 3 : nil)
    }

    static func state(
        every: Int = 3_600, cron: String? = nil, suspended: Bool = false, lastSuccessAgo: Double? = 600,
        addedAgo: Double = 30 * 86_400, lastRun: RunRecord? = nil, slaves: [String] = ["a", "b"]
    ) throws -> ProjectState {
        var spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse("rsync://mirrorsync@up.example.org/pub/")),
            source: "linux", path: "linux",
            interval: try cron.map { .cron(try CronExpression.parse($0)) } ?? .every(TimeSpan(seconds: every)))
        spec.tree.suspended = suspended
        spec.slaves = slaves
        let status = ProjectStatus(
            activity: suspended ? .suspended : .idle, revision: 3, lastRun: lastRun,
            lastSuccessAt: lastSuccessAgo.map(ago), nextRunAt: now.addingTimeInterval(1_800),
            sizeBytes: 1_500_000, addedAt: ago(addedAgo))
        return ProjectState(spec: spec, generation: "0123456789abcdef", status: status)
    }

    static func site(
        _ states: [String: ProjectState], copies: [String: [String: SlaveCopy]] = [:],
        slaves: [SlaveHealth] = [
            SlaveHealth(name: "a", api: "http://127.0.0.1:7071", reachable: true, lastSeenAt: ago(5)),
            SlaveHealth(name: "b", api: "http://127.0.0.1:7072", reachable: true, lastSeenAt: ago(5)),
        ]
    )
        -> SiteStatus
    {
        let projects = states.mapValues { state in
            SiteProject(
                revision: state.status.revision, activity: state.status.activity, lastRun: state.status.lastRun,
                lastSuccessAt: state.status.lastSuccessAt, nextRunAt: state.status.nextRunAt, slaves: [:],
                sizeBytes: state.status.sizeBytes)
        }.reduce(into: [String: SiteProject]()) { out, item in
            var project = item.value
            project.slaves = copies[item.key] ?? [:]
            out[item.key] = project
        }
        return SiteStatus(
            name: "master", generatedAt: now,
            rsyncd: RsyncdStatus(state: .running, address: "127.0.0.1", port: 8730, modules: 2),
            slaves: slaves, projects: projects)
    }

    static func copy(
        _ revision: Int, behind: Int = 0, lag: Double = 0, result: RunResult? = .success, reachable: Bool = true,
        message: String? = nil
    ) -> SlaveCopy {
        SlaveCopy(
            revision: revision, result: result, reportedAt: ago(60), message: message, behind: behind, lagSeconds: lag,
            reachable: reachable, lastSeenAt: ago(5), sizeBytes: 1_500_000)
    }

    /// The markup of the row of `project` in the site page.
    static func row(_ html: String, _ project: String) throws -> String {
        let start = try #require(html.range(of: "id=\"p-\(project)\""))
        let open = try #require(html[..<start.lowerBound].range(of: "<tr", options: .backwards))
        let end = try #require(html[start.upperBound...].range(of: "</tr>"))
        return String(html[open.lowerBound..<end.upperBound])
    }

    static func cells(_ row: String) -> [String] {
        row.components(separatedBy: "<td").dropFirst().map { "<td" + ($0.components(separatedBy: "</td>").first ?? "") }
    }

    @Test("every string from the status is escaped: a message, stderr, a slave's error, a report, the site's name")
    func escaping() throws {
        #expect(
            HTMLEscape.escape(Self.hostile)
                == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;")
        #expect(HTMLEscape.escape("linux-6.1_x") == "linux-6.1_x")
        #expect(HTMLEscape.escape("é ✓ 日本") == "é ✓ 日本")
        let failed = Self.run(
            7, "linux", .failed, message: Self.hostile, stderr: ["rsync: " + Self.hostile, "</pre><b>bold</b>"])
        let states = ["linux": try Self.state(lastRun: failed)]
        var status = Self.site(
            states, copies: ["linux": ["a": Self.copy(2, behind: 1, lag: 60, result: .failed, message: Self.hostile)]])
        status.name = "<b>master</b>"
        status.slaves[1].reachable = false
        status.slaves[1].error = Self.hostile
        let site = StatusPage.site(status, states: states, now: Self.now)
        let project = StatusPage.project(
            "linux", siteName: status.name, state: states["linux"]!, site: status.projects["linux"],
            slaves: status.slaves, runs: [failed], now: Self.now)
        for html in [site, project] {
            #expect(!html.contains("<script"), "no markup from the data")
            #expect(!html.contains("<b>"))
            #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"))
            #expect(html.contains("&lt;b&gt;master&lt;/b&gt;"))
        }
        #expect(project.contains("&lt;/pre&gt;&lt;b&gt;bold&lt;/b&gt;"))
        #expect(StatusPage.notFound("<x>", siteName: "m").contains("No project &lt;x&gt;"))
    }

    @Test("a failed last run and a stale project are red, with the problems named at the top; a fresh success is not")
    func redMarks() throws {
        let states = [
            "fresh": try Self.state(lastRun: Self.run(1, "fresh", .success)),
            "broken": try Self.state(lastRun: Self.run(2, "broken", .failed, message: "rsync: connection refused")),
            "old": try Self.state(
                every: 3_600, lastSuccessAgo: 2 * 3_600 + 1,
                lastRun: Self.run(3, "old", .success, endedAgo: 2 * 3_600 + 1)),
            "paused": try Self.state(suspended: true, lastSuccessAgo: 90 * 86_400),
        ]
        let html = StatusPage.site(Self.site(states), states: states, now: Self.now)
        #expect(try !Self.row(html, "fresh").hasPrefix("<tr class=\"bad\""))
        #expect(try Self.row(html, "broken").hasPrefix("<tr class=\"bad\""))
        #expect(
            try Self.row(html, "broken").contains(
                "<td class=\"bad\" title=\"rsync: connection refused\">failed <small>rsync-exit-10</small>"))
        #expect(try Self.row(html, "old").hasPrefix("<tr class=\"bad\""))
        #expect(try Self.row(html, "old").contains("<span class=\"tag bad\">stale</span>"))
        #expect(try !Self.row(html, "paused").hasPrefix("<tr class=\"bad\""), "a suspended project is never stale")
        #expect(try Self.row(html, "paused").contains("<td>suspended</td>"))
        #expect(html.contains("<span class=\"tag bad\">1 failed</span> <span class=\"tag bad\">1 stale</span>"))
        #expect(html.contains("Needs a look: <a href=\"#p-broken\">broken</a>, <a href=\"#p-old\">old</a></p>"))
        // Rows are sorted by name, and each links to its project's page.
        let order = ["broken", "fresh", "old", "paused"].map { html.range(of: "id=\"p-\($0)\"")!.lowerBound }
        #expect(order == order.sorted())
        #expect(html.contains("<a href=\"projects/fresh\">fresh</a>"))
        // Phones: the viewport, a table that scrolls sideways; and the page reloads itself.
        #expect(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
        #expect(html.contains("<div class=\"scroll\"><table class=\"projects\">"))
        #expect(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"))
        #expect(html.lowercased().range(of: "<script") == nil)
    }

    @Test(
        "stale: no success for twice the interval; for cron, its second firing after the last success; never-synced counts from when it was added"
    )
    func stale() throws {
        func isStale(_ state: ProjectState) -> Bool { Staleness.isStale(state.spec, state.status, now: Self.now) }
        #expect(!isStale(try Self.state(every: 3_600, lastSuccessAgo: 2 * 3_600 - 1)))
        #expect(isStale(try Self.state(every: 3_600, lastSuccessAgo: 2 * 3_600 + 1)))
        #expect(!isStale(try Self.state(every: 3_600, suspended: true, lastSuccessAgo: 86_400)))
        // Never succeeded: stale once twice the interval has passed since the agent was given it.
        #expect(
            !isStale(
                try Self.state(every: 3_600, lastSuccessAgo: nil, addedAgo: 3_600, lastRun: Self.run(1, "p", .failed))))
        #expect(
            isStale(
                try Self.state(
                    every: 3_600, lastSuccessAgo: nil, addedAgo: 3 * 3_600, lastRun: Self.run(1, "p", .failed))))
        // A daily cron at 06:00 that last succeeded yesterday at 06:05 (now is 00:00): due today 06:00, then tomorrow.
        #expect(!isStale(try Self.state(cron: "0 6 * * *", lastSuccessAgo: 18 * 3_600 - 300)))
        #expect(isStale(try Self.state(cron: "0 6 * * *", lastSuccessAgo: 42 * 3_600 - 300 + 86_400)))
        // Weekly (Mondays at 03:00): two days without a success is not stale, as a day per cron schedule made it.
        #expect(!isStale(try Self.state(cron: "0 3 * * 1", lastSuccessAgo: 2 * 86_400)))
        #expect(isStale(try Self.state(cron: "0 3 * * 1", lastSuccessAgo: 15 * 86_400)))
    }

    @Test(
        "how far each slave is behind: current in green, behind in amber with revisions and time, failed or away while behind in red"
    )
    func behind() throws {
        let states = ["linux": try Self.state(lastRun: Self.run(1, "linux", .success), slaves: ["a", "b", "c"])]
        let slaves = ["a", "b", "c"].map {
            SlaveHealth(name: $0, api: "http://\($0):7071", reachable: $0 != "c", lastSeenAt: Self.ago(5))
        }
        var html = StatusPage.site(
            Self.site(
                states,
                copies: [
                    "linux": [
                        "a": Self.copy(3), "b": Self.copy(1, behind: 2, lag: 3_900),
                        "c": Self.copy(2, behind: 1, lag: 120, reachable: false),
                    ]
                ], slaves: slaves), states: states, now: Self.now)
        var cells = Self.cells(try Self.row(html, "linux"))
        #expect(cells.count == 9)
        #expect(cells[6].hasPrefix("<td class=\"ok\"") && cells[6].hasSuffix(">✓ 3"))
        #expect(
            cells[7].hasPrefix("<td class=\"warn\"") && cells[7].hasSuffix(">2 behind · 1h 5m")
                && cells[7].contains("serves revision 1"))
        #expect(
            cells[8].hasPrefix("<td class=\"bad\"") && cells[8].hasSuffix(">1 behind · 2m")
                && cells[8].contains("(unreachable)"))
        #expect(html.contains("<span class=\"tag warn\">2 copies behind</span>"))
        #expect(html.contains("<span class=\"tag bad\">1 host unreachable</span>"))
        // A project a slave does not serve shows a dash in its column; a failed pull is red even when current.
        let two = [
            "linux": states["linux"]!, "tools": try Self.state(lastRun: Self.run(2, "tools", .success), slaves: ["a"]),
        ]
        html = StatusPage.site(
            Self.site(
                two,
                copies: [
                    "linux": ["a": Self.copy(3), "b": Self.copy(3)],
                    "tools": ["a": Self.copy(3, result: .failed, message: "disk full")],
                ]),
            states: two, now: Self.now)
        cells = Self.cells(try Self.row(html, "tools"))
        #expect(
            cells[6].hasPrefix("<td class=\"bad\"") && cells[6].contains("disk full")
                && cells[6].hasSuffix("✓ 3 · failed"))
        #expect(cells[7] == "<td class=\"na\">–")
    }

    @Test(
        "the project page: its hosts, its last runs with their messages, the stderr tail and the link to the run's log")
    func projectPage() throws {
        let runs = [
            Self.run(
                12, "linux", .failed, endedAgo: 60, message: "rsync exited 10", stderr: ["rsync: failed to connect"]),
            Self.run(11, "linux", .success, endedAgo: 4_000),
        ]
        let state = try Self.state(lastRun: runs[0])
        let status = Self.site(
            ["linux": state], copies: ["linux": ["a": Self.copy(3), "b": Self.copy(2, behind: 1, lag: 600)]])
        let html = StatusPage.project(
            "linux", siteName: "master", state: state, site: status.projects["linux"], slaves: status.slaves,
            runs: runs, now: Self.now)
        #expect(html.contains("<h1>linux <span class=\"tag bad\">failed</span></h1>"))
        #expect(html.contains("<dd>rsync://up.example.org/pub/linux/</dd>"), "the upstream without its rsync user")
        #expect(html.contains("<dd>every 1h</dd>"))
        #expect(
            html.contains(
                "<article class=\"run bad\" id=\"run-12\"><h3>#12 · failed · schedule <small>rsync-exit-10</small></h3>"
            ))
        #expect(html.contains("<p class=\"msg\">rsync exited 10</p>"))
        #expect(
            html.contains(
                "<div class=\"log\"><a href=\"../v1/projects/linux/runs/12/log\">log</a><pre>rsync: failed to connect</pre></div>"
            ))
        #expect(html.contains("<article class=\"run\" id=\"run-11\">"))
        #expect(html.range(of: "run-12")!.lowerBound < html.range(of: "run-11")!.lowerBound, "newest first")
        #expect(html.contains("4 files transferred of 40 · 2.00 KiB transferred · tree 1.43 MiB"))
        #expect(
            html.contains("<tr class=\"warn\"><th scope=\"row\">b</th><td class=\"n\">2</td><td>1 behind · 10m</td>"))
        #expect(html.contains("<a href=\"../\">← master</a>"))
    }

    @Test("times: spans in their two largest units, UTC stamps by arithmetic")
    func times() {
        #expect(StatusPage.span(0) == "0s" && StatusPage.span(59.9) == "59s" && StatusPage.span(60) == "1m")
        #expect(
            StatusPage.span(3_600) == "1h" && StatusPage.span(3_660) == "1h 1m" && StatusPage.span(90_000) == "1d 1h")
        #expect(StatusPage.utc(Self.now) == ("2025-11-30 00:00:00 UTC", "2025-11-30T00:00:00Z"))
        #expect(StatusPage.utc(Date(timeIntervalSince1970: 951_782_400 + 3_723.9)).iso == "2000-02-29T01:02:03Z")
        #expect(StatusPage.utc(Date(timeIntervalSince1970: -1)).iso == "1969-12-31T23:59:59Z")
    }

    @Test("1,000 projects on 3 slaves: the page's size and the time to render it")
    func thousand() throws {
        let slaves = ["ftp1", "ftp2", "ftp3"]
        var states: [String: ProjectState] = [:]
        var copies: [String: [String: SlaveCopy]] = [:]
        for i in 0..<1_000 {
            let name = "project-\(i)"
            let failed = i % 50 == 0
            // One in ten on a cron schedule, whose stale check costs calendar work.
            states[name] = try Self.state(
                cron: i % 10 == 0 ? "0 6 * * *" : nil, lastSuccessAgo: i % 40 == 0 ? 3 * 3_600 : 600,
                lastRun: Self.run(
                    Int64(i), name, failed ? .failed : .success, message: failed ? "rsync: connection refused" : nil),
                slaves: slaves)
            copies[name] = Dictionary(
                uniqueKeysWithValues: slaves.enumerated().map { index, slave in
                    (slave, i % 7 == index ? Self.copy(2, behind: 1, lag: 900) : Self.copy(3))
                })
        }
        let status = Self.site(
            states, copies: copies,
            slaves: slaves.map {
                SlaveHealth(
                    name: $0, api: "https://\($0).example.org:7071",
                    reachable: true, lastSeenAt: Self.ago(3))
            })
        var html = ""
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            html = StatusPage.site(status, states: states, now: Self.now)
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        print(
            "status page, 1,000 projects x 3 slaves: \(html.utf8.count) bytes, rendered in \(String(format: "%.1f", best * 1000)) ms (best of 3)"
        )
        #expect(
            html.components(separatedBy: "<tr id=\"p-").count - 1
                + html.components(separatedBy: "<tr class=\"bad\" id=\"p-").count - 1 == 1_000)
        #expect(html.utf8.count < 1_000_000)
    }

    @Test("a slave in a tier names the hops it pulls through in the hosts' table")
    func chain() throws {
        let states = ["linux": try Self.state()]
        var status = Self.site(states)
        status.slaves[1].chain = ["master", "a"]
        let html = StatusPage.site(status, states: states, now: Self.now)
        #expect(html.contains("<td>slave via a</td>"), "\(html)")
        #expect(html.contains("<td>slave</td>"), "a, which pulls from the master, says slave alone")
    }
}
