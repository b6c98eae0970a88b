import Foundation
import Testing
import MirrorCore
@testable import MirrorPresentation

/// What the page says is true: a run waiting to retry is shown as such, the page is headed with the site's name, and
/// every size on it reads one way.
@Suite("The status page: retrying, the site's name, sizes")
struct StatusPageTruthTests {
    typealias Page = StatusPageTests
    static let now = Page.now

    /// A project whose run failed its first attempt 30 s ago and tries again in 45 s.
    static func retrying(success: Bool = true) throws -> ProjectState {
        var state = try Page.state(lastSuccessAgo: success ? 600 : nil)
        state.status.activity = .retrying
        state.status.retry = RetryWait(
            at: now.addingTimeInterval(45), failedAt: now.addingTimeInterval(-30), attempts: 1,
            reason: "rsync-exit-10", message: "rsync: failed to connect to up.example.org: Connection refused")
        return state
    }

    static func site(_ states: [String: ProjectState]) -> SiteStatus {
        var status = Page.site(states)
        for (name, state) in states { status.projects[name]?.retry = state.status.retry }
        return status
    }

    @Test("the site's table: a retrying tag whose title says why and until when, 'retry in' as its next run; not red")
    func siteRow() throws {
        let states = ["linux": try Self.retrying(), "gnu": try Page.state()]
        let html = StatusPage.site(Self.site(states), states: states, now: Self.now)
        let row = try Page.row(html, "linux")
        #expect(!row.hasPrefix("<tr class=\"bad\""), "a retry is not a failure yet: \(row)")
        #expect(
            row.contains(
                "<span class=\"tag warn\" title=\"attempt 1 failed (rsync-exit-10); the next in 45s: rsync: failed to connect to up.example.org: Connection refused\">retrying</span>"
            ), "\(row)")
        let cells = Page.cells(row)
        #expect(cells[4] == "<td>retry in 45s", "\(cells)")
        #expect(!(try Page.row(html, "gnu")).contains("retrying"))
    }

    @Test(
        "the project's page: the tag in its heading, and a Retrying line with the attempt, its reason and its message")
    func projectPage() throws {
        let state = try Self.retrying()
        let status = Self.site(["linux": state])
        let html = StatusPage.project(
            "linux", siteName: "Example Mirrors", master: "master", state: state, site: status.projects["linux"],
            slaves: status.slaves, runs: [], now: Self.now)
        #expect(html.contains("<h1>linux <span class=\"tag warn\" title=\"attempt 1 failed"))
        #expect(
            html.contains(
                "<dt>Retrying</dt><dd>attempt 1 failed (rsync-exit-10); the next in 45s: rsync: failed to connect to up.example.org: Connection refused</dd>"
            ))
        #expect(html.contains("<dt>Next run</dt><dd>retry in 45s</dd>"))
        // The public's page: the failure's class, not rsync's words.
        let shown = PublicView.state(state)
        let public_ = StatusPage.project(
            "linux", siteName: "Example Mirrors", master: "master", state: shown,
            site: PublicView.status(status).projects["linux"], slaves: status.slaves, runs: [], showsLogs: false,
            now: Self.now)
        #expect(public_.contains("<dd>attempt 1 failed (rsync-exit-10); the next in 45s: upstream unreachable</dd>"))
        #expect(!public_.contains("Connection refused"))
    }

    @Test("headed with the site's name from site: (its name, else its abbr, else the master's), the master still named")
    func title() throws {
        #expect(
            StatusPage.title(site: SiteSpec(url: "https://m.example.org", abbr: "EX", name: "Example"), master: "m")
                == "Example")
        #expect(StatusPage.title(site: SiteSpec(url: "https://m.example.org", abbr: "EX"), master: "m") == "EX")
        #expect(StatusPage.title(site: nil, master: "m") == "m")
        let states = ["linux": try Page.state()]
        let status = Page.site(states)
        let html = StatusPage.site(status, states: states, title: "Example <Mirrors>", now: Self.now)
        #expect(html.contains("<title>Example &lt;Mirrors&gt; · mirrorsync</title>"))
        #expect(html.contains("<header><h1>Example &lt;Mirrors&gt;</h1>"))
        #expect(html.contains("<th scope=\"row\">master</th><td>master</td>"), "the hosts' table names the agent")
        #expect(!StatusPage.site(status, states: states, now: Self.now).contains("Example"))
        let project = StatusPage.project(
            "linux", siteName: "Example", master: "master", state: states["linux"]!, site: status.projects["linux"],
            slaves: status.slaves, runs: [], now: Self.now)
        #expect(project.contains("<title>linux · Example · mirrorsync</title>") && project.contains("← Example</a>"))
        #expect(project.contains("<th scope=\"row\">master</th>"))
        #expect(StatusPage.notFound("x", siteName: "Example").contains("← Example</a>"))
    }

    @Test("every size on both pages reads one way: IEC units, three significant digits")
    func sizes() throws {
        let runs = [Page.run(12, "linux", .success)]
        var states = ["linux": try Page.state(lastRun: runs[0])]
        states["linux"]?.status.sizeBytes = 900 * 1024
        var status = Page.site(states)
        status.projects["linux"]?.sizeBytes = 900 * 1024
        let site = StatusPage.site(status, states: states, now: Self.now)
        let project = StatusPage.project(
            "linux", siteName: "master", state: states["linux"]!, site: status.projects["linux"],
            slaves: status.slaves, runs: runs, now: Self.now)
        #expect(site.contains("<td class=\"n\">900 KiB</td>"))
        #expect(project.contains("<dt>Size</dt><dd>900 KiB</dd>"))
        #expect(project.contains("4 files transferred of 40 · 2.00 KiB transferred · tree 1.43 MiB"))
        let rsyncStyle = try Regex(#"[0-9]\.[0-9]{2}[KMGTPE]\b|[0-9]{3}\.00[KMGTPE]"#)
        for html in [site, project] { #expect(html.firstMatch(of: rsyncStyle) == nil) }
    }
}
