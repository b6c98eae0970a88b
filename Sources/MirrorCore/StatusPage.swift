import Foundation

// The master's status page: `GET /` (every project on every host) and `GET /projects/{name}` (one project, its
// hosts and its last runs), rendered on the server from what `GET /v1/status` gathers and the scheduler's project
// states. Pure functions of those values, so that every mark is checked without a server. No JavaScript: a few
// lines of CSS, and `<meta http-equiv=refresh>` to stay current. The work is one pass over projects × slaves, and
// the sort of the project names.

/// Text made safe for HTML: in element content and in quoted attribute values alike.
public enum HTMLEscape {
    /// `text` with `&`, `<`, `>`, `"` and `'` written as character references.
    public static func escape(_ text: String) -> String {
        var out = ""
        append(text, to: &out)
        return out
    }

    /// Appends `text` to `out`, escaped.
    public static func append(_ text: String, to out: inout String) {
        // Most of a page (names, revisions, sizes, times) has nothing to escape: copied whole.
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            out += text
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}

/// When a project is stale, on the status page and in `mirrorsync status`.
public enum Staleness {
    /// When a project that last succeeded at `since` becomes stale: two of its intervals later; for a cron schedule,
    /// at its second firing after `since` (two runs due since then, and neither succeeded).
    public static func staleAt(_ interval: IntervalSpec, since: Date) -> Date? {
        if let every = interval.every { return since.addingTimeInterval(2 * Double(every.seconds)) }
        guard let first = interval.nextRun(after: since, seed: "") else { return nil }
        return interval.nextRun(after: first, seed: "")
    }

    /// No success for twice the project's interval. A project that never succeeded counts from when the agent was
    /// given it (or, from agents that do not say, is stale once it has run); a suspended project is never stale.
    public static func isStale(_ spec: AgentProjectSpec, _ status: ProjectStatus, now: Date) -> Bool {
        guard !spec.suspended else { return false }
        guard let since = status.lastSuccessAt ?? status.addedAt else { return status.lastRun != nil }
        // A cron schedule's firings cost calendar work: the second is sought only once the first has passed, which
        // for a healthy project it has not.
        if spec.interval.every == nil, let first = spec.interval.nextRun(after: since, seed: ""), first >= now {
            return false
        }
        return staleAt(spec.interval, since: since).map { now > $0 } ?? false
    }
}

/// The HTML of the master's status pages.
public enum StatusPage {
    /// How often a page reloads itself, in seconds.
    public static let refreshSeconds = 30
    /// How many runs the project page shows.
    public static let runsShown = 20
    /// The newest runs whose log's last lines the project page shows, and how many lines.
    public static let logTailsShown = 5
    public static let logTailLines = 15
    /// How many failed or stale projects the site page names at its top; the table marks every one.
    static let problemsNamed = 50

    // MARK: - GET /

    /// `GET /`: the site's hosts, then one row per project with the master's copy and one column per slave.
    public static func site(_ status: SiteStatus, states: [String: ProjectState], now: Date) -> String {
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
            rows.resultCell(project.lastRun, mark: mark)
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
        page.head(title: status.name, parent: "")
        page.raw("<header><h1>")
        page.text(status.name)
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
            page.raw("</th><td>slave</td><td")
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

    // MARK: - GET /projects/{name}

    /// `GET /projects/{name}`: the project's spec in brief, its copy on every host, and its last runs, newest first,
    /// each with its message and the tail of its output.
    public static func project(
        _ name: String, siteName: String, state: ProjectState, site project: SiteProject?,
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
        item("Next run") {
            $0.text(nextRunText(status.nextRunAt, activity: status.activity, suspended: spec.suspended, now: now))
        }
        item("Size") { $0.text(status.sizeBytes.map(SizeText.human) ?? "–") }
        page.raw("</dl>\n")

        page.raw(
            "<h2>Hosts</h2>\n<div class=\"scroll\"><table><thead><tr><th>Host</th><th class=\"n\">Rev</th><th>Behind</th>"
        )
        page.raw("<th>Result</th><th>Reported</th><th>Message</th></tr></thead><tbody>\n")
        page.raw(mark.bad ? "<tr class=\"bad\">" : "<tr>")
        page.raw("<th scope=\"row\">")
        page.text(siteName)
        if siteName != "master" { page.raw(" <span class=\"muted\">master</span>") }
        page.raw("</th><td class=\"n\">")
        page.text(String(status.revision))
        page.raw("</td><td>–</td>")
        page.resultCell(status.lastRun, mark: mark)
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

    /// The page for a project the master does not hold (404).
    public static func notFound(_ name: String, siteName: String) -> String {
        var page = HTMLWriter(capacity: 2048)
        page.head(title: "no project " + name, parent: "../", refresh: false)
        page.raw("<p><a href=\"../\">← ")
        page.text(siteName)
        page.raw("</a></p><h1>No project ")
        page.text(name)
        page.raw("</h1><p>The master holds no project of that name.</p>\n")
        page.footer()
        return page.out
    }

    // MARK: - Words

    static func rsyncdText(_ daemon: RsyncdStatus) -> String {
        var text = "rsync daemon " + daemon.state.rawValue
        if let address = daemon.address, let port = daemon.port { text += " on \(address):\(port)" }
        if daemon.state == .running { text += " · \(daemon.modules) module\(daemon.modules == 1 ? "" : "s")" }
        if daemon.restarts > 0 { text += " · \(daemon.restarts) restart\(daemon.restarts == 1 ? "" : "s")" }
        if let message = daemon.message, daemon.state != .running { text += ": " + message }
        return text
    }

    static func intervalText(_ interval: IntervalSpec) -> String {
        if let every = interval.every {
            return "every \(every)" + (interval.jitter.map { " (jitter \($0))" } ?? "")
        }
        if let cron = interval.cron { return "cron \(cron) \(interval.timezone ?? "UTC")" }
        return "–"
    }

    static func behindText(_ copy: SlaveCopy) -> String {
        "\(copy.behind) behind" + (copy.lagSeconds > 0 ? " · " + span(copy.lagSeconds) : "")
    }

    static func nextRunText(_ next: Date?, activity: ProjectStatus.Activity, suspended: Bool, now: Date) -> String {
        if suspended { return "suspended" }
        if activity == .running { return "syncing" }
        if activity == .queued { return "queued" }
        guard let next else { return "–" }
        let seconds = next.timeIntervalSince(now)
        return seconds <= 0 ? "due" : "in " + span(seconds)
    }

    /// A length of time in its two largest units: `45s`, `12m`, `3h 20m`, `2d 4h`.
    public static func span(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded(.down)))
        func two(_ big: Int, _ bigUnit: String, _ small: Int, _ smallUnit: String) -> String {
            small == 0 ? "\(big)\(bigUnit)" : "\(big)\(bigUnit) \(small)\(smallUnit)"
        }
        if s < 60 { return "\(s)s" }
        if s < 3_600 { return "\(s / 60)m" }
        if s < 86_400 { return two(s / 3_600, "h", s % 3_600 / 60, "m") }
        return two(s / 86_400, "d", s % 86_400 / 3_600, "h")
    }

    /// `2026-11-30 01:20:05 UTC` and its ISO 8601 form, by arithmetic: a formatter per date would cost more than
    /// the rest of a row.
    static func utc(_ date: Date) -> (text: String, iso: String) {
        let t = Int64(floor(date.timeIntervalSince1970))
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let dateText = "\(year)-\(two(month))-\(two(day))"
        let timeText = "\(two(secs / 3_600)):\(two(secs % 3_600 / 60)):\(two(secs % 60))"
        return (dateText + " " + timeText + " UTC", dateText + "T" + timeText + "Z")
    }
}

/// Why a project's row is red.
struct ProjectMark {
    /// Its last run failed.
    var failed: Bool
    /// No success for twice its interval (`Staleness`).
    var stale: Bool
    var suspended: Bool
    var activity: ProjectStatus.Activity
    /// Its runs keep failing with one cause.
    var stuck: FailureStreak?
    var bad: Bool { failed || stale }

    init(_ project: SiteProject?, state: ProjectState?, now: Date) {
        let status = state?.status
        failed = (project?.lastRun ?? status?.lastRun)?.result == .failed
        stale = state.map { Staleness.isStale($0.spec, $0.status, now: now) } ?? false
        suspended = state?.spec.suspended ?? false
        activity = project?.activity ?? status?.activity ?? .idle
        stuck = project?.stuck ?? status?.stuck
    }
}

/// How a slave's copy is shown: red when its last pull failed or it is behind and out of reach, amber when behind.
struct CopyMark {
    var bad: Bool
    var behind: Bool

    init(_ copy: SlaveCopy) {
        bad = copy.result == .failed || (copy.behind > 0 && !copy.reachable)
        behind = copy.behind > 0
    }

    var cellClass: String { bad ? "bad" : behind ? "warn" : "ok" }
    var rowClass: String { bad ? " class=\"bad\"" : behind ? " class=\"warn\"" : "" }
}

/// A page being written: raw markup, and text that is always escaped.
struct HTMLWriter {
    var out = ""

    init(capacity: Int) { out.reserveCapacity(capacity) }

    /// Markup written by this file, never data.
    mutating func raw(_ markup: String) { out += markup }
    /// Data: escaped.
    mutating func text(_ text: String) { HTMLEscape.append(text, to: &out) }

    mutating func time(_ date: Date) {
        let stamp = StatusPage.utc(date)
        raw("<time datetime=\"")
        raw(stamp.iso)
        raw("\">")
        text(stamp.text)
        raw("</time>")
    }

    /// `5m ago`, with the exact time on hover and in the markup.
    mutating func ago(_ date: Date?, now: Date) {
        guard let date else {
            raw("<span class=\"muted\">never</span>")
            return
        }
        let stamp = StatusPage.utc(date)
        raw("<time datetime=\"")
        raw(stamp.iso)
        raw("\" title=\"")
        raw(stamp.text)
        raw("\">")
        let seconds = now.timeIntervalSince(date)
        text(seconds < 1 ? "just now" : StatusPage.span(seconds) + " ago")
        raw("</time>")
    }

    mutating func agoCell(_ date: Date?, now: Date, bad: Bool = false) {
        raw(bad ? "<td class=\"bad\">" : "<td>")
        ago(date, now: now)
        raw("</td>")
    }

    mutating func resultCell(_ run: RunRecord?, mark: ProjectMark) {
        raw(mark.failed ? "<td class=\"bad\"" : "<td")
        if let message = run?.message, !message.isEmpty {
            raw(" title=\"")
            text(message)
            raw("\"")
        }
        raw(">")
        if let result = run?.result {
            text(result.rawValue)
            if let reason = run?.reason, result != .success {
                raw(" <small>")
                text(reason)
                raw("</small>")
            }
        } else {
            raw("<span class=\"muted\">none yet</span>")
        }
        if mark.stale { raw(" <span class=\"tag bad\">stale</span>") }
        if let stuck = mark.stuck {
            raw(" <span class=\"tag bad\" title=\"the last \(stuck.runs) runs failed with ")
            text(stuck.cause)
            raw("\">stuck: ")
            text(stuck.cause)
            raw("</span>")
        }
        if mark.activity == .running { raw(" <span class=\"tag run\">syncing</span>") }
        if mark.activity == .queued { raw(" <span class=\"tag run\">queued</span>") }
        raw("</td>")
    }

    mutating func nextRunCell(_ project: SiteProject, suspended: Bool, now: Date) {
        raw("<td>")
        text(StatusPage.nextRunText(project.nextRunAt, activity: project.activity, suspended: suspended, now: now))
        raw("</td>")
    }

    /// One slave's copy in the site's table: its revision, and how far behind it is.
    mutating func copyCell(_ copy: SlaveCopy, now: Date) {
        let mark = CopyMark(copy)
        raw("<td class=\"")
        raw(mark.cellClass)
        raw("\"")
        // The details on hover, for a copy that is not simply current: most of a large site's are, and a title on
        // each (with a success's message) would add a sixth to the page.
        let message = copy.message ?? ""
        if mark.bad || mark.behind || !copy.reachable || copy.result != .success {
            raw(" title=\"")
            text(copy.revision == 0 ? "serves no revision yet" : "serves revision \(copy.revision)")
            text(
                copy.reportedAt.map {
                    "; reported \(StatusPage.span(now.timeIntervalSince($0))) ago: \(copy.result?.rawValue ?? "")"
                } ?? "; no report yet")
            if !message.isEmpty { text(": " + message) }
            if !copy.reachable { text(" (unreachable)") }
            raw("\"")
        }
        raw(">")
        // Current: the revision it serves. Behind: how far, in revisions and in time (its revision is in the title).
        if copy.behind == 0 {
            text(copy.revision == 0 ? "–" : "✓ \(copy.revision)")
        } else {
            text(StatusPage.behindText(copy))
        }
        if copy.result == .failed { text(" · failed") }
        raw("</td>")
    }

    /// The counts at the top of the site's page, and the failed and stale projects by name.
    mutating func summary(failed: [String], stale: [String], behind: Int, unreachable: Int) {
        raw("<p class=\"summary\">")
        func count(_ n: Int, _ what: String, _ tone: String) {
            raw(n > 0 ? "<span class=\"tag \(tone)\">" : "<span class=\"tag ok\">")
            text("\(n) \(what)")
            raw("</span> ")
        }
        count(failed.count, "failed", "bad")
        count(stale.count, "stale", "bad")
        count(behind, behind == 1 ? "copy behind" : "copies behind", "warn")
        count(unreachable, unreachable == 1 ? "host unreachable" : "hosts unreachable", "bad")
        raw("</p>\n")
        var named = Set<String>()
        let problems = (failed + stale).filter { named.insert($0).inserted }.sorted()
        guard !problems.isEmpty else { return }
        raw("<p class=\"problems\">Needs a look: ")
        for (index, name) in problems.prefix(StatusPage.problemsNamed).enumerated() {
            if index > 0 { raw(", ") }
            raw("<a href=\"#p-")
            text(name)
            raw("\">")
            text(name)
            raw("</a>")
        }
        if problems.count > StatusPage.problemsNamed { text(" and \(problems.count - StatusPage.problemsNamed) more") }
        raw("</p>\n")
    }

    /// One run on the project's page.
    mutating func run(_ run: RunRecord, project: String, logTail tail: [String]?, showsLog: Bool, now: Date) {
        let bad = run.result == .failed
        raw(bad ? "<article class=\"run bad\" id=\"run-" : "<article class=\"run\" id=\"run-")
        text(String(run.id))
        raw("\"><h3>#")
        text(String(run.id))
        text(" · ")
        text(run.result?.rawValue ?? run.state.rawValue)
        text(" · " + run.trigger.rawValue)
        if let reason = run.reason {
            raw(" <small>")
            text(reason)
            raw("</small>")
        }
        raw("</h3>\n<p>")
        if let started = run.startedAt {
            text("started ")
            ago(started, now: now)
            if let ended = run.endedAt { text(", took " + duration(ended.timeIntervalSince(started))) }
        } else {
            text("queued ")
            ago(run.queuedAt, now: now)
        }
        if run.attempts > 1 { text(" · \(run.attempts) attempts") }
        if let code = run.exitCode { text(" · exit \(code)") }
        if let revision = run.revision { text(" · revision \(revision)") }
        raw("</p>\n")
        var counts: [String] = []
        if let files = run.filesTransferred {
            counts.append(
                "\(files) file\(files == 1 ? "" : "s") transferred" + (run.filesTotal.map { " of \($0)" } ?? ""))
        }
        if let bytes = run.bytesTransferred { counts.append(SizeText.human(bytes) + " bytes transferred") }
        if let deleted = run.filesDeleted, deleted > 0 { counts.append("\(deleted) deleted") }
        if let total = run.bytesTotal { counts.append("tree " + SizeText.human(total)) }
        if !counts.isEmpty {
            raw("<p>")
            text(counts.joined(separator: " · "))
            raw("</p>\n")
        }
        if let message = run.message, !message.isEmpty {
            raw("<p class=\"msg\">")
            text(message)
            raw("</p>\n")
        }
        if showsLog { logTail(run, project: project, lines: tail) }
        if let hook = run.hook {
            raw("<p class=\"muted\">")
            text("hook \(hook.event): ")
            text(hook.timedOut ? "timed out" : hook.error ?? hook.exitCode.map { "exit \($0)" } ?? "killed")
            text(" in " + duration(hook.seconds))
            raw("</p>\n")
        }
        raw("</article>\n")
    }

    /// The last lines of the run's log (`logTails`, read by the agent from its log file), else the last lines of
    /// rsync's standard error that the run record keeps; and a link to the whole log.
    mutating func logTail(_ run: RunRecord, project: String, lines: [String]?) {
        raw("<div class=\"log\"><a href=\"../v1/projects/")
        text(project)
        raw("/runs/")
        text(String(run.id))
        raw("/log\">log</a>")
        let shown = lines ?? run.stderrTail
        if !shown.isEmpty {
            raw("<pre>")
            text(shown.joined(separator: "\n"))
            raw("</pre>")
        }
        raw("</div>\n")
    }

    func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1f s", max(0, seconds)) : StatusPage.span(seconds)
    }

    /// The document's start: the viewport for phones, the reload, the style.
    mutating func head(title: String, parent: String, refresh: Bool = true) {
        raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        if refresh { raw("<meta http-equiv=\"refresh\" content=\"\(StatusPage.refreshSeconds)\">") }
        raw("<title>")
        text(title)
        raw(" · mirrorsync</title>\n<style>\n")
        raw(Self.style)
        raw("</style></head>\n<body>\n")
    }

    mutating func footer() {
        raw(
            "<footer class=\"muted\">mirrorsync · red: the last run failed, or no success for twice the interval (stale); "
        )
        raw("amber: a slave behind the master</footer>\n</body></html>\n")
    }

    static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:8px 14px 24px;max-width:1500px;color:#1d1d1f}
        h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.3em 0 .4em}h3{font-size:1em;margin:0 0 .3em}
        a{color:#0b57d0;text-decoration:none}a:hover{text-decoration:underline}
        .scroll{overflow-x:auto;border:1px solid #e3e3e3;border-radius:6px}
        table{border-collapse:collapse;width:100%}th,td{padding:5px 9px;text-align:left;white-space:nowrap;border-bottom:1px solid #ececec}
        thead th{background:#f5f5f7;font-weight:600}tbody th{position:sticky;left:0;background:#fff;font-weight:600}
        .n{text-align:right;font-variant-numeric:tabular-nums}td.msg{white-space:normal;min-width:16em}
        .bad,tr.bad th{color:#a50e0e;background:#fce8e6}.warn,tr.warn th{color:#7a4a00;background:#fef3d6}.ok{color:#137333}
        .muted,.na{color:#80868b}small{color:inherit;opacity:.8}
        .tag{display:inline-block;padding:0 7px;border-radius:9px;font-size:.85em;background:#eef0f2;color:#3c4043}
        .tag.bad{background:#d93025;color:#fff}.tag.warn{background:#f9ab00;color:#202124}.tag.ok{background:#e6f4ea;color:#137333}
        .tag.run{background:#d2e3fc;color:#174ea6}.summary .tag{font-size:1em;margin:2px 0}
        dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:.6em 0}dt{color:#5f6368}dd{margin:0;overflow-wrap:anywhere}
        .run{border:1px solid #e3e3e3;border-radius:6px;padding:8px 11px;margin:8px 0}.run p{margin:.25em 0}
        .run.bad{border-color:#f4b4ae}.msg{overflow-wrap:anywhere}
        pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f5f5f7;padding:7px;border-radius:4px;max-height:18em;overflow:auto;margin:.3em 0}
        footer{margin-top:2em;font-size:.85em}

        """
}
