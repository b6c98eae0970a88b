import Foundation
import MirrorCore
import Synchronization

/// The metrics an alerting system needs that are not kept as runs end but read off an agent's state when it is
/// scraped, in Prometheus's text format: so that they hold after a restart, and a project or slave that is gone
/// leaves no series behind. The rules in `deploy/prometheus/mirrorsync-rules.yml` are written against them.
public enum AlertMetrics {
    /// Every metric `render` may write, with its help text: what the rules file may name besides the registry's.
    public static let help: [(name: String, help: String)] = [
        ("mirrorsync_last_success_timestamp_seconds", "When the project's last successful run ended (Unix time)."),
        ("mirrorsync_project_added_timestamp_seconds", "When the agent was first given the project (Unix time)."),
        (
            "mirrorsync_project_interval_seconds",
            "The longest time between two scheduled runs of the project; not written for a suspended project."
        ),
        (
            "mirrorsync_project_stuck_runs",
            "How many runs of the project in a row failed with the cause in its label; written once they are 3 or more (stuck: retrying will not mend it)."
        ),
        ("mirrorsync_slave_up", "Master: 1 when the slave answered its health check, else 0."),
        ("mirrorsync_slave_behind_revisions", "Master: how many revisions of the project the slave lacks."),
        (
            "mirrorsync_slave_lag_seconds",
            "Master: how long since the master made the first revision of the project the slave lacks; 0 when it lacks none."
        ),
        (
            "mirrorsync_rsyncd_up",
            "Master: 1 when its rsync daemon runs, else 0; not written before the settings name one."
        ),
    ]

    /// The text for an agent's projects and, on the master, for its site.
    public static func render(projects: [String: ProjectState], site: SiteStatus?) -> String {
        var out = Text()
        let names = projects.keys.sorted()
        out.family(
            "mirrorsync_last_success_timestamp_seconds",
            names.compactMap { name in
                projects[name]!.status.lastSuccessAt.map { ([("project", name)], $0.timeIntervalSince1970) }
            })
        out.family(
            "mirrorsync_project_added_timestamp_seconds",
            names.compactMap { name in
                projects[name]!.status.addedAt.map { ([("project", name)], $0.timeIntervalSince1970) }
            })
        out.family(
            "mirrorsync_project_interval_seconds",
            names.compactMap { name in
                let spec = projects[name]!.spec
                return spec.suspended ? nil : period(of: spec.interval).map { ([("project", name)], $0) }
            })
        out.family(
            "mirrorsync_project_stuck_runs",
            names.compactMap { name in
                projects[name]!.status.stuck.map { ([("project", name), ("cause", $0.cause)], Double($0.runs)) }
            })
        guard let site else { return out.text }
        out.family("mirrorsync_slave_up", site.slaves.map { ([("slave", $0.name)], $0.reachable ? 1 : 0) })
        var behind: [Sample] = []
        var lag: [Sample] = []
        for name in site.projects.keys.sorted() {
            let copies = site.projects[name]!.slaves
            for slave in copies.keys.sorted() {
                let labels = [("slave", slave), ("project", name)]
                behind.append((labels, Double(copies[slave]!.behind)))
                lag.append((labels, copies[slave]!.lagSeconds))
            }
        }
        out.family("mirrorsync_slave_behind_revisions", behind)
        out.family("mirrorsync_slave_lag_seconds", lag)
        if site.rsyncd.state != .disabled {
            out.family("mirrorsync_rsyncd_up", [([], site.rsyncd.state == .running ? 1 : 0)])
        }
        return out.text
    }

    /// The longest time between two scheduled runs: `every` and all of its jitter, or the longest gap between the next
    /// firings of a cron expression (over a year from a fixed Monday, or its first 400 firings), so that a weekday-only
    /// schedule is judged by its weekend. A cron schedule's answer is kept: it depends on the schedule alone.
    public static func period(of interval: IntervalSpec) -> Double? {
        if let every = interval.every { return Double(every.seconds + (interval.jitter?.seconds ?? 0)) }
        guard let cron = interval.cron else { return nil }
        if let known = cronPeriods.withLock({ $0[interval] }) { return known }
        let zone = TimeZone(identifier: interval.timezone ?? "UTC") ?? TimeZone(identifier: "UTC")!
        let start = Date(timeIntervalSince1970: 1_767_571_200)  // Monday 2026-01-05 00:00 UTC
        var longest: Double?
        var last = start
        for _ in 0..<400 {
            guard let next = cron.next(after: last, in: zone) else { break }
            if last > start { longest = max(longest ?? 0, next.timeIntervalSince(last)) }
            last = next
            if last.timeIntervalSince(start) > 366 * 86_400 { break }
        }
        cronPeriods.withLock { $0[interval] = longest }
        return longest
    }

    private static let cronPeriods = Mutex<[IntervalSpec: Double?]>([:])

    typealias Sample = (labels: [(String, String)], value: Double)

    /// Prometheus's text format, one family at a time; a family with no samples is left out whole.
    struct Text {
        var text = ""

        mutating func family(_ name: String, _ samples: [Sample]) {
            guard !samples.isEmpty else { return }
            let help = AlertMetrics.help.first { $0.name == name }?.help ?? ""
            text += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (labels, value) in samples {
                text += name
                if !labels.isEmpty {
                    text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
                }
                text += " " + Self.number(value) + "\n"
            }
        }

        /// Label values as the format wants them: backslash, quote and newline escaped. Names (of projects, slaves)
        /// have none, and are returned as they are: Foundation's `replacingOccurrences`, three per value, was most of
        /// a scrape's time at 1,000 projects on two slaves.
        static func escape(_ value: String) -> String {
            guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 10 })
            else { return value }
            var out = ""
            for character in value.unicodeScalars {
                switch character {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(character)
                }
            }
            return out
        }

        /// Whole numbers without a fraction or an exponent (a Unix time stays exact); others as Swift writes them.
        static func number(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        }
    }
}
