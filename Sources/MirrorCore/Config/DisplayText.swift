import Foundation

/// Words shown to people as they are written: a site's name or note, a project's `desc` or `cname`. Any text of
/// 1 to 1024 characters (Unicode scalars) on one line, without control characters.
public enum DisplayText {
    public static let pattern = "^[^\\x00-\\x1f\\x7f]{1,1024}$"
    public static let maxLength = 1024

    public static func check(_ text: String) throws(ValueError) -> String {
        guard !text.isEmpty else { throw ValueError("the text may not be empty; leave the key out instead") }
        guard text.unicodeScalars.count <= maxLength else {
            throw ValueError("the text is longer than \(maxLength) characters")
        }
        if let bad = text.utf8.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw ValueError("the text holds \(MirrorPath.describe(byte: bad)); write it on one line")
        }
        return text
    }
}
