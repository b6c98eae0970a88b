import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// The master's `rsyncd.conf`: one read-only module per project, each open only to the slaves' rsync users.
///
/// The daemon runs as the agent's user, so `use chroot = no` (chroot needs root); `munge symlinks = no`, so that
/// symlinks in mirrored trees reach the slaves as they are (rsync's default munges them without a chroot). The
/// sender never follows a link since the options that would make it (`--copy-links` and friends) are refused.
public enum RsyncdConfig {
    /// A module: a project's name and its tree.
    public struct Module: Sendable, Hashable {
        public var name: String
        public var path: String

        public init(name: String, path: String) {
            self.name = name
            self.path = path
        }
    }

    public static func render(
        modules: [Module], user: String, secretsFile: String, logFile: String, hostsAllow: [String]?,
        maxConnections: (count: Int, lockFile: String)? = nil
    ) -> String {
        render(
            modules: modules, users: [user], secretsFile: secretsFile, logFile: logFile, hostsAllow: hostsAllow,
            maxConnections: maxConnections)
    }

    /// No user at all: nobody may pull (`auth users` takes a name that no secrets line has). `maxConnections`: the
    /// most pulls the daemon serves at once, over all its modules, counted in one lock file; one more is refused
    /// with "@ERROR: max connections (N) reached -- try again later" (rsync's exit 5), and its slave tries again.
    public static func render(
        modules: [Module], users: [String], secretsFile: String, logFile: String, hostsAllow: [String]?,
        maxConnections: (count: Int, lockFile: String)? = nil
    ) -> String {
        var lines = [
            "# Written by the mirrorsync master agent; it is rewritten whenever the projects change.",
            "use chroot = no",
            "munge symlinks = no",
            "read only = yes",
            "write only = no",
            "list = no",
            "numeric ids = yes",
            // Slaves are allowed by address; a reverse lookup per connection only adds a DNS timeout when DNS is down.
            "reverse lookup = no",
            "strict modes = yes",
            "timeout = 600",
            // Without it every small message of rsync's protocol can wait out the slave's delayed ACK (40 ms on Linux):
            // a pull of one changed file took 0.2 s, most of it such waits (see RsyncArguments for the slave's side).
            "socket options = TCP_NODELAY",
            "refuse options = copy-links copy-unsafe-links copy-dirlinks keep-dirlinks remove-source-files",
            "log file = \(logFile)",
            "auth users = \(users.isEmpty ? "nobody-has-a-credential" : users.map { "\($0):ro" }.joined(separator: ", "))",
            "secrets file = \(secretsFile)",
        ]
        if let maxConnections {
            // Set globally, every module inherits it; as they share the lock file, they share the count.
            lines += ["max connections = \(maxConnections.count)", "lock file = \(maxConnections.lockFile)"]
        }
        if let hostsAllow {
            // No slave address known: nobody at all, rather than everybody.
            lines.append("hosts allow = \(hostsAllow.isEmpty ? "0.0.0.0/32" : hostsAllow.joined(separator: " "))")
        }
        // The daemon expands `%VAR%` in a path: a module whose path has a `%` (refused in mirrors.d and by the API) is left out.
        for module in modules.sorted(by: { $0.name < $1.name }) where !module.path.contains("%") {
            lines += [
                "", "[\(module.name)]", "    path = \(module.path)", "    comment = mirrorsync project \(module.name)",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The hosts of the slaves' API addresses: where their pulls come from.
    public static func hosts(ofSlaves slaves: [String: String]) -> [String] {
        Set(
            slaves.values.compactMap { api -> String? in
                guard var host = URLComponents(string: api)?.host else { return nil }
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                return host
            }
        ).sorted()
    }
}

/// The rsync user of a site whose agents share one token: made by the master on its first start, kept in its state
/// directory, and handed to the slaves through `GET /v1/rsyncd/credential` for the shared token only.
public enum SiteCredential {
    /// The rsync user the slaves log in as; they learn it with the password (`GET /v1/rsyncd/credential`).
    public static let user = "mirrorsync"

    /// Reads the secrets file (`user:password`, mode 0600), or makes one with a fresh random password.
    public static func loadOrCreate(secretsFile: String) throws(AtomicFile.Failure) -> RsyncCredential {
        if let data = FileManager.default.contents(atPath: secretsFile),
            let line = String(data: data, encoding: .utf8)?.split(separator: "\n").first(where: {
                $0.hasPrefix(user + ":")
            }),
            let colon = line.firstIndex(of: ":"), line[..<colon] == user, line.index(after: colon) < line.endIndex
        {
            chmod(secretsFile, 0o600)
            return RsyncCredential(user: user, password: String(line[line.index(after: colon)...]))
        }
        var generator = SystemRandomNumberGenerator()
        let password = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
            .joined()
        try AtomicFile.write(Array("\(user):\(password)\n".utf8), to: secretsFile, mode: 0o600)
        return RsyncCredential(user: user, password: password)
    }
}

/// Each slave's own rsync user on the master, `mirrorsync-NAME`, so that one slave is revoked alone: its password
/// is HMAC-SHA-256 of the slave's name and credential verifier under the master's key, so a rotated credential
/// changes it and a removed line ends it, with nothing else to keep in step.
public struct SlaveRsyncUsers: Sendable {
    let key: [UInt8]

    public static func user(_ slave: String) -> String { "mirrorsync-" + slave }

    /// Reads the key (hex, mode 0600), or makes one.
    public init(keyFile: String) throws(AtomicFile.Failure) {
        if let data = FileManager.default.contents(atPath: keyFile), data.count >= 64 {
            key = Array(data.prefix(64))
            return
        }
        var generator = SystemRandomNumberGenerator()
        let text = SHA256.hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try AtomicFile.write(Array(text.utf8), to: keyFile, mode: 0o600)
        key = Array(text.utf8)
    }

    public func credentials(_ accepted: AcceptedCredentials) -> [RsyncCredential] {
        accepted.slaves.map { slave in
            RsyncCredential(
                user: Self.user(slave.name),
                password: SHA256.hex(SHA256.hmac(key: key, Array("\(slave.name):\(SHA256.hex(slave.digest))".utf8))))
        }
    }
}
