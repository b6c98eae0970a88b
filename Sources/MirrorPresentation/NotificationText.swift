import Foundation
import MirrorCore

/// What a notification says: a webhook's JSON body and a mail for `sendmail -t`. Pure.
///
/// Like the public view, it names a failure by its class and stable reason (`upstream unreachable`, `rsync-exit-10`),
/// never by its message, rsync's output, a log, an argv or a path: those can hold an upstream's user, a password
/// file's path or a hook's secret argument, and a webhook's receiver or a mailbox is not the operator's view.
public enum NotificationText {
    /// One change in a few words: `project debian is failing: upstream unreachable`.
    public static func summary(_ event: NotifyEvent) -> String {
        let c = event.condition
        switch (c.kind, event.resolved) {
        case (.projectFailing, false):
            return "project \(c.subject) is failing: "
                + (PublicView.failureClass(reason: c.detail, result: .failed) ?? "failed")
        case (.projectFailing, true): return "project \(c.subject) recovered: its last run succeeded"
        case (.projectStale, false):
            return "project \(c.subject) is stale: "
                + (c.since.map { "no success since \(time($0))" } ?? "never synced")
        case (.projectStale, true): return "project \(c.subject) is fresh again"
        case (.slaveUnreachable, false):
            return "slave \(c.subject) is unreachable: " + (c.since.map { "last seen \(time($0))" } ?? "never seen")
        case (.slaveUnreachable, true): return "slave \(c.subject) answers again"
        case (.slaveBehind, false): return "slave \(c.subject) is behind on " + (c.detail ?? "some projects")
        case (.slaveBehind, true): return "slave \(c.subject) has caught up"
        }
    }

    /// A webhook's body: the site, the delivery's id (the same on each retry, for a receiver to drop a repeat), when
    /// it was sent, and the changes.
    public struct WebhookBody: Codable, Sendable, Hashable {
        public struct Event: Codable, Sendable, Hashable {
            public var kind: String
            /// `firing` as it begins, `resolved` as it ends.
            public var state: String
            public var severity: String
            public var project: String?
            public var slave: String?
            public var since: Date?
            public var at: Date
            public var reason: String?
            public var run: Int64?
            public var summary: String
        }
        public var site: String
        public var delivery: String
        public var sentAt: Date
        public var events: [Event]
    }

    public static func webhookBody(site: String, delivery: String, events: [NotifyEvent], sentAt: Date) -> Data {
        let body = WebhookBody(
            site: site, delivery: delivery, sentAt: sentAt,
            events: events.map { event in
                let c = event.condition
                return WebhookBody.Event(
                    kind: c.kind.rawValue, state: event.resolved ? "resolved" : "firing",
                    severity: c.severity.rawValue, project: c.project, slave: c.kind.isProject ? nil : c.subject,
                    since: c.since, at: event.at, reason: c.kind == .projectFailing ? c.detail : nil, run: c.run,
                    summary: summary(event))
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(body)) ?? Data("{}".utf8)
    }

    /// The signature header's value for `body` under `secret`: `sha256=HEX`.
    public static func signature(_ body: Data, secret: String) -> String {
        "sha256=" + SHA256.hex(SHA256.hmac(key: Array(secret.utf8), Array(body)))
    }

    /// A whole mail for `sendmail -t -oi`: headers, a blank line, the body. `to` and `from` are checked addresses
    /// (`MailAddress`); every other header value is made safe here (`headerValue`), so no project name, reason or site
    /// name can end a header or start another.
    public static func mail(
        site: String, from: String?, to: [String], delivery: String, events: [NotifyEvent], date: Date
    ) -> [UInt8] {
        let subject =
            events.count == 1
            ? summary(events[0])
            : "\(events.count) changes: " + events.map { summary($0) }.joined(separator: "; ")
        var headers: [(String, String)] = []
        if let from { headers.append(("From", from)) }
        headers += [
            ("To", to.joined(separator: ", ")),
            ("Subject", headerValue("[\(site)] " + subject, limit: 200)),
            ("Date", rfc5322(date)),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
            ("Auto-Submitted", "auto-generated"),
            ("X-Mirrorsync-Delivery", headerValue(delivery, limit: 200)),
        ]
        var lines = headers.map { "\($0.0): \($0.1)" }
        lines.append("")
        lines.append(
            "mirrorsync on \(oneLine(site)) saw \(events.count == 1 ? "a change" : "\(events.count) changes"):")
        lines.append("")
        for event in events {
            let c = event.condition
            lines.append("- " + oneLine(summary(event)))
            lines.append("  \(event.resolved ? "ended" : "began"): \(time(event.at)), severity \(c.severity.rawValue)")
            if let run = c.run, !event.resolved { lines.append("  run: \(run)") }
        }
        lines.append("")
        lines.append("Only changes are told; this trouble is told again when it ends.")
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    /// A header's value: on one line (control characters become spaces), at most `limit` characters, and ASCII (any
    /// other text as one RFC 2047 encoded word per chunk).
    public static func headerValue(_ text: String, limit: Int) -> String {
        var value = oneLine(text)
        if value.count > limit { value = String(value.prefix(limit - 3)) + "..." }
        guard value.unicodeScalars.contains(where: { !$0.isASCII }) else { return value }
        // Encoded words of at most 75 characters: 45 bytes of UTF-8 each, cut between characters.
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in value {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: " ")
    }

    /// `text` on one line: every control character (CR, LF, tab, NUL, DEL, the C1 range) a space.
    static func oneLine(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? " " : $0 }))
    }

    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    /// `Mon, 07 Dec 2026 16:10:51 +0000`.
    static func rfc5322(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return f.string(from: date)
    }
}
