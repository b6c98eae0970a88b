/// A field's value in its one canonical form: what the generation hashes and the plan compares.
public enum FieldValue: Sendable, Hashable {
    /// An optional field left out.
    case absent
    case text(String)
    case number(Int64)
    case flag(Bool)
    case list([String])
}

/// One field of a project as an agent holds it (`AgentProjectSpec`), and as mirrors.d and `PUT /v1/projects/{name}`
/// name it.
///
/// `AgentProjectSpec.fields` lists every field once, in a fixed order. From that list follow: the keys the decoder
/// knows (and suggests with "did you mean") for a project, its upstream and its interval; the generation
/// (`Generation.of`); the plan's field changes (`changes(to:)`); and, by the tests, the JSON the API and the store
/// carry. A new field is a row here, its validation rule in `SpecDecoder`, and its use.
public struct ProjectField: Sendable {
    /// Its place in the spec, as the plan names it: `exclude`, `interval.every`, `upstream.url`.
    public let path: String
    /// Its canonical value.
    public let value: @Sendable (AgentProjectSpec) -> FieldValue
    /// Its value as the plan prints it; nil for a field left out.
    public let text: @Sendable (AgentProjectSpec) -> String?
    /// Set by the reconciler for an agent, never written in mirrors.d.
    public let agentOnly: Bool

    init(_ path: String, _ value: @escaping @Sendable (AgentProjectSpec) -> FieldValue,
         text: @escaping @Sendable (AgentProjectSpec) -> String?, agentOnly: Bool = false) {
        self.path = path
        self.value = value
        self.text = text
        self.agentOnly = agentOnly
    }

    /// The key in the project's mapping: `upstream` for `upstream.url`.
    public var key: String { String(path.prefix { $0 != "." }) }

    /// The key inside its object (`url` for `upstream.url`), or nil for a key of the project itself.
    public var subkey: String? { path.firstIndex(of: ".").map { String(path[path.index(after: $0)...]) } }
}

extension ProjectField {
    static func text(_ path: String, _ get: @escaping @Sendable (AgentProjectSpec) -> String) -> ProjectField {
        ProjectField(path, { .text(get($0)) }, text: { get($0) })
    }

    static func optionalText(_ path: String, _ get: @escaping @Sendable (AgentProjectSpec) -> String?) -> ProjectField {
        ProjectField(path, { get($0).map(FieldValue.text) ?? .absent }, text: { get($0) })
    }

    static func span(_ path: String, _ get: @escaping @Sendable (AgentProjectSpec) -> TimeSpan?) -> ProjectField {
        ProjectField(path, { get($0).map { .number(Int64($0.seconds)) } ?? .absent }, text: { get($0)?.description })
    }

    static func list(_ path: String, _ get: @escaping @Sendable (AgentProjectSpec) -> [String]) -> ProjectField {
        ProjectField(path, { .list(get($0)) }, text: { "[" + get($0).map { "\"\($0)\"" }.joined(separator: ", ") + "]" })
    }
}

extension AgentProjectSpec {
    /// Every field of a project, in the order the generation walks them.
    public static let fields: [ProjectField] = [
        .text("upstream.url") { $0.upstream.url.description },
        .optionalText("upstream.passwordFile") { $0.upstream.passwordFile },
        ProjectField("upstream.credential", { $0.upstream.credential.map { .text($0.rawValue) } ?? .absent },
                     text: { $0.upstream.credential?.rawValue }, agentOnly: true),
        .span("upstream.timeout") { $0.upstream.timeout },
        .span("upstream.ioTimeout") { $0.upstream.ioTimeout },
        ProjectField("upstream.bandwidthLimit", { $0.upstream.bandwidthLimit.map { .number($0.bytes) } ?? .absent },
                     text: { $0.upstream.bandwidthLimit?.description }),
        ProjectField("source", { .text($0.source) }, text: { $0.source.isEmpty ? nil : $0.source }),
        .text("path") { $0.path },
        .span("interval.every") { $0.interval.every },
        .span("interval.jitter") { $0.interval.jitter },
        .optionalText("interval.cron") { $0.interval.cron?.text },
        .optionalText("interval.timezone") { $0.interval.timezone },
        .list("exclude") { $0.exclude },
        .list("twoStage") { $0.twoStage },
        .list("rsyncOptions") { $0.rsyncOptions },
        ProjectField("suspended", { .flag($0.suspended) }, text: { $0.suspended ? "true" : "false" }),
        .span("timeout") { $0.timeout },
        // "10%" and "10" differ: the text is canonical.
        ProjectField("maxDelete", { .text($0.maxDelete.description) }, text: { $0.maxDelete.description }),
        .list("slaves") { $0.slaves },
    ]

    /// The keys of a project's mapping, in the fields' order.
    public static let keys: [String] = fields.map(\.key).reduce(into: []) { keys, key in if !keys.contains(key) { keys.append(key) } }

    /// The keys of one of its objects (`upstream`, `interval`): as an agent reads them, or as mirrors.d writes them.
    public static func keys(of object: String, inMirrorsD: Bool = false) -> [String] {
        fields.filter { $0.key == object && !(inMirrorsD && $0.agentOnly) }.compactMap(\.subkey)
    }

    /// The fields that differ from `new`, sorted by path: what the plan shows for an update.
    public func changes(to new: AgentProjectSpec) -> [FieldChange] {
        Self.sortedFields.compactMap { field in
            field.value(self) == field.value(new) ? nil : FieldChange(path: field.path, old: field.text(self), new: field.text(new))
        }
    }

    static let sortedFields = fields.sorted { $0.path < $1.path }
}
