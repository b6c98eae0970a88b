import Foundation
import MirrorCore
import Testing
@testable import MirrorPresentation

@Suite("Notifications' text: the webhook's body, the mail's headers")
struct NotificationTextTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func event(_ subject: String, detail: String? = nil, resolved: Bool = false) -> NotifyEvent {
        NotifyEvent(
            condition: NotifyCondition(kind: .projectFailing, subject: subject, since: now, detail: detail, run: 9),
            resolved: resolved, at: now)
    }

    @Test(
        "no CR, LF or other control character from a site, project or reason reaches a header; other text is RFC 2047")
    func headersStayHeaders() throws {
        let hostile = "EX\r\nBcc: all@example.org"
        let mail = NotificationText.mail(
            site: hostile, from: "m@example.org", to: ["a@example.org"], delivery: "mail:ops/1-1\nX: y",
            events: [event("debian\r\nBcc: x@example.org", detail: "rsync-exit-10\nCc: y@example.org")], date: now)
        let text = String(decoding: mail, as: UTF8.self)
        let headers = text.components(separatedBy: "\n\n")[0].split(separator: "\n")
        #expect(headers.allSatisfy { !$0.lowercased().hasPrefix("bcc") && !$0.lowercased().hasPrefix("cc") })
        #expect(
            headers.map { $0.split(separator: ":")[0] } == [
                "From", "To", "Subject", "Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
                "Auto-Submitted", "X-Mirrorsync-Delivery",
            ])
        #expect(!text.contains("\r"))
        let subject = NotificationText.headerValue("Miroir de Montréal: échec", limit: 200)
        #expect(subject.hasPrefix("=?UTF-8?B?") && subject.unicodeScalars.allSatisfy(\.isASCII))
        #expect(NotificationText.headerValue(String(repeating: "x", count: 500), limit: 200).count == 200)
    }

    @Test("the webhook's body names the failure's class and reason, never its message; its signature is HMAC-SHA256")
    func body() throws {
        let body = NotificationText.webhookBody(
            site: "EX", delivery: "webhook:ops/3-3", events: [event("debian", detail: "rsync-exit-10")], sentAt: now)
        let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let events = try #require(object["events"] as? [[String: Any]])
        #expect(events.first?["summary"] as? String == "project debian is failing: upstream unreachable")
        #expect(events.first?["reason"] as? String == "rsync-exit-10")
        #expect(object["delivery"] as? String == "webhook:ops/3-3")
        #expect(
            NotificationText.signature(body, secret: "k")
                == "sha256=" + SHA256.hex(SHA256.hmac(key: Array("k".utf8), Array(body))))
    }
}
