import Foundation

/// A link that a mirror list follows: a path on the site, starting with `/` (`/help/debian/`), or a whole
/// `http(s)://` URL, as mirrorz reads its `help`, `big` and `logo` fields. No spaces or control characters.
public enum WebLink {
    public static let pattern = "^(/(?!/)[!-~]{0,2047}|[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.\\[\\]:-]+(/[!-~]*)?)$"

    public static func check(_ text: String) throws(ValueError) -> String {
        let hint = "write a path on the site such as /help/debian/, or a whole URL such as https://example.org/help/"
        guard text.utf8.count <= 2048 else { throw ValueError("'\(text.prefix(40))...' is longer than 2048 bytes") }
        if let bad = text.utf8.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw ValueError("'\(text)' holds \(MirrorPath.describe(byte: bad)); \(hint)")
        }
        if text.hasPrefix("/") {
            guard !text.hasPrefix("//") else { throw ValueError("'\(text)' starts with '//'; \(hint)") }
            return text
        }
        let lower = text.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw ValueError("'\(text)' is neither a path nor a URL; \(hint)")
        }
        let rest = text.drop { $0 != ":" }.dropFirst(3)
        let host = rest.prefix { $0 != "/" }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".[]:-".contains($0)) })
        else {
            throw ValueError("'\(text)' has no valid host; \(hint)")
        }
        return text
    }
}
