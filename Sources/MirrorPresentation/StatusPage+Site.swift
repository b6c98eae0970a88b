import Foundation
import MirrorCore

extension StatusPage {
    /// `GET /`: the site's hosts, then one row per project with the master's copy and one column per slave. Headed
    /// `title` (`StatusPage.title`: the site's name), else the master's name.
    public static func site(_ status: SiteStatus, states: [String: ProjectState], title: String? = nil, now: Date)
        -> String
    {
        let names = status.projects.keys.sorted()
        // A slave that a project names but the settings no longer list still gets its column.
        var columns = status.slaves.map(\.name)
        var known = Set(columns)
        for project in status.projects.values {
            for slave in project.slaves.keys where known.insert(slave).inserted { columns.append(slave) }
        }
        columns = Array(columns[..<status.slaves.count]) + columns[status.slaves.count...].sorted()

        var rows = HTMLWriter(capacity: names.count * (360 + 90 * columns.count))
        var failed: [String] = []
        var stale: [String] = []
        var behind = 0
        var served: [String: Int] = [:]
        for name in names {
            let project = status.projects[name]!
            let mark = ProjectMark(project, state: states[name], now: now)
            if mark.failed { failed.append(name) }
            if mark.stale { stale.append(name) }
            rows.raw(mark.bad ? "<tr class=\"bad\" id=\"p-" : "<tr id=\"p-")
            rows.text(name)
            rows.raw("\"><th scope=\"row\"><a href=\"projects/")
            rows.text(name)
            rows.raw("\">")
            rows.text(name)
            rows.raw("</a></th>")
            rows.raw("<td class=\"n\">")
            rows.text(String(project.revision))
            rows.raw("</td>")
            rows.resultCell(project.lastRun, mark: mark, now: now)
            rows.agoCell(project.lastRun?.endedAt, now: now)
            rows.agoCell(project.lastSuccessAt, now: now, bad: mark.stale)
            rows.nextRunCell(project, suspended: mark.suspended, now: now)
            rows.raw("<td class=\"n\">")
            rows.text(project.sizeBytes.map(SizeText.human) ?? "–")
            rows.raw("</td>")
            for slave in columns {
                guard let copy = project.slaves[slave] else {
                    rows.raw("<td class=\"na\">–</td>")
                    continue
                }
                served[slave, default: 0] += 1
                if copy.behind > 0 { behind += 1 }
                rows.copyCell(copy, now: now)
            }
            rows.raw("</tr>\n")
        }

        var page = HTMLWriter(capacity: rows.out.utf8.count + 4096)
        page.head(title: title ?? status.name, parent: "")
        page.raw("<header><h1>")
        page.text(title ?? status.name)
        page.raw("</h1><p class=\"muted\">")
        page.text("\(names.count) project\(names.count == 1 ? "" : "s") on \(status.slaves.count + 1) hosts · as of ")
        page.time(status.generatedAt)
        page.text(" · reloads every \(refreshSeconds) s")
        page.raw("</p></header>\n")
        page.summary(
            failed: failed, stale: stale, behind: behind, unreachable: status.slaves.filter { !$0.reachable }.count)

        page.raw(
            "<h2>Hosts</h2>\n<div class=\"scroll\"><table><thead><tr><th>Host</th><th>Role</th><th>State</th><th>Last seen</th>"
        )
        page.raw("<th class=\"n\">Projects</th></tr></thead><tbody>\n")
        let daemonBad = status.rsyncd.state == .failed || status.rsyncd.state == .stopped
        page.raw(daemonBad ? "<tr class=\"bad\">" : "<tr>")
        page.raw("<th scope=\"row\">")
        page.text(status.name)
        page.raw("</th><td>master</td><td>")
        page.text(rsyncdText(status.rsyncd))
        page.raw("</td><td>–</td><td class=\"n\">")
        page.text(String(names.count))
        page.raw("</td></tr>\n")
        for slave in status.slaves {
            page.raw(slave.reachable ? "<tr>" : "<tr class=\"bad\">")
            page.raw("<th scope=\"row\">")
            page.text(slave.name)
            // A slave in a tier names the hops it pulls through.
            page.raw("</th><td>")
            page.text(slave.chain.map { "slave via " + $0.dropFirst().joined(separator: " → ") } ?? "slave")
            page.raw("</td><td")
            if slave.reachable {
                page.raw(" class=\"ok\">")
                page.text("up · " + slave.api)
            } else {
                page.raw(" title=\"")
                page.text(slave.error ?? "")
                page.raw("\">")
                page.text("unreachable · " + slave.api)
            }
            page.raw("</td>")
            page.agoCell(slave.lastSeenAt, now: now)
            page.raw("<td class=\"n\">")
            page.text(String(served[slave.name] ?? 0))
            page.raw("</td></tr>\n")
        }
        page.raw("</tbody></table></div>\n")

        page.raw(
            "<h2>Projects</h2>\n<div class=\"scroll\"><table class=\"projects\"><thead><tr><th>Project</th><th class=\"n\">Rev</th>"
        )
        page.raw("<th>Result</th><th>Last sync</th><th>Last success</th><th>Next run</th><th class=\"n\">Size</th>")
        for slave in columns {
            page.raw("<th>")
            page.text(slave)
            page.raw("</th>")
        }
        page.raw("</tr></thead><tbody>\n")
        page.raw(rows.out)
        page.raw("</tbody></table></div>\n")
        page.footer()
        return page.out
    }
}
