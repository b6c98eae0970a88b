import Foundation

/// An absolute local path, such as a root directory or a secret's file.
public enum AbsolutePath {
    public static let pattern = "^(?!.*//)/(?!(.*/)?\\.\\.?(/|$))[^\\x00-\\x1f\\x7f]*$"

    /// Returns the path without its trailing slash (`/` stays `/`).
    public static func normalize(_ path: String) throws(ValueError) -> String {
        guard path.hasPrefix("/") else { throw ValueError("'\(path)' is not an absolute path; it must start with '/'") }
        if let bad = path.utf8.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw ValueError("'\(path)' holds \(MirrorPath.describe(byte: bad))")
        }
        guard path != "/" else { return path }
        let trimmed = path.hasSuffix("/") ? Substring(path.utf8.dropLast()) : Substring(path)
        for segment in trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment.isEmpty { throw ValueError("'\(path)' has an empty segment ('//')") }
            if segment == ".." || segment == "." {
                throw ValueError("'\(path)' has a '\(segment)' segment; write the path plainly")
            }
        }
        return String(trimmed)
    }
}
