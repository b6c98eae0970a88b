import Foundation

/// Paths inside the mirror: `path` under the master's root and each slave's publicDir, `source` inside an upstream.
///
/// Relative, normalized, without `..` or `.` or empty segments, and made only of characters that no shell,
/// rsync wildcard or `host:path` reading can misread.
public enum MirrorPath {
    public static let segmentCharacters = "A-Za-z0-9._+~@,=-"
    public static let pattern = "^(?!-)(?!.*(^|/)\\.\\.?(/|$))[A-Za-z0-9._+~@,=-]+(/[A-Za-z0-9._+~@,=-]+)*/?$"

    static func isSegmentByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            // No `%`: the master's rsync daemon expands `%VAR%` in a module's path.
            return "._+~@,=-".utf8.contains(b)
        }
    }

    /// Returns the path without a trailing slash.
    public static func normalize(_ path: String) throws(ValueError) -> String {
        let bytes = path.utf8
        guard let first = bytes.first else { throw ValueError("a path may not be empty") }
        if first == UInt8(ascii: "/") {
            throw ValueError("'\(path)' is absolute; write it relative, without the leading '/'")
        }
        if first == UInt8(ascii: "-") {
            throw ValueError("'\(path)' starts with '-', which rsync would read as an option")
        }
        let trailingSlash = bytes.last == UInt8(ascii: "/")
        var segmentLength = 0
        var dots = 0
        func endSegment() throws(ValueError) {
            if segmentLength == 0 { throw ValueError("'\(path)' has an empty segment ('//')") }
            if dots == segmentLength && dots == 2 {
                throw ValueError("'\(path)' has a '..' segment, which would leave the mirror's tree")
            }
            if dots == segmentLength && dots == 1 {
                throw ValueError("'\(path)' has a '.' segment; write the path without it")
            }
            segmentLength = 0
            dots = 0
        }
        for b in bytes.prefix(bytes.count - (trailingSlash ? 1 : 0)) {
            if b == UInt8(ascii: "/") {
                try endSegment()
                continue
            }
            guard isSegmentByte(b) else {
                throw ValueError(
                    "'\(path)' holds \(describe(byte: b)); paths may use only letters, digits and \(segmentCharacters.dropFirst(9))"
                )
            }
            segmentLength += 1
            if b == UInt8(ascii: ".") { dots += 1 }
        }
        try endSegment()
        return trailingSlash ? String(path.utf8.dropLast())! : path
    }

    static func describe(byte: UInt8) -> String {
        switch byte {
        case 0: return "a NUL byte"
        case 0x0A: return "a newline"
        case 0x09: return "a tab"
        case 0x20: return "a space"
        case 0..<0x20, 0x7F: return "a control character"
        case 0x80...: return "a non-ASCII character"
        default: return "'\(Character(Unicode.Scalar(byte)))'"
        }
    }
}
