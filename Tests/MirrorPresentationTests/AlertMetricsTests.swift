import Foundation
import MirrorCore
@testable import MirrorPresentation
import Testing

@Suite("The alert metrics' text (pure)")
struct AlertMetricsTests {
    static func project(_ interval: IntervalSpec, suspended: Bool = false, success: Date? = nil, added: Date? = nil)
        -> ProjectState
    {
        var spec = AgentProjectSpec(upstream: UpstreamSpec(url: .local(path: "/srv/up")), path: "x", interval: interval)
        spec.suspended = suspended
        return ProjectState(
            spec: spec, generation: "g",
            status: ProjectStatus(activity: .idle, revision: 1, lastSuccessAt: success, addedAt: added))
    }

    @Test("each project's last success, when it was added and its interval; a suspended project has no interval")
    func projects() throws {
        let text = AlertMetrics.render(
            projects: [
                "debian": Self.project(
                    .every(TimeSpan(seconds: 3600), jitter: TimeSpan(seconds: 600)),
                    success: Date(timeIntervalSince1970: 1_764_460_800.5),
                    added: Date(timeIntervalSince1970: 1_764_000_000)),
                "old": Self.project(.every(TimeSpan(seconds: 60)), suspended: true),
            ], site: nil)
        #expect(
            text == """
                # HELP mirrorsync_last_success_timestamp_seconds When the project's last successful run ended (Unix time).
                # TYPE mirrorsync_last_success_timestamp_seconds gauge
                mirrorsync_last_success_timestamp_seconds{project="debian"} 1764460800.5
                # HELP mirrorsync_project_added_timestamp_seconds When the agent was first given the project (Unix time).
                # TYPE mirrorsync_project_added_timestamp_seconds gauge
                mirrorsync_project_added_timestamp_seconds{project="debian"} 1764000000
                # HELP mirrorsync_project_interval_seconds The longest time between two scheduled runs of the project; not written for a suspended project.
                # TYPE mirrorsync_project_interval_seconds gauge
                mirrorsync_project_interval_seconds{project="debian"} 4200

                """)
    }

    @Test("a cron schedule's interval is its longest gap: a weekday schedule is judged by its weekend")
    func cronPeriod() throws {
        #expect(AlertMetrics.period(of: .cron(try CronExpression.parse("0 3 * * 1-5"))) == 3 * 86_400)
        #expect(AlertMetrics.period(of: .cron(try CronExpression.parse("*/15 * * * *"))) == 900)
        #expect(AlertMetrics.period(of: .cron(try CronExpression.parse("0 0 1 * *"))) == 31 * 86_400)
    }

    @Test(
        "on the master: each slave up or not, behind and lagging per project; the rsync daemon up unless it has no settings yet"
    )
    func site() throws {
        let copy = { (behind: Int, lag: Double) in
            SlaveCopy(
                revision: 3 - behind, result: .success, reportedAt: nil, message: nil, behind: behind, lagSeconds: lag,
                reachable: true, lastSeenAt: nil)
        }
        let status = SiteStatus(
            name: "master", generatedAt: Date(), rsyncd: RsyncdStatus(state: .failed, message: "address in use"),
            slaves: [
                SlaveHealth(name: "ftp1", api: "http://a", reachable: true, lastSeenAt: nil),
                SlaveHealth(name: "ftp2", api: "http://b", reachable: false, lastSeenAt: nil, error: "refused"),
            ],
            projects: [
                "debian": SiteProject(
                    revision: 3, activity: .idle, lastRun: nil, lastSuccessAt: nil, nextRunAt: nil,
                    slaves: ["ftp2": copy(2, 4000.25), "ftp1": copy(0, 0)])
            ])
        let text = AlertMetrics.render(projects: [:], site: status)
        for line in [
            #"mirrorsync_slave_up{slave="ftp1"} 1"#, #"mirrorsync_slave_up{slave="ftp2"} 0"#,
            #"mirrorsync_slave_behind_revisions{slave="ftp1",project="debian"} 0"#,
            #"mirrorsync_slave_behind_revisions{slave="ftp2",project="debian"} 2"#,
            #"mirrorsync_slave_lag_seconds{slave="ftp2",project="debian"} 4000.25"#, "mirrorsync_rsyncd_up 0",
            "# TYPE mirrorsync_slave_lag_seconds gauge",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "\(line) in\n\(text)")
        }
        var disabled = status
        disabled.rsyncd = RsyncdStatus(state: .disabled)
        #expect(!AlertMetrics.render(projects: [:], site: disabled).contains("mirrorsync_rsyncd_up"))
    }

    @Test("label values: backslash, quote and newline escaped as the text format wants; names without them as they are")
    func labelEscaping() {
        #expect(AlertMetrics.Text.escape("debian-security") == "debian-security")
        #expect(AlertMetrics.Text.escape("a\\b\"c\nd é") == "a\\\\b\\\"c\\nd é")
        #expect(AlertMetrics.Text.escape("") == "")
    }
}
