import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Whom a credential speaks for, as the agent that accepts it says (its accept file), never as the caller says.
public enum CredentialRole: Sendable, Hashable, CustomStringConvertible {
    /// The reconciler and the CLI: every operator route.
    case `operator`
    /// The master: on a slave, the trigger routes only.
    case master
    /// A slave: on the master, its own reports, its own rsync credential and the revisions, nothing else.
    case slave(String)
    /// One token every agent and the reconciler share (the old way): every role at once.
    case shared

    public var description: String {
        switch self {
        case .operator: "operator"
        case .master: "master"
        case .slave(let name): "slave \(name)"
        case .shared: "shared"
        }
    }

    /// `operator`, `master`, `slave:NAME` or `shared`, as `mirrorsync credential --for` takes it.
    public static func parse(_ text: String) throws(ValueError) -> CredentialRole {
        switch text {
        case "operator": return .operator
        case "master": return .master
        case "shared": return .shared
        default:
            guard text.hasPrefix("slave:") else {
                throw ValueError("a credential is for operator, master, slave:NAME or shared; got '\(text)'")
            }
            let name = String(text.dropFirst("slave:".count))
            do throws(ValueError) { try ObjectName.validate(name) } catch {
                throw ValueError("slave:\(name): \(error.message)")
            }
            return .slave(name)
        }
    }
}

/// A credential an agent accepts: its role and the SHA-256 of the token, never the token.
public struct CredentialVerifier: Sendable, Hashable {
    public var role: CredentialRole
    public var digest: [UInt8]

    public init(role: CredentialRole, token: String) {
        self.role = role
        digest = SHA256.hash(Array(token.utf8))
    }

    public init(role: CredentialRole, digest: [UInt8]) {
        self.role = role
        self.digest = digest
    }

    /// The accept file's line: `operator sha256:HEX`, `slave www sha256:HEX`.
    public var line: String {
        let subject = if case .slave(let name) = role { "slave \(name)" } else { role.description }
        return "\(subject) sha256:\(SHA256.hex(digest))"
    }
}

/// An agent's accept file: one verifier a line, `ROLE [NAME] sha256:HEX`, `#` comments. Several lines may share
/// a role (the old and the new operator token while it is rotated), but a slave has one line: its rsync user's
/// password is derived from it.
public struct AcceptedCredentials: Sendable, Hashable {
    public var verifiers: [CredentialVerifier]

    public init(_ verifiers: [CredentialVerifier]) { self.verifiers = verifiers }

    /// The old way: one token, every role.
    public static func shared(token: String) -> AcceptedCredentials {
        .init([CredentialVerifier(role: .shared, token: token)])
    }

    /// Whether a shared token is among them: the site's agents do not have credentials of their own yet.
    public var acceptsShared: Bool { verifiers.contains { $0.role == .shared } }

    /// The slaves with a credential, each with its token's digest.
    public var slaves: [(name: String, digest: [UInt8])] {
        verifiers.compactMap { if case .slave(let name) = $0.role { (name, $0.digest) } else { nil } }
    }

    /// The role of `token`: its digest is compared with every verifier's, each in the same time.
    public func role(of token: some StringProtocol) -> CredentialRole? {
        let digest = SHA256.hash(Array(token.utf8))
        var found: CredentialRole?
        for verifier in verifiers {
            var difference: UInt8 = 0
            for (a, b) in zip(digest, verifier.digest) { difference |= a ^ b }
            if difference == 0 && found == nil { found = verifier.role }
        }
        return found
    }

    /// The file's text as it would be with `verifier` in place of the lines of its role (its slave's, for a slave).
    public static func replacing(_ text: String, with verifier: CredentialVerifier) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let prefix = verifier.line.prefix { $0 != ":" }.dropLast("sha256".count)
        lines.removeAll { $0.hasPrefix(prefix) }
        return (lines + [verifier.line]).joined(separator: "\n") + "\n"
    }

    /// Parses an accept file's text; `file` names it in errors, with the line.
    public static func parse(_ text: String, file: String) throws(ValueError) -> AcceptedCredentials {
        var verifiers: [CredentialVerifier] = []
        var slaveLines: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = raw.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            let place = "\(file):\(index + 1)"
            let role: CredentialRole
            do throws(ValueError) {
                role = try CredentialRole.parse(words.count == 3 && first == "slave" ? "slave:\(words[1])" : first)
            } catch {
                throw ValueError("\(place): \(error.message)")
            }
            guard words.count == (first == "slave" ? 3 : 2), let hex = words.last, hex.hasPrefix("sha256:"),
                let digest = Self.bytes(hex: hex.dropFirst("sha256:".count)), digest.count == 32
            else {
                throw ValueError(
                    "\(place): a line is ROLE [NAME] sha256:HEX (64 hex digits), as 'mirrorsync credential' prints it")
            }
            if case .slave(let name) = role {
                if let earlier = slaveLines[name] {
                    throw ValueError(
                        "\(place): slave \(name) has a line already (line \(earlier)); a slave has one credential")
                }
                slaveLines[name] = index + 1
            }
            verifiers.append(CredentialVerifier(role: role, digest: digest))
        }
        return AcceptedCredentials(verifiers)
    }

    /// Reads and parses an accept file, which must not be writable by group or others.
    public static func read(_ path: String) throws(ValueError) -> AcceptedCredentials {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValueError("cannot read the accept file \(path): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & 0o022 != 0 {
            throw ValueError(
                "the accept file \(path) may be written by others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod go-w \(path)"
            )
        }
        let bytes: [UInt8]
        do throws(ValueError) { bytes = try DesiredStateLoader.readFile(path) } catch {
            throw ValueError("cannot read the accept file \(path): \(error.message)")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), file: path)
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// `validate`'s word on a site that still shares one token: the package's accept file beside `master.tokenFile`
/// (`/etc/mirrorsync/accepted`) names it `shared` after an upgrade from a site that had one.
public enum SharedTokenCheck {
    public static func diagnostics(_ state: DesiredState) -> [Diagnostic] {
        let file = (state.master.tokenFile as NSString).deletingLastPathComponent + "/accepted"
        guard let accepted = try? AcceptedCredentials.read(file), accepted.acceptsShared else { return [] }
        return [
            Diagnostic(
                .warning, file: file, code: "shared-token",
                message:
                    "the agents here accept one token shared by every role, so whoever holds any host's token may change every agent: "
                    + "give each agent its own ('mirrorsync credential token FILE --for ROLE' on its host, its line in its peers' accept files "
                    + "with 'mirrorsync credential accept'), then delete the 'shared' line (docs/security.md)")
        ]
    }
}
