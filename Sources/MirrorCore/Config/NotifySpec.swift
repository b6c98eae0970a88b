/// Whom the master tells when the site's state changes, and how: `notify:` in mirrors.d, carried to the master in its
/// settings (`AgentSettings.notify`).
///
/// The keys of the JSON are mirrors.d's, so `PUT /v1/settings` reads it back with the same decoder and checks.
public struct NotifySpec: Sendable, Hashable, Codable {
    /// Signed JSON POSTs, by a name of the operator's choosing.
    public var webhooks: [String: WebhookTarget]
    /// Mail through the host's `sendmail -t`, by name.
    public var mail: [String: MailTarget]
    /// By project: its maintainers, who get mail on that project's changes alone.
    public var routes: [String: MailTarget]
    /// The mails' `From:`; nil leaves it to sendmail (the agent's user at the host).
    public var from: String?
    /// How often the master looks at what no run tells it: a project gone stale, a slave that stopped answering.
    public var checkEvery: TimeSpan
    /// How long a slave may go unanswered before it counts as unreachable.
    public var unreachableAfter: TimeSpan
    /// How long a slave may lack the master's revision of a project before it counts as behind.
    public var behindAfter: TimeSpan
    /// The most messages one target gets in any hour; more wait and go out together.
    public var maxPerHour: Int

    public init(
        webhooks: [String: WebhookTarget] = [:], mail: [String: MailTarget] = [:], routes: [String: MailTarget] = [:],
        from: String? = nil, checkEvery: TimeSpan = Self.defaultCheckEvery,
        unreachableAfter: TimeSpan = Self.defaultUnreachableAfter, behindAfter: TimeSpan = Self.defaultBehindAfter,
        maxPerHour: Int = Self.defaultMaxPerHour
    ) {
        self.webhooks = webhooks
        self.mail = mail
        self.routes = routes
        self.from = from
        self.checkEvery = checkEvery
        self.unreachableAfter = unreachableAfter
        self.behindAfter = behindAfter
        self.maxPerHour = maxPerHour
    }

    public static let defaultCheckEvery = TimeSpan(seconds: 60)
    public static let defaultUnreachableAfter = TimeSpan(seconds: 300)
    public static let defaultBehindAfter = TimeSpan(seconds: 3_600)
    public static let defaultMaxPerHour = 20
    public static let maxPerHourRange = 1...1_000

    /// The keys of `notify:`, in mirrors.d's spelling.
    public static let keys = [
        "webhooks", "mail", "routes", "from", "checkEvery", "unreachableAfter", "behindAfter", "maxPerHour",
    ]
}

/// How grave a change is. A target takes the changes of its `severity` and graver; the end of a trouble (a recovery)
/// goes wherever its start went.
public enum NotifySeverity: String, Sendable, Hashable, Codable, CaseIterable, Comparable, WordChoice {
    /// A project gone stale, a slave behind.
    case warning
    /// A project failing, a slave unreachable.
    case error

    public static let what = "a severity"

    public static func < (a: Self, b: Self) -> Bool { a == .warning && b == .error }
}

/// A webhook: `POST url` with a JSON body, signed with HMAC-SHA256 under the secret in `secretFile`.
public struct WebhookTarget: Sendable, Hashable, Codable {
    public var url: String
    /// A file of mode 0600 on the master that holds the signing secret.
    public var secretFile: String
    public var severity: NotifySeverity
    /// The longest one POST may take, answer included.
    public var timeout: TimeSpan

    public init(
        url: String, secretFile: String, severity: NotifySeverity = .warning,
        timeout: TimeSpan = Self.defaultTimeout
    ) {
        self.url = url
        self.secretFile = secretFile
        self.severity = severity
        self.timeout = timeout
    }

    public static let defaultTimeout = TimeSpan(seconds: 10)
    public static let keys = ["url", "secretFile", "severity", "timeout"]
}

/// Mail to a list of addresses: a target of `notify.mail`, or a project's route.
public struct MailTarget: Sendable, Hashable, Codable {
    public var to: [String]
    public var severity: NotifySeverity

    public init(to: [String], severity: NotifySeverity = .warning) {
        self.to = to
        self.severity = severity
    }

    public static let keys = ["to", "severity"]
}

/// A mail address as mail headers may carry it: `local@domain`, ASCII, no space, no quote, no comment, no line break,
/// so that nothing written in mirrors.d can add a header or a recipient.
public enum MailAddress {
    public static let pattern =
        "^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
    public static let maxLength = 254

    public static func check(_ text: String) throws(ValueError) -> String {
        let bytes = Array(text.utf8)
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > 0, at < bytes.count - 1 else {
            throw ValueError("'\(text)' is not a mail address; write it as name@example.org")
        }
        if let bad = bytes.first(where: { $0 < 0x21 || $0 > 0x7E }) {
            throw ValueError(
                "'\(text)' holds \(MirrorPath.describe(byte: bad)); a mail address is ASCII without spaces or line breaks"
            )
        }
        guard bytes.count <= maxLength else { throw ValueError("'\(text)' is longer than \(maxLength) characters") }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        let localExtra = Set("!#$%&'*+/=?^_{|}~-.".utf8)
        func alnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard local.count <= 64, local.allSatisfy({ alnum($0) || localExtra.contains($0) }) else {
            throw ValueError(
                "'\(text)' is not a mail address: its part before '@' may hold letters, digits and !#$%&'*+/=?^_{|}~-. only"
            )
        }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let good = labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
                && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
        }
        guard good else {
            throw ValueError("'\(text)' is not a mail address: its domain is not a host name")
        }
        return text
    }
}
