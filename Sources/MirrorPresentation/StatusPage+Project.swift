import Foundation
import MirrorCore

extension StatusPage {
    /// `GET /projects/{name}`: the project's spec in brief, its copy on every host, and its last runs, newest first,
    /// each with its message and the tail of its output. `siteName` heads it (`StatusPage.title`); `master` names the
    /// master's row of the hosts (`siteName` when nil).
    public static func project(
        _ name: String, siteName: String, master: String? = nil, state: ProjectState, site project: SiteProject?,
        slaves: [SlaveHealth], runs: [RunRecord], logTails: [Int64: [String]] = [:], showsLogs: Bool = true,
        now: Date
    ) -> String {
        let spec = state.spec
        let status = state.status
        let mark = ProjectMark(project, state: state, now: now)
        var page = HTMLWriter(capacity: 8192 + runs.count * 1024)
        page.head(title: name + " · " + siteName, parent: "../")
        page.raw("<header><p><a href=\"../\">← ")
        page.text(siteName)
        page.raw("</a></p><h1>")
        page.text(name)
        if mark.failed { page.raw(" <span class=\"tag bad\">failed</span>") }
        if mark.stale { page.raw(" <span class=\"tag bad\">stale</span>") }
        if let stuck = mark.stuck {
            page.raw(" <span class=\"tag bad\">stuck: ")
            page.text(stuck.cause)
            page.raw("</span>")
        }
        if mark.suspended { page.raw(" <span class=\"tag\">suspended</span>") }
        if status.activity == .running || status.activity == .queued {
            page.raw(" <span class=\"tag run\">")
            page.text(status.activity == .running ? "syncing" : "queued")
            page.raw("</span>")
        }
        if status.activity == .retrying { page.retryTag(mark.retry, now: now) }
        page.raw("</h1></header>\n<dl>")
        func item(_ term: String, _ body: (inout HTMLWriter) -> Void) {
            page.raw("<dt>")
            page.text(term)
            page.raw("</dt><dd>")
            body(&page)
            page.raw("</dd>")
        }
        item("Upstream") { $0.text(ShownUpstream.of(spec)) }
        item("Path") { $0.text("/" + spec.path) }
        item("Interval") { $0.text(intervalText(spec.interval)) }
        item("Revision") { $0.text(String(status.revision)) }
        item("Last success") { $0.ago(status.lastSuccessAt, now: now) }
        if let retry = mark.retry {
            item("Retrying") {
                $0.text(retryText(retry, now: now))
                if let message = retry.message, !message.isEmpty { $0.text(": " + message) }
            }
        }
        item("Next run") {
            $0.text(
                nextRunText(
                    status.nextRunAt, activity: status.activity, retry: status.retry, suspended: spec.suspended,
                    now: now))
        }
        item("Size") { $0.text(status.sizeBytes.map(SizeText.human) ?? "–") }
        page.raw("</dl>\n")

        page.raw(
            "<h2>Hosts</h2>\n<div class=\"scroll\"><table><thead><tr><th>Host</th><th class=\"n\">Rev</th><th>Behind</th>"
        )
        page.raw("<th>Result</th><th>Reported</th><th>Message</th></tr></thead><tbody>\n")
        page.raw(mark.bad ? "<tr class=\"bad\">" : "<tr>")
        page.raw("<th scope=\"row\">")
        page.text(master ?? siteName)
        if (master ?? siteName) != "master" { page.raw(" <span class=\"muted\">master</span>") }
        page.raw("</th><td class=\"n\">")
        page.text(String(status.revision))
        page.raw("</td><td>–</td>")
        page.resultCell(status.lastRun, mark: mark, now: now)
        page.agoCell(status.lastRun?.endedAt, now: now)
        page.raw("<td class=\"msg\">")
        page.text(status.lastRun?.message ?? "")
        page.raw("</td></tr>\n")
        let reachable = Dictionary(slaves.map { ($0.name, $0.reachable) }, uniquingKeysWith: { a, _ in a })
        for slave in (project?.slaves.keys).map({ $0.sorted() }) ?? [] {
            let copy = project!.slaves[slave]!
            let copyMark = CopyMark(copy)
            page.raw("<tr\(copyMark.rowClass)><th scope=\"row\">")
            page.text(slave)
            if reachable[slave] == false || !copy.reachable { page.raw(" <span class=\"tag bad\">unreachable</span>") }
            page.raw("</th><td class=\"n\">")
            page.text(copy.revision == 0 ? "–" : String(copy.revision))
            page.raw("</td><td>")
            page.text(copy.behind == 0 ? (copy.revision == 0 ? "–" : "current") : behindText(copy))
            page.raw("</td><td")
            page.raw(copy.result == .failed ? " class=\"bad\">" : ">")
            page.text(copy.result?.rawValue ?? "none yet")
            page.raw("</td>")
            page.agoCell(copy.reportedAt, now: now)
            page.raw("<td class=\"msg\">")
            page.text(copy.message ?? "")
            page.raw("</td></tr>\n")
        }
        page.raw("</tbody></table></div>\n")

        page.raw("<h2>Last runs</h2>\n")
        if runs.isEmpty { page.raw("<p class=\"muted\">No run yet.</p>\n") }
        for run in runs {
            page.run(run, project: name, logTail: showsLogs ? logTails[run.id] : nil, showsLog: showsLogs, now: now)
        }
        page.footer()
        return page.out
    }
}
