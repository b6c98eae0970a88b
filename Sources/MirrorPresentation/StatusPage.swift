import Foundation
import MirrorCore

// The master's status page: `GET /` (every project on every host) and `GET /projects/{name}` (one project, its
// hosts and its last runs), rendered on the server from what `GET /v1/status` gathers and the scheduler's project
// states. Pure functions of those values, so that every mark is checked without a server. No JavaScript: a few
// lines of CSS, and `<meta http-equiv=refresh>` to stay current. The work is one pass over projects × slaves, and
// the sort of the project names.

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

    /// The site's name as its pages head it: mirrors.d's `site:` (its `name`, else its `abbr`), else the master's name.
    public static func title(site: SiteSpec?, master: String) -> String { site.map { $0.name ?? $0.abbr } ?? master }

    static func nextRunText(
        _ next: Date?, activity: ProjectStatus.Activity, retry: RetryWait?, suspended: Bool, now: Date
    )
        -> String
    {
        if suspended { return "suspended" }
        if activity == .running { return "syncing" }
        if activity == .queued { return "queued" }
        if activity == .retrying, let at = retry?.at { return "retry " + dueText(at, now: now) }
        guard let next else { return "–" }
        return dueText(next, now: now)
    }

    /// `due`, or `in 3m`.
    static func dueText(_ date: Date, now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        return seconds <= 0 ? "due" : "in " + span(seconds)
    }

    /// Why a run waits, and until when: `attempt 1 failed (rsync-exit-10); the next in 45s`.
    static func retryText(_ retry: RetryWait, now: Date) -> String {
        "attempt \(retry.attempts) failed" + (retry.reason.map { " (\($0))" } ?? "") + "; the next "
            + (retry.at > now ? "in " + span(retry.at.timeIntervalSince(now)) : "is due")
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
