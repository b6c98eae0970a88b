/// How one host describes itself in the Debian trace files it writes (`trace:` on the master or a slave in mirrors.d):
/// ftpsync's `MIRRORNAME` and `INFO_*` settings, and how long a sync waits for an upstream that is itself updating
/// (`UIPSLEEP`, `UIPRETRIES`).
public struct TraceSettings: Sendable, Hashable, Codable {
    /// The public host name the trace file, its markers and `_hierarchy` are named after (ftpsync's `MIRRORNAME`);
    /// nil: the agent's `--trace-host`, else the machine's fully qualified name.
    public var host: String?
    public var maintainer: String?
    public var sponsor: String?
    /// Two capital letters, as ISO 3166 names the country (`DE`).
    public var country: String?
    public var location: String?
    public var throughput: String?
    /// How long a sync waits when its upstream shows its own `Archive-Update-in-Progress-*` at its top, before it
    /// looks again; nil: `defaultUpstreamWait`.
    public var upstreamWait: TimeSpan?
    /// How many times it looks again before the run fails; nil: `defaultUpstreamRetries`. 0: it fails at once.
    public var upstreamRetries: Int?

    /// ftpsync's defaults: 20 minutes, 3 times.
    public static let defaultUpstreamWait = TimeSpan(seconds: 1200)
    public static let defaultUpstreamRetries = 3

    public init(
        host: String? = nil, maintainer: String? = nil, sponsor: String? = nil, country: String? = nil,
        location: String? = nil, throughput: String? = nil, upstreamWait: TimeSpan? = nil,
        upstreamRetries: Int? = nil
    ) {
        self.host = host
        self.maintainer = maintainer
        self.sponsor = sponsor
        self.country = country
        self.location = location
        self.throughput = throughput
        self.upstreamWait = upstreamWait
        self.upstreamRetries = upstreamRetries
    }

    /// The free-text fields, by their key in mirrors.d, in the order the trace file writes them.
    public static let textFields: [(key: String, path: WritableKeyPath<TraceSettings, String?> & Sendable)] = [
        ("maintainer", \.maintainer), ("sponsor", \.sponsor), ("location", \.location), ("throughput", \.throughput),
    ]

    /// The keys of `trace:`, in mirrors.d's spelling.
    public static let keys = [
        "host", "maintainer", "sponsor", "country", "location", "throughput", "upstreamWait", "upstreamRetries",
    ]

    /// `INFO_MAINTAINER`, ... as the trace file writes them, in ftpsync's order; the fields left out are not written.
    public var infoLines: [(key: String, value: String)] {
        [
            ("Maintainer", maintainer), ("Sponsor", sponsor), ("Country", country), ("Location", location),
            ("Throughput", throughput),
        ].compactMap { key, value in value.map { (key, $0) } }
    }
}

/// The rules on what a trace file says of its host. The checker reads a trace line by line, each line `Key: value`,
/// and drops the whole file at a line it cannot read: a value is one line of printable text, so that no value can
/// end its line and start another (no control character, C0 or C1, no Unicode line or paragraph separator).
public enum TraceValue {
    public static let maxLength = 256
    /// The same rule as a JSON Schema pattern.
    public static let pattern = "^(?! )(?!.* $)[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]{1,256}$"
    public static let hostPattern =
        "^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
    public static let countryPattern = "^[A-Z]{2}$"

    /// One line of text for a trace field.
    public static func check(_ text: String) throws(ValueError) -> String {
        guard !text.isEmpty else { throw ValueError("the text may not be empty; leave the key out instead") }
        guard text.unicodeScalars.count <= maxLength else {
            throw ValueError("the text is longer than \(maxLength) characters")
        }
        if let bad = text.unicodeScalars.first(where: isLineBreaking) {
            let code = String(bad.value, radix: 16, uppercase: true)
            throw ValueError(
                "the text holds U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code), a control character or line break; "
                    + "a trace file's value is one line of printable text")
        }
        guard text.first != " ", text.last != " " else {
            throw ValueError("the text begins or ends with a space, which a trace file's reader drops")
        }
        return text
    }

    static func isLineBreaking(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
    }

    /// The public host name the files are named after: a DNS name (letters, digits, '-', labels joined by '.').
    public static func host(_ text: String) throws(ValueError) -> String {
        guard !text.contains(":"), AgentURL.isHost(text) else {
            throw ValueError(
                "'\(text)' is not a host name; write the host's public DNS name, such as ftp1.example.org, which names its trace file"
            )
        }
        return text
    }

    /// ISO 3166's two capital letters.
    public static func country(_ text: String) throws(ValueError) -> String {
        guard text.utf8.count == 2, text.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw ValueError("'\(text)' is not a country code; write ISO 3166's two capital letters, such as DE")
        }
        return text
    }
}
