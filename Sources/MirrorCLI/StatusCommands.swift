import ArgumentParser
import Foundation
import MirrorCore
import MirrorReconciler

/// One row of `mirrorsync status`.
struct StatusRow: Codable, Sendable {
    var agent: String
    var role: AgentRole
    var project: String
    var revision: Int
    /// On a slave: revisions behind the master's (nil when the master did not answer).
    var behind: Int?
    var activity: ProjectStatus.Activity
    var lastResult: RunResult?
    var lastRunEndedAt: Date?
    var lastSuccessAt: Date?
    /// Seconds since the last success.
    var age: Int?
    var nextRunAt: Date?
    /// The tree's size in bytes after the last success.
    var sizeBytes: Int64?
    /// No success for more than twice the project's interval (`Staleness`, the status page's rule too).
    var stale: Bool
    var failed: Bool
    /// Its runs keep failing with one cause (`FailureStreak`).
    var stuck: FailureStreak?
    /// A slave in a tier: the hops it pulls through, the master first.
    var chain: [String]? = nil
    /// While its run waits to retry (activity `retrying`): when the next attempt starts, and why the last failed.
    var retry: RetryWait?
}

struct StatusReport: Codable, Sendable {
    var formatVersion = 1
    var rows: [StatusRow]
    var unreachable: [String: String]
    /// The agents that accept one token shared by every role.
    var sharedToken: [String] = []
}

/// `mirrorsync status [DIR]`: every project on every host.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every project on every host: revision, last sync, result, age, size, next run.",
        discussion: """
            Rows marked ! failed their last run (RESULT says "stuck" and the cause once three runs in a row failed \
            with one cause); rows marked ~ are stale; a slave's REV says how many revisions it is behind the master's. Exit status: 0, or 1 when an agent does not answer.
            """
    )

    @OptionGroup var agents: AgentsOptions

    func validate() throws { try agents.refuseMarkdown("status") }

    func run() async throws {
        let state = try agents.load()
        let desired = DesiredAgent.all(from: state)
        let reconciler = Reconciler(
            clients: try agents.clients(state, desired), logger: commandLogger("mirrorsync.status", level: .critical))
        let observed = await reconciler.observe(desired)
        let report = Self.report(desired: desired, observed: observed, now: Date())
        if agents.output == .json {
            agents.printJSON(report)
        } else {
            Terminal.write(Self.table(report, now: Date()), to: .standardOutput)
        }
        if let warning = Self.sharedTokenWarning(report.sharedToken) { Terminal.write(warning, to: .standardError) }
        if !report.unreachable.isEmpty { throw ExitCode(1) }
    }

    static func report(desired: [DesiredAgent], observed: [String: Planner.Observation], now: Date) -> StatusReport {
        var rows: [StatusRow] = []
        var unreachable: [String: String] = [:]
        var shared: [String] = []
        let masterState: AgentState? = desired.first { $0.role == .master }.flatMap { master in
            if case .state(let state)? = observed[master.name] { state } else { nil }
        }
        for agent in desired {
            guard case .state(let state)? = observed[agent.name] else {
                if case .unreachable(let why)? = observed[agent.name] { unreachable[agent.label] = why }
                continue
            }
            if state.sharedToken == true { shared.append(agent.label) }
            for name in state.projects.keys.sorted() {
                let project = state.projects[name]!
                let status = project.status
                let age = status.lastSuccessAt.map { Int(now.timeIntervalSince($0)) }
                let stale = Staleness.isStale(project.spec, status, now: now)
                let behind =
                    agent.role == .slave
                    ? masterState?.projects[name].map { max(0, $0.status.revision - status.revision) } : nil
                rows.append(
                    StatusRow(
                        agent: agent.label, role: agent.role, project: name, revision: status.revision, behind: behind,
                        activity: status.activity,
                        lastResult: status.lastRun?.result, lastRunEndedAt: status.lastRun?.endedAt,
                        lastSuccessAt: status.lastSuccessAt, age: age, nextRunAt: status.nextRunAt,
                        sizeBytes: status.sizeBytes, stale: stale,
                        failed: status.lastRun?.result == .failed, stuck: status.stuck,
                        chain: agent.settings.chain.isEmpty ? nil : agent.settings.chain, retry: status.retry))
            }
        }
        return StatusReport(rows: rows, unreachable: unreachable, sharedToken: shared)
    }

    /// What to do about agents that still accept one shared token.
    static func sharedTokenWarning(_ agents: [String]) -> String? {
        guard !agents.isEmpty else { return nil }
        return
            "warning: \(agents.joined(separator: ", ")) accept\(agents.count == 1 ? "s" : "") one token shared by every role, so whoever "
            + "holds any host's token may change every agent: give each agent its own credential and an accept file "
            + "('mirrorsync credential', docs/security.md)\n"
    }

    static func table(_ report: StatusReport, now: Date) -> String {
        func span(_ seconds: Int?) -> String {
            guard let seconds else { return "-" }
            if seconds < 60 { return "\(max(0, seconds))s" }
            return TimeSpan(seconds: seconds / 60 * 60).description
        }
        func time(_ date: Date?) -> String {
            guard let date else { return "-" }
            return String(APICoding.formatDate(date).prefix(16)).replacingOccurrences(of: "T", with: " ") + "Z"
        }
        let header = ["", "HOST", "PROJECT", "REV", "STATE", "LAST SYNC", "RESULT", "AGE", "SIZE", "NEXT RUN"]
        var rows = [header]
        for row in report.rows {
            let next =
                row.retry.map { "retry in " + span(Int($0.at.timeIntervalSince(now))) }
                ?? row.nextRunAt.map { "in " + span(Int($0.timeIntervalSince(now))) }
                ?? (row.activity == .idle ? "now" : "-")
            rows.append([
                row.failed ? "!" : row.stale ? "~" : "",
                row.agent + (row.chain.map { " (via \($0.dropFirst().joined(separator: ", ")))" } ?? ""), row.project,
                "\(row.revision)" + (row.behind.map { $0 > 0 ? " (\($0) behind)" : "" } ?? ""), row.activity.rawValue,
                time(row.lastRunEndedAt),
                (row.lastResult?.rawValue ?? "-") + (row.stuck.map { ", stuck: \($0.cause) x\($0.runs)" } ?? ""),
                span(row.age),
                row.sizeBytes.map(SizeText.human) ?? "-", next,
            ])
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        var out =
            rows.map { row in
                row.indices.map {
                    $0 == row.count - 1 ? row[$0] : row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0)
                }
                .joined(separator: "  ").trimmingTrailingSpaces()
            }.joined(separator: "\n") + "\n"
        for (agent, why) in report.unreachable.sorted(by: { $0.key < $1.key }) {
            out += "\(agent): unreachable: \(why)\n"
        }
        return out
    }
}
