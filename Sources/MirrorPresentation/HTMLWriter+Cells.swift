import Foundation
import MirrorCore

// The cells of the site's table and of a project's hosts, and the summary at the top of the site's page.

extension HTMLWriter {
    mutating func resultCell(_ run: RunRecord?, mark: ProjectMark, now: Date) {
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
        if mark.activity == .retrying { retryTag(mark.retry, now: now) }
        raw("</td>")
    }

    /// A run waiting to retry: the tag, and why on hover.
    mutating func retryTag(_ retry: RetryWait?, now: Date) {
        raw(" <span class=\"tag warn\"")
        if let retry {
            raw(" title=\"")
            text(StatusPage.retryText(retry, now: now) + (retry.message.map { ": " + $0 } ?? ""))
            raw("\"")
        }
        raw(">retrying</span>")
    }

    mutating func nextRunCell(_ project: SiteProject, suspended: Bool, now: Date) {
        raw("<td>")
        text(
            StatusPage.nextRunText(
                project.nextRunAt, activity: project.activity, retry: project.retry, suspended: suspended, now: now))
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
}
