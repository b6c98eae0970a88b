import Foundation

/// Reads specs out of YAML nodes, recording every problem it finds instead of stopping at the first.
///
/// The same code reads `mirrors.d` and, later, specs that agents receive, so both are held to one standard.
public struct SpecDecoder: Sendable {
    public var diagnostics = Diagnostics()

    public init() {}

    /// Where a project's references were written, so that unresolved ones can be pointed at.
    public struct ProjectReferences: Sendable {
        public var upstream: SourceMark
        public var interval: SourceMark
        public var slaves: [(name: String, mark: SourceMark)]
        public var path: SourceMark
    }

    // MARK: - Objects

    public static let masterKeys = [
        "api", "tokenFile", "root", "rsyncd", "maxConcurrentSyncs", "publicStatus", "tls", "insecure", "trace",
    ]
    public static let tlsKeys = ["caFile"]
    public static let rsyncdKeys = ["address", "port", "slavesOnly", "maxConnections", "maxPerSlave"]
    /// An interval's and an upstream's keys, and a project's: from the one list of a project's fields.
    public static let intervalKeys = AgentProjectSpec.keys(of: "interval", inMirrorsD: true)
    public static let upstreamKeys = AgentProjectSpec.keys(of: "upstream", inMirrorsD: true)
    public static let slaveKeys = ["api", "publicDir", "tls", "insecure", "trace", "from", "rsyncd"]
    /// In mirrors.d, `upstream` and `interval` name objects and `slaves` may be `all`; the keys are the agent's.
    public static let projectKeys = AgentProjectSpec.keys

    // MARK: - Fields

    /// What a message is about, such as `project 'debian'`; spelled out only when a message needs it.
    public struct Subject: CustomStringConvertible, Sendable {
        public var kind: String
        public var name: String?

        public init(_ kind: String, _ name: String? = nil) {
            self.kind = kind
            self.name = name
        }

        public var description: String { name.map { "\(kind) '\($0)'" } ?? kind }
    }

    /// A mapping, checked against the keys its object knows.
    public struct Fields {
        public var node: YAMLNode
        public var what: Subject
        /// Where the object is written, for "missing key" errors.
        public var mark: SourceMark
        /// Known keys that an unknown key was reported as a misspelling of; they are not reported missing too.
        public var suggested: Set<String> = []

        public subscript(key: String) -> YAMLEntry? { node.entry(key) }
    }

    /// Words that mean a secret; as keys they get a pointed message rather than a bare "unknown key".
    static let secretWords = ["password", "passwd", "secret", "token", "credential"]

    public mutating func fields(_ node: YAMLNode, what: Subject, known: [String], at objectMark: SourceMark? = nil)
        -> Fields?
    {
        guard node.isMapping else {
            diagnostics.error(
                node.mark, "invalid-type", "\(what) must be a mapping of keys, but it is \(node.kindName)")
            return nil
        }
        var suggested = Set<String>()
        for entry in node.entries(notIn: known) {
            let lower = entry.key.lowercased()
            if Self.secretWords.contains(where: { lower.contains($0) }) && !lower.hasSuffix("file") {
                let fileKey = known.first {
                    $0.lowercased().hasSuffix("file") && Self.secretWords.contains(where: $0.lowercased().contains)
                }
                diagnostics.error(
                    entry.keyMark, "inline-secret",
                    "'\(entry.key)' in \(what) is not allowed: secrets never go inline; put the secret in a file of mode 0600"
                        + (fileKey.map { " and name it with '\($0)'" } ?? ""), field: entry.key)
            } else {
                let suggestion = Suggestion.closest(to: entry.key, among: known)
                if let suggestion { suggested.insert(suggestion) }
                diagnostics.error(
                    entry.keyMark, "unknown-key",
                    "unknown key '\(entry.key)' in \(what)\(suggestion.map { "; did you mean '\($0)'?" } ?? "")",
                    field: entry.key)
            }
        }
        return Fields(node: node, what: what, mark: objectMark ?? node.mark, suggested: suggested)
    }

    /// The text of a scalar that is meant as a string; any string, quoted or not, is taken as written.
    mutating func scalarText(_ node: YAMLNode, what: Subject, key: String) -> String? {
        scalarValue(node, what: what, key: key)?.text
    }

    mutating func scalarValue(_ node: YAMLNode, what: Subject, key: String) -> YAMLScalar? {
        guard let s = node.scalar, !s.isNull else {
            diagnostics.error(
                node.mark, "invalid-type",
                "\(what): \(key): expected a string, got \(node.kindName == "null" ? "nothing (null)" : node.kindName)",
                field: key)
            return nil
        }
        return s
    }

    mutating func optional<T>(_ f: Fields, _ key: String, _ parse: (String, YAMLScalar) throws(ValueError) -> T) -> T? {
        guard let entry = f[key], let scalar = scalarValue(entry.value, what: f.what, key: key) else { return nil }
        do throws(ValueError) {
            return try parse(scalar.text, scalar)
        } catch {
            diagnostics.error(entry.value.mark, "invalid-value", "\(f.what): \(key): \(error.message)", field: key)
            return nil
        }
    }

    mutating func required<T>(_ f: Fields, _ key: String, _ parse: (String, YAMLScalar) throws(ValueError) -> T) -> T? {
        guard f[key] != nil else {
            if !f.suggested.contains(key) {
                diagnostics.error(f.mark, "missing-key", "\(f.what) has no '\(key)', which it needs", field: key)
            }
            return nil
        }
        return optional(f, key, parse)
    }

    /// Only `true` or `false`: YAML 1.1's `yes`, `on` and friends are refused, not guessed at.
    mutating func boolean(_ f: Fields, _ key: String) -> Bool? {
        guard let entry = f[key] else { return nil }
        if case .scalar(let s) = entry.value.content, s.isPlain, s.text == "true" || s.text == "false" {
            return s.text == "true"
        }
        var got = entry.value.kindName
        if let s = entry.value.scalar, s.isPlain,
            ["yes", "no", "on", "off", "y", "n", "True", "False", "TRUE", "FALSE", "Yes", "No", "On", "Off"].contains(
                s.text)
        {
            got += ", which YAML 1.1 would read as a boolean"
        }
        diagnostics.error(
            entry.value.mark, "invalid-type", "\(f.what): \(key): expected true or false, got \(got)", field: key)
        return nil
    }

    /// A plain decimal integer in `range`: no quotes, signs, leading zeros or fractions.
    mutating func integer(_ f: Fields, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let entry = f[key] else { return nil }
        guard case .scalar(let s) = entry.value.content, s.isPlain, !s.text.isEmpty,
            s.text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), s.text == "0" || !s.text.hasPrefix("0"),
            let n = Int(s.text)
        else {
            diagnostics.error(
                entry.value.mark, "invalid-type",
                "\(f.what): \(key): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(entry.value.kindName)",
                field: key)
            return nil
        }
        guard range.contains(n) else {
            diagnostics.error(
                entry.value.mark, "invalid-value",
                "\(f.what): \(key): \(n) is outside \(range.lowerBound)...\(range.upperBound)", field: key)
            return nil
        }
        return n
    }

    /// A list of strings, each checked; every bad item is reported.
    mutating func list<T>(_ f: Fields, _ key: String, _ check: (String) throws(ValueError) -> T) -> [T]? {
        guard let entry = f[key] else { return nil }
        guard case .sequence(let items) = entry.value.content else {
            diagnostics.error(
                entry.value.mark, "invalid-type", "\(f.what): \(key): expected a list, got \(entry.value.kindName)",
                field: key)
            return nil
        }
        var out: [T] = []
        for item in items {
            guard let text = scalarText(item, what: f.what, key: key) else { continue }
            do throws(ValueError) {
                out.append(try check(text))
            } catch {
                diagnostics.error(item.mark, "invalid-value", "\(f.what): \(key): \(error.message)", field: key)
            }
        }
        return out
    }
}
