import Foundation
import MirrorCore

// A run on the project's page: what it did, its message, the last lines of its log, its hook.

extension HTMLWriter {
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
        if let bytes = run.bytesTransferred { counts.append(SizeText.human(bytes) + " transferred") }
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
}
