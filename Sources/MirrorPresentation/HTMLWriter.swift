import Foundation
import MirrorCore

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
