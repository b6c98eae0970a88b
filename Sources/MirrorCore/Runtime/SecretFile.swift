#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a secret that a spec names may be read from (an upstream's `passwordFile`, a project's `pushTokenFile`): a
/// regular file that only the agent's user may read, outside the trees others write (a mirror root) or that hold the
/// agent's own secrets (its state directory), and none of the agent's own credentials.
///
/// Whoever holds the token chooses these paths, so what is refused must not tell them what is on the host: a
/// refusal about the path as written says why, one about the file itself (missing, unreadable, its mode, where it
/// leads) says the same words whatever the cause, and keeps the cause for the agent's log.
public struct SecretFileRules: Sendable, Hashable {
    /// A directory a secret may not be in, resolved, and what a message calls it.
    public struct Tree: Sendable, Hashable {
        public var path: String
        public var what: String
        public init(_ path: String, _ what: String) {
            self.path = path
            self.what = what
        }
    }

    /// The agent's own credential files (its token file, its TLS key), as its flags name them.
    public var credentials: [String]
    public var trees: [Tree]

    public init(credentials: [String] = [], trees: [Tree] = []) {
        self.credentials = credentials
        self.trees = trees
    }

    /// What a refusal about the file itself says, whatever the cause.
    public static let unusable =
        "it cannot be used: it must be a regular file that only this agent's user may read (chmod 600), "
        + "outside the mirror's trees and the state directory, and not one of the agent's own credentials"

    /// Why the path as written is refused; nil if it is not. Nothing on the file system is looked at.
    public func check(_ path: String, field: String) -> SecretRefusal? {
        if credentials.contains(path) {
            return SecretRefusal(
                field: field, path: path,
                reason: "it is one of this agent's own credentials; give the secret a file of its own")
        }
        if let tree = trees.first(where: { ExecAllowlist.isInside(path, $0.path) }) {
            return SecretRefusal(
                field: field, path: path,
                reason:
                    "it is inside \(tree.what) \(tree.path); keep secrets outside the trees the agent serves and keeps")
        }
        return nil
    }

    /// The secret in `path`, its surrounding white space removed; or why it may not be read.
    public func read(_ path: String, field: String) throws(SecretRefusal) -> String {
        if let refusal = check(path, field: field) { throw refusal }
        func refuse(_ detail: String) -> SecretRefusal {
            SecretRefusal(field: field, path: path, reason: Self.unusable, detail: detail)
        }
        // Not blocking on a FIFO, and not adopting a terminal.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw refuse("cannot open it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw refuse("cannot stat it: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw refuse("it is not a regular file") }
        let mode = info.st_mode & 0o777
        if mode & 0o044 != 0 {
            throw refuse("it is readable by group or others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
        for credential in credentials {
            var other = stat()
            if stat(credential, &other) == 0, other.st_dev == info.st_dev, other.st_ino == info.st_ino {
                throw refuse("it is the agent's credential \(credential), through a link")
            }
        }
        if let real = ExecAllowlist.realPath(path),
            let tree = trees.first(where: { ExecAllowlist.isInside(real, $0.path) })
        {
            throw refuse("it resolves to \(real), inside \(tree.what) \(tree.path)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= 65536 {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count < 0 { throw refuse("cannot read it: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        var text = Substring(decoding: bytes, as: UTF8.self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        return String(text)
    }
}

/// A secret file refused: which field and path, why (what anyone may see), and what the file system said (for the
/// agent's log only).
public struct SecretRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var path: String
    public var reason: String
    public var detail: String?

    public init(field: String, path: String, reason: String, detail: String? = nil) {
        self.field = field
        self.path = path
        self.reason = reason
        self.detail = detail
    }

    /// `passwordFile '/srv/mirror/x' is refused: it is inside the agent's root /srv/mirror; ...`
    public var message: String { "\(field) '\(path)' is refused: \(reason)" }
    public var description: String { message }
}

/// How many bits a push token carries, counted by its alphabet: 4 a character for hex digits, 6 for base64 (either
/// alphabet; `=` padding counts nothing), 3.3 for decimal digits, 6.5 for any other printable ASCII.
public enum PushTokenStrength {
    /// The least a push token must carry.
    public static let minimumBits = 128.0

    public static func bits(_ token: String) -> Double {
        let bytes = Array(token.utf8).filter { $0 != UInt8(ascii: "=") }
        func all(_ test: (UInt8) -> Bool) -> Bool { bytes.allSatisfy(test) }
        let digit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let hex = { (b: UInt8) in digit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46) }
        let base64 = { (b: UInt8) in
            digit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "+/-_".utf8.contains(b)
        }
        let perCharacter = all(digit) ? 3.32 : all(hex) ? 4 : all(base64) ? 6 : 6.5
        return Double(bytes.count) * perCharacter
    }
}
