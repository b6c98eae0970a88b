import Foundation
import MirrorCore

// What a request without the token sees where `publicStatus` is true: what a mirror's users need (state, times,
// sizes, revisions, and a failure's class), and nothing of how the site is run. A run's message, rsync's standard
// error, a log's lines and a hook's argv and output can hold an upstream's user, a password file's path, a hook's
// secret argument or a host's paths: none of them is shown. The operator's views, with the token, are left whole.

/// The public form of the values the status, the status page and the mirror formats are built from.
public enum PublicView {
    /// A failed or warned run's class, from its stable `reason`: `upstream unreachable`, `deletion cap`, ... Never its
    /// message, which quotes rsync and the agent's own paths; a reason this does not know reads as `failed`.
    public static func failureClass(reason: String?, result: RunResult?) -> String? {
        guard let result, result != .success, result != .unchanged else { return nil }
        guard let reason else { return result.rawValue }
        switch reason {
        // 10: socket I/O; 12: the stream broke off; 30 and 35: timeouts of the data and of the daemon's answer.
        case "rsync-exit-10", "rsync-exit-12", "rsync-exit-30", "rsync-exit-35": return "upstream unreachable"
        // 5: the daemon refused the session: an unknown module, or a login it did not take.
        case "rsync-exit-5", "credential-refused": return "upstream refused the login"
        case "credential", "password-file": return "credential unavailable"
        case "deletion-cap": return "deletion cap"
        case "empty-upstream": return "upstream empty"
        case "vanished-files": return "files vanished on the upstream"
        case "timeout": return "timed out"
        case "no-space": return "disk full"
        case "forbidden-path": return "refused by the agent's bounds"
        case "destination", "publish": return "local file error"
        case "spawn", "signal": return "rsync did not finish"
        case "cancelled": return "cancelled"
        case "agent-stopped": return "agent stopped"
        default:
            if reason.hasPrefix("rsync-exit-"), let code = Int(reason.dropFirst("rsync-exit-".count)) {
                return "rsync error \(code)"
            }
            return result.rawValue
        }
    }

    /// A run as the public sees it: its counts, times, result and revision; its message is its failure's class, and
    /// rsync's standard error and its hook are left out.
    public static func run(_ run: RunRecord) -> RunRecord {
        var shown = run
        shown.message = failureClass(reason: run.reason, result: run.result)
        shown.stderrTail = []
        shown.hook = nil
        return shown
    }

    public static func run(_ run: RunRecord?) -> RunRecord? { run.map { Self.run($0) } }

    /// A wait to retry as the public sees it: when, and the failed attempt's class, not its message.
    public static func retry(_ retry: RetryWait?) -> RetryWait? {
        retry.map {
            var shown = $0
            shown.message = failureClass(reason: $0.reason, result: .failed)
            return shown
        }
    }

    /// A project's state with its last run as the public sees it; its spec is the master's to show (`ShownUpstream`).
    public static func state(_ state: ProjectState) -> ProjectState {
        var shown = state
        shown.status.lastRun = run(state.status.lastRun)
        shown.status.retry = retry(state.status.retry)
        return shown
    }

    /// The site's status as the public sees it: no message of a run, a copy, the rsync daemon or a slave's probe.
    public static func status(_ status: SiteStatus) -> SiteStatus {
        var shown = status
        shown.rsyncd.message = nil
        shown.rsyncd.pid = nil
        shown.slaves = status.slaves.map {
            var slave = $0
            slave.error = nil
            return slave
        }
        shown.projects = status.projects.mapValues { project in
            var project = project
            project.lastRun = run(project.lastRun)
            project.retry = retry(project.retry)
            project.slaves = project.slaves.mapValues { copy in
                var copy = copy
                copy.message = failureClass(reason: copy.reason, result: copy.result)
                return copy
            }
            return project
        }
        return shown
    }

    /// A slave's own projects in the form of the master's status (`GET /v1/status` without the token on a slave,
    /// whose state holds every spec whole): as the public sees it.
    public static func status(of name: String, role: AgentRole, projects: [String: ProjectState], now: Date)
        -> SiteStatus
    {
        status(
            SiteStatus(
                role: role, name: name, generatedAt: now, rsyncd: RsyncdStatus(state: .disabled), slaves: [],
                projects: projects.mapValues { state in
                    SiteProject(
                        revision: state.status.revision, activity: state.status.activity, lastRun: state.status.lastRun,
                        lastSuccessAt: state.status.lastSuccessAt, nextRunAt: state.status.nextRunAt, slaves: [:],
                        sizeBytes: state.status.sizeBytes, retry: state.status.retry)
                }))
    }
}
