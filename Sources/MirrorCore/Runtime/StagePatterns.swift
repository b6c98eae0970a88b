#if canImport(Glibc)
    import Glibc
#endif

/// Which paths a project's `twoStage` patterns name, as rsync's `--exclude` of the first pass reads them: a pattern
/// with no slash matches a name at any depth, one with a slash inside (or `**`) the end of the path from a name's
/// start, one that starts with a slash the path from the top; a trailing slash matches directories only; a directory
/// that matches takes everything below it.
public struct StagePatterns: Sendable, Hashable {
    struct Pattern: Sendable, Hashable {
        var glob: [CChar]
        var directoryOnly: Bool
        var anchored: Bool
        var wholePath: Bool
        /// `**` crosses slashes; `*` does not.
        var crossesSlashes: Bool
    }

    let patterns: [Pattern]

    public init(_ texts: [String]) {
        patterns = texts.compactMap { text -> Pattern? in
            var body = Substring(text)
            let directoryOnly = body.hasSuffix("/")
            while body.hasSuffix("/") { body = body.dropLast() }
            let anchored = body.hasPrefix("/")
            while body.hasPrefix("/") { body = body.dropFirst() }
            guard !body.isEmpty else { return nil }
            return Pattern(
                glob: Array(String(body).utf8CString), directoryOnly: directoryOnly, anchored: anchored,
                wholePath: anchored || body.contains("/") || body.contains("**"), crossesSlashes: body.contains("**"))
        }
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Whether `path` (below the top; `isDirectory`: what it is) or one of its parent directories matches.
    public func matches(_ path: [UInt8], isDirectory: Bool) -> Bool {
        guard !patterns.isEmpty, !path.isEmpty else { return false }
        let names = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        for end in 1...names.count {
            let directory = end < names.count || isDirectory
            for pattern in patterns where directory || !pattern.directoryOnly {
                if pattern.wholePath {
                    let starts = pattern.anchored ? 0..<1 : 0..<end
                    for start in starts {
                        let candidate = Array(names[start..<end].joined(separator: [UInt8(ascii: "/")]))
                        if Self.match(pattern, candidate) { return true }
                    }
                } else if Self.match(pattern, Array(names[end - 1])) {
                    return true
                }
            }
        }
        return false
    }

    static func match(_ pattern: Pattern, _ name: [UInt8]) -> Bool {
        let text = name.map { CChar(bitPattern: $0) } + [0]
        return fnmatch(pattern.glob, text, pattern.crossesSlashes ? 0 : FNM_PATHNAME) == 0
    }
}
