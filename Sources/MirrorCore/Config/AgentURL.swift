import Foundation

/// An agent's API address: `http(s)://host[:port][/base]`, without credentials, query or fragment.
public enum AgentURL {
    public static let pattern =
        "^[Hh][Tt][Tt][Pp][Ss]?://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~%/-]*)?$"

    /// Returns the URL with scheme and host in lowercase and without a trailing slash.
    public static func normalize(_ text: String) throws(ValueError) -> String {
        let hint = "write it as http://HOST:PORT"
        // Foundation would quietly percent-encode stray characters; a URL in mirrors.d is written plainly.
        if let bad = text.utf8.first(where: {
            !(MirrorPath.isSegmentByte($0) || ":/[]@?#&".utf8.contains($0)) || $0 == UInt8(ascii: "+")
        }) {
            throw ValueError("'\(text)' holds \(MirrorPath.describe(byte: bad)), which a URL here may not hold")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw ValueError("'\(text)' is not a URL; \(hint)")
        }
        guard scheme == "http" || scheme == "https" else {
            throw ValueError("'\(text)' must be an http:// or https:// URL")
        }
        guard components.user == nil, components.password == nil else {
            throw ValueError(
                "'\(text)' holds credentials; secrets never go inline (agents take a bearer token from tokenFile)")
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
        if text.contains(":") && components.port == nil && text.dropFirst(scheme.count + 3).contains(":")
            && !host.contains(":")
        {
            throw ValueError("'\(text)' has a port that is not a number")
        }
        var path = components.percentEncodedPath
        if let bad = path.utf8.first(where: {
            !(MirrorPath.isSegmentByte($0) || $0 == UInt8(ascii: "/")) || $0 == UInt8(ascii: "+")
        }) {
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
            guard host.hasSuffix(":1"),
                host.utf8.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") })
            else { return false }
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
        if host.contains(":") {
            return host.utf8.allSatisfy {
                $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
                    || ($0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit)
            }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return host.utf8.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy {
                        ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D
                    }
            }
    }
}
