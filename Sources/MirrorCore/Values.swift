import Foundation

/// Why a value was refused; the caller adds where.
public struct ValueError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Names of projects, upstreams, slaves and intervals: `^[a-z0-9][a-z0-9._-]{0,62}$`.
public enum ObjectName {
    public static let pattern = "^[a-z0-9][a-z0-9._-]{0,62}$"

    public static func validate(_ name: String) throws(ValueError) {
        let bytes = name.utf8
        guard let first = bytes.first else { throw ValueError("a name may not be empty") }
        guard bytes.count <= 63 else { throw ValueError("'\(name)' is longer than 63 characters") }
        func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard isLowerAlnum(first) else {
            throw ValueError("'\(name)' must start with a lowercase letter or a digit")
        }
        for b in bytes.dropFirst() where !(isLowerAlnum(b) || b == 0x2E || b == 0x5F || b == 0x2D) {
            throw ValueError("'\(name)' may hold only lowercase letters, digits, '.', '_' and '-'")
        }
    }
}

/// A length of time written as `90s`, `15m`, `1h30m` or `1d`; stored in whole seconds.
public struct TimeSpan: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public static let pattern = "^(?=.*[1-9])([0-9]{1,8}d)?([0-9]{1,8}h)?([0-9]{1,8}m)?([0-9]{1,8}s)?$"
    public var seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    public static func parse(_ text: String) throws(ValueError) -> TimeSpan {
        let hint = "write a duration such as 90s, 15m, 1h30m or 1d"
        var total = 0, digits = "", lastUnit = -1, sawUnit = false
        let units: [Character: (rank: Int, seconds: Int)] = ["d": (0, 86_400), "h": (1, 3_600), "m": (2, 60), "s": (3, 1)]
        for ch in text {
            if ch.isASCII && ch.isNumber {
                digits.append(ch)
            } else if let unit = units[ch] {
                guard !digits.isEmpty, digits.count <= 8, unit.rank > lastUnit, let n = Int(digits) else {
                    throw ValueError("'\(text)' is not a duration; \(hint)")
                }
                total += n * unit.seconds
                lastUnit = unit.rank
                digits = ""
                sawUnit = true
            } else {
                throw ValueError("'\(text)' is not a duration; \(hint)")
            }
        }
        guard digits.isEmpty, sawUnit else {
            if !digits.isEmpty && !sawUnit { throw ValueError("'\(text)' has no unit; \(hint)") }
            throw ValueError("'\(text)' is not a duration; \(hint)")
        }
        guard total > 0 else { throw ValueError("a duration must be longer than zero") }
        return TimeSpan(seconds: total)
    }

    /// The shortest spelling: `5400` seconds is `1h30m`.
    public var description: String {
        var rest = seconds, out = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out.isEmpty ? "0s" : out
    }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.seconds < b.seconds }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try TimeSpan.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A rate or size such as `500K`, `20MiB` or `1.5GB`; K, M and G (and KiB, MiB, GiB) are powers of 1024, KB, MB and GB of 1000.
public struct ByteSize: Sendable, Hashable, Codable, CustomStringConvertible {
    public static let pattern = "^(?=.*[1-9])[0-9]+(\\.[0-9]+)?(B|K|KB|KiB|M|MB|MiB|G|GB|GiB)$"
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func parse(_ text: String) throws(ValueError) -> ByteSize {
        let hint = "write a size such as 500K, 20MiB or 1GB"
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = text.dropFirst(number.count)
        let factors: [Substring: Double] = [
            "B": 1, "K": 1024, "KiB": 1024, "KB": 1000, "M": 1_048_576, "MiB": 1_048_576, "MB": 1e6,
            "G": 1_073_741_824, "GiB": 1_073_741_824, "GB": 1e9,
        ]
        guard !number.isEmpty, number.first != ".", number.last != ".",
              number.filter({ $0 == "." }).count <= 1, let value = Double(number) else {
            throw ValueError("'\(text)' is not a size; \(hint)")
        }
        guard !unit.isEmpty else { throw ValueError("'\(text)' has no unit; \(hint)") }
        guard let factor = factors[unit] else {
            throw ValueError("'\(text)' has an unknown unit '\(unit)'; \(hint)")
        }
        let bytes = value * factor
        guard bytes >= 1, bytes < 1e15 else { throw ValueError("'\(text)' is out of range; \(hint)") }
        return ByteSize(bytes: Int64(bytes.rounded()))
    }

    /// Canonical spelling in whole bytes, so that `1K` and `1024B` are the same spec.
    public var description: String { "\(bytes)B" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try ByteSize.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Paths inside the mirror: `path` under the master's root and each slave's publicDir, `source` inside an upstream.
///
/// Relative, normalized, without `..` or `.` or empty segments, and made only of characters that no shell,
/// rsync wildcard or `host:path` reading can misread.
public enum MirrorPath {
    public static let segmentCharacters = "A-Za-z0-9._+~@,=-"
    public static let pattern = "^(?!-)(?!.*(^|/)\\.\\.?(/|$))[A-Za-z0-9._+~@,=-]+(/[A-Za-z0-9._+~@,=-]+)*/?$"

    static func isSegmentByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
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
        if first == UInt8(ascii: "/") { throw ValueError("'\(path)' is absolute; write it relative, without the leading '/'") }
        if first == UInt8(ascii: "-") { throw ValueError("'\(path)' starts with '-', which rsync would read as an option") }
        let trailingSlash = bytes.last == UInt8(ascii: "/")
        var segmentLength = 0, dots = 0
        func endSegment() throws(ValueError) {
            if segmentLength == 0 { throw ValueError("'\(path)' has an empty segment ('//')") }
            if dots == segmentLength && dots == 2 { throw ValueError("'\(path)' has a '..' segment, which would leave the mirror's tree") }
            if dots == segmentLength && dots == 1 { throw ValueError("'\(path)' has a '.' segment; write the path without it") }
            segmentLength = 0
            dots = 0
        }
        for b in bytes.prefix(bytes.count - (trailingSlash ? 1 : 0)) {
            if b == UInt8(ascii: "/") {
                try endSegment()
                continue
            }
            guard isSegmentByte(b) else {
                throw ValueError("'\(path)' holds \(describe(byte: b)); paths may use only letters, digits and \(segmentCharacters.dropFirst(9))")
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
            if segment == ".." || segment == "." { throw ValueError("'\(path)' has a '\(segment)' segment; write the path plainly") }
        }
        return String(trimmed)
    }
}

/// An agent's API address: `http(s)://host[:port][/base]`, without credentials, query or fragment.
public enum AgentURL {
    public static let pattern = "^[Hh][Tt][Tt][Pp][Ss]?://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~%/-]*)?$"

    /// Returns the URL with scheme and host in lowercase and without a trailing slash.
    public static func normalize(_ text: String) throws(ValueError) -> String {
        let hint = "write it as http://HOST:PORT"
        // Foundation would quietly percent-encode stray characters; a URL in mirrors.d is written plainly.
        if let bad = text.utf8.first(where: { !(MirrorPath.isSegmentByte($0) || ":/[]@?#&".utf8.contains($0)) || $0 == UInt8(ascii: "+") }) {
            throw ValueError("'\(text)' holds \(MirrorPath.describe(byte: bad)), which a URL here may not hold")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw ValueError("'\(text)' is not a URL; \(hint)")
        }
        guard scheme == "http" || scheme == "https" else {
            throw ValueError("'\(text)' must be an http:// or https:// URL")
        }
        guard components.user == nil, components.password == nil else {
            throw ValueError("'\(text)' holds credentials; secrets never go inline (agents take a bearer token from tokenFile)")
        }
        // Foundation keeps an IPv6 host's brackets on Linux and drops them on Darwin.
        guard var host = components.host else { throw ValueError("'\(text)' has no valid host; \(hint)") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, isHost(host) else {
            throw ValueError("'\(text)' has no valid host; \(hint)")
        }
        guard components.query == nil, components.fragment == nil else {
            throw ValueError("'\(text)' may not have a query or fragment")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw ValueError("'\(text)' has port \(port); ports run from 1 to 65535")
        }
        if text.contains(":") && components.port == nil && text.dropFirst(scheme.count + 3).contains(":") && !host.contains(":") {
            throw ValueError("'\(text)' has a port that is not a number")
        }
        var path = components.percentEncodedPath
        if let bad = path.utf8.first(where: { !(MirrorPath.isSegmentByte($0) || $0 == UInt8(ascii: "/")) || $0 == UInt8(ascii: "+") }) {
            throw ValueError("'\(text)' has \(MirrorPath.describe(byte: bad)) in its path")
        }
        while path.hasSuffix("/") { path.removeLast() }
        let shownHost = host.contains(":") ? "[\(host)]" : host.lowercased()
        return "\(scheme)://\(shownHost)\(components.port.map { ":\($0)" } ?? "")\(path)"
    }

    /// The host of a URL as `normalize` writes it, IPv6 brackets stripped; nil if it has none.
    public static func host(of url: String) -> String? {
        guard var host = URLComponents(string: url)?.host, !host.isEmpty else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.lowercased()
    }

    /// Whether a host is this machine's loopback by its spelling alone (no lookup): `localhost`, 127.0.0.0/8 or
    /// `::1`. Plain HTTP with the bearer token stays on the machine only there.
    public static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        if host.contains(":") {
            // ::1 however it is written: every group zero but the last, which is 1.
            let groups = host.split(separator: ":", omittingEmptySubsequences: false)
            guard host.hasSuffix(":1"), host.utf8.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") }) else { return false }
            return groups.dropLast().allSatisfy { $0.allSatisfy { $0 == "0" } } && Int(groups.last!) == 1
        }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Whether a call to `url` would carry the bearer token in clear across a network: http:// to a host that is not
    /// loopback.
    public static func isPlainHTTPOffHost(_ url: String) -> Bool {
        guard url.lowercased().hasPrefix("http://") else { return false }
        return !isLoopback(host(of: url) ?? "")
    }

    /// A DNS name, an IPv4 address or an IPv6 address (brackets stripped).
    public static func isHost(_ host: String) -> Bool {
        if host.contains(":") { return host.utf8.allSatisfy { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || ($0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit) } }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return host.utf8.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
        }
    }
}

/// Where an upstream's trees come from.
public enum UpstreamLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// An rsync daemon: `rsync://[user@]host[:port]/module/[path/]`.
    case rsync(user: String?, host: String, port: Int?, path: String)
    /// A directory on the master itself.
    case local(path: String)

    public static let pattern = "^(rsync://([A-Za-z0-9._-]+@)?(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/(?!-)(?!(.*/)?\\.\\.?(/|$))[A-Za-z0-9._+~@,=%-]+(/[A-Za-z0-9._+~@,=%-]+)*/?|(?!.*//)/(?!(.*/)?\\.\\.?(/|$))[^\\x00-\\x1f\\x7f]*)$"

    public static func parse(_ text: String) throws(ValueError) -> UpstreamLocation {
        if text.hasPrefix("/") { return .local(path: try AbsolutePath.normalize(text)) }
        guard text.hasPrefix("rsync://") else {
            if text.contains("::") {
                throw ValueError("'\(text)' uses the HOST::MODULE form; write it as rsync://HOST/MODULE/")
            }
            if text.contains("://") {
                throw ValueError("'\(text)' is not an rsync URL; upstreams are rsync://HOST/MODULE/ URLs or absolute local paths")
            }
            throw ValueError("'\(text)' is neither an rsync:// URL nor an absolute path (remote shells such as ssh are never used)")
        }
        let rest = text.dropFirst("rsync://".count)
        guard let slash = rest.firstIndex(of: "/") else {
            throw ValueError("'\(text)' names no module; write rsync://HOST/MODULE/")
        }
        var authority = rest[..<slash]
        let path = rest[rest.index(after: slash)...]
        var user: String?
        if let at = authority.lastIndex(of: "@") {
            let userPart = authority[..<at]
            if userPart.contains(":") {
                throw ValueError("'\(text)' holds a password; secrets never go inline: put it in a file and name it with passwordFile")
            }
            guard !userPart.isEmpty, userPart.utf8.allSatisfy({ MirrorPath.isSegmentByte($0) && !"@+~,=%".utf8.contains($0) }) else {
                throw ValueError("'\(text)' has an invalid user name; use letters, digits, '.', '_' and '-'")
            }
            user = String(userPart)
            authority = authority[authority.index(after: at)...]
        }
        var host = Substring(authority)
        var port: Int?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw ValueError("'\(text)' has an unclosed '[' in its host") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 } else if !after.isEmpty { port = -1 }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            port = Int(host[host.index(after: colon)...]) ?? -1
            host = host[..<colon]
        }
        guard !host.isEmpty, AgentURL.isHost(String(host)) else { throw ValueError("'\(text)' has no valid host") }
        if let port, !(1...65535).contains(port) { throw ValueError("'\(text)' has an invalid port; ports run from 1 to 65535") }
        guard !path.isEmpty else { throw ValueError("'\(text)' names no module; write rsync://HOST/MODULE/") }
        let normalized: String
        do { normalized = try MirrorPath.normalize(String(path)) } catch { throw ValueError("in '\(text)': \(error.message)") }
        return .rsync(user: user, host: String(host).lowercased(), port: port, path: normalized)
    }

    /// The canonical URL, ending in `/` for rsync so that a tree's contents are copied, not the tree itself.
    public var description: String {
        switch self {
        case .local(let path): return path
        case .rsync(let user, let host, let port, let path):
            var out = "rsync://"
            if let user { out += user + "@" }
            out += host.utf8.contains(UInt8(ascii: ":")) ? "[" + host + "]" : host
            if let port { out += ":" + String(port) }
            return out + "/" + path + "/"
        }
    }

    public var user: String? {
        if case .rsync(let user, _, _, _) = self { return user }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try UpstreamLocation.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// How a sync makes its tree public.
public enum PublishMode: String, Sendable, Hashable, Codable, WordChoice {
    /// rsync updates the served tree where it stands (index files last, with `twoStage`).
    case inPlace
    /// Each sync builds a new revision beside the served one (unchanged files hard-linked) and publishes it with one
    /// rename of a symbolic link: a reader sees one whole revision at every moment.
    case atomic

    public static let what = "a way to publish"
}

/// Where a two-stage project's second stage waits for its first.
public enum StageMode: String, Sendable, Hashable, Codable, WordChoice {
    /// Each host runs its second stage (the index files) right after its own first.
    case host
    /// The slaves run their first stage, and only once every reachable slave has finished it does the master tell
    /// them all to run the second: the public hosts switch their indices within seconds of each other.
    case site

    public static let what = "a stage"
}

/// A field that is one of a few words.
public protocol WordChoice: RawRepresentable<String>, CaseIterable {
    /// What the field is, after "is not": "a stage".
    static var what: String { get }
}

extension WordChoice {
    public static func parse(_ text: String) throws(ValueError) -> Self {
        guard let choice = Self(rawValue: text) else {
            throw ValueError("'\(text)' is not \(what); it is " + allCases.map(\.rawValue).joined(separator: " or "))
        }
        return choice
    }
}

/// How much one sync may delete before it is stopped with nothing deleted.
public enum DeletionLimit: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A share of the files the tree held after its last sync, in percent.
    case percent(Double)
    /// An absolute number of files.
    case files(Int)

    public static let `default` = DeletionLimit.percent(10)

    public var isShare: Bool {
        if case .percent = self { return true }
        return false
    }
    public static let percentPattern = "^(100(\\.0+)?|[0-9]{1,2}(\\.[0-9]+)?)%$"

    public static func parse(_ text: String, plain: Bool) throws(ValueError) -> DeletionLimit {
        let hint = "write a share such as 10% or a number of files such as 5000"
        let digits = { (t: Substring) in !t.isEmpty && t.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        if text.hasSuffix("%") {
            let number = text.dropLast()
            let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard digits(parts[0]), parts[0].count <= 3, parts.count == 1 || digits(parts[1]),
                  let value = Double(number), value <= 100 else {
                throw ValueError("'\(text)' is not a share between 0% and 100%; \(hint)")
            }
            return .percent(value)
        }
        guard plain, digits(Substring(text)), text == "0" || !text.hasPrefix("0"), let value = Int(text) else {
            throw ValueError("'\(text)' is not a deletion limit; \(hint)")
        }
        return .files(value)
    }

    public var description: String {
        switch self {
        case .percent(let p): return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        case .files(let n): return "\(n)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let n = try? container.decode(Int.self) {
            guard n >= 0 else { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a deletion limit may not be negative")) }
            self = .files(n)
            return
        }
        let text = try container.decode(String.self)
        do { self = try DeletionLimit.parse(text, plain: false) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .percent: try container.encode(description)
        case .files(let n): try container.encode(n)
        }
    }
}

/// Did-you-mean: the candidate closest to a misspelling, if it is close enough to be what was meant.
public enum Suggestion {
    public static func closest<S: Sequence<String>>(to word: String, among candidates: S) -> String? {
        let limit = max(1, min(3, word.count / 3))
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(word.lowercased(), candidate.lowercased())
            if d <= limit && (best == nil || d < best!.1 || (d == best!.1 && candidate < best!.0)) { best = (candidate, d) }
        }
        return best?.0
    }

    /// Optimal string alignment distance: edits, with a swap of neighbours counting once.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }

    /// `; did you mean 'x'?`, or nothing.
    public static func hint<S: Sequence<String>>(for word: String, among candidates: S) -> String {
        closest(to: word, among: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }
}

/// Words shown to people as they are written: a site's name or note, a project's `desc` or `cname`. Any text of
/// 1 to 1024 characters (Unicode scalars) on one line, without control characters.
public enum DisplayText {
    public static let pattern = "^[^\\x00-\\x1f\\x7f]{1,1024}$"
    public static let maxLength = 1024

    public static func check(_ text: String) throws(ValueError) -> String {
        guard !text.isEmpty else { throw ValueError("the text may not be empty; leave the key out instead") }
        guard text.unicodeScalars.count <= maxLength else { throw ValueError("the text is longer than \(maxLength) characters") }
        if let bad = text.utf8.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw ValueError("the text holds \(MirrorPath.describe(byte: bad)); write it on one line")
        }
        return text
    }
}

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
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { throw ValueError("'\(text)' is neither a path nor a URL; \(hint)") }
        let rest = text.drop { $0 != ":" }.dropFirst(3)
        let host = rest.prefix { $0 != "/" }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".[]:-".contains($0)) }) else {
            throw ValueError("'\(text)' has no valid host; \(hint)")
        }
        return text
    }
}
