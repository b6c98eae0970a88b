import Foundation

/// Where an upstream's trees come from.
public enum UpstreamLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// An rsync daemon: `rsync://[user@]host[:port]/module/[path/]`.
    case rsync(user: String?, host: String, port: Int?, path: String)
    /// A directory on the master itself.
    case local(path: String)
    /// An address only a program understands (`https://`, `git://`, `ftp://`, ...): the `url` of an upstream with a
    /// `command`, handed to the program as it is written (`TUNASYNC_UPSTREAM_URL`).
    case program(url: String)

    public static let pattern =
        "^(rsync://([A-Za-z0-9._-]+@)?(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/(?!-)(?!(.*/)?\\.\\.?(/|$))[A-Za-z0-9._+~@,=%-]+(/[A-Za-z0-9._+~@,=%-]+)*/?|(?!.*//)/(?!(.*/)?\\.\\.?(/|$))[^\\x00-\\x1f\\x7f]*)$"

    public static func parse(_ text: String) throws(ValueError) -> UpstreamLocation {
        if text.hasPrefix("/") { return .local(path: try AbsolutePath.normalize(text)) }
        guard text.hasPrefix("rsync://") else {
            if text.contains("::") {
                throw ValueError("'\(text)' uses the HOST::MODULE form; write it as rsync://HOST/MODULE/")
            }
            if text.contains("://") {
                throw ValueError(
                    "'\(text)' is not an rsync URL; upstreams are rsync://HOST/MODULE/ URLs or absolute local paths, or, with a command (a program that brings the tree), any address"
                )
            }
            throw ValueError(
                "'\(text)' is neither an rsync:// URL nor an absolute path (remote shells such as ssh are never used)")
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
                throw ValueError(
                    "'\(text)' holds a password; secrets never go inline: put it in a file and name it with passwordFile"
                )
            }
            guard !userPart.isEmpty,
                userPart.utf8.allSatisfy({ MirrorPath.isSegmentByte($0) && !"@+~,=%".utf8.contains($0) })
            else {
                throw ValueError("'\(text)' has an invalid user name; use letters, digits, '.', '_' and '-'")
            }
            user = String(userPart)
            authority = authority[authority.index(after: at)...]
        }
        var host = Substring(authority)
        var port: Int?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw ValueError("'\(text)' has an unclosed '[' in its host")
            }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 } else if !after.isEmpty { port = -1 }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            port = Int(host[host.index(after: colon)...]) ?? -1
            host = host[..<colon]
        }
        guard !host.isEmpty, AgentURL.isHost(String(host)) else { throw ValueError("'\(text)' has no valid host") }
        if let port, !(1...65535).contains(port) {
            throw ValueError("'\(text)' has an invalid port; ports run from 1 to 65535")
        }
        guard !path.isEmpty else { throw ValueError("'\(text)' names no module; write rsync://HOST/MODULE/") }
        let normalized: String
        do { normalized = try MirrorPath.normalize(String(path)) } catch {
            throw ValueError("in '\(text)': \(error.message)")
        }
        return .rsync(user: user, host: String(host).lowercased(), port: port, path: normalized)
    }

    /// The `url` of an upstream with a `command`: any SCHEME://... address (or an rsync URL or a path, taken as
    /// written), on one line, at most 2048 bytes; the program is what reads it.
    public static func parse(programURL text: String) throws(ValueError) -> UpstreamLocation {
        guard text.utf8.count <= 2048 else { throw ValueError("the url is longer than 2048 bytes") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0 == " " }) else {
            throw ValueError("'\(text)' holds a space or a control character")
        }
        if text.hasPrefix("/") { return .program(url: try AbsolutePath.normalize(text)) }
        guard let colon = text.range(of: "://"), !text[..<colon.lowerBound].isEmpty,
            text[..<colon.lowerBound].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }),
            text[colon.upperBound...].count > 0
        else {
            throw ValueError("'\(text)' is not a URL (SCHEME://...) or an absolute path")
        }
        let authority = text[colon.upperBound...].prefix { $0 != "/" }
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
            throw ValueError("'\(text)' holds a password; secrets never go inline: give them to the program in a file")
        }
        return .program(url: text)
    }

    /// The canonical URL, ending in `/` for rsync so that a tree's contents are copied, not the tree itself.
    public var description: String {
        switch self {
        case .local(let path): return path
        case .program(let url): return url
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

    /// An rsync URL or a path (`UpstreamSpec` reads a program's address itself, knowing its `command`).
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
