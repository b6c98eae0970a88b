/// A field's value in its one canonical form: what the generation hashes and the plan compares.
public enum FieldValue: Sendable, Hashable {
    /// An optional field left out.
    case absent
    case text(String)
    case number(Int64)
    case flag(Bool)
    case list([String])
}

/// What a project copies, where it puts it and how: the fields that a project in mirrors.d, the master's copy of it
/// and each slave's pull share. A field added here reaches the master and every slave with no other change (a
/// slave's pull differs only in `source` and `timeout`, which go into its pull from the master's module, and leaves out
/// what mirror lists show: `cname`, `desc`, `help`).
public struct TreeSpec: Sendable, Hashable {
    /// The path inside the upstream; empty for the upstream's whole tree.
    public var source = ""
    /// The path under the master's root and each slave's publicDir.
    public var path: String
    public var exclude: [String] = []
    /// Patterns synced, with deletions, in a second pass (index files such as `Packages*`, `Release*`).
    public var twoStage: [String] = []
    public var rsyncOptions: [String] = []
    /// A suspended project keeps its files and runs no sync.
    public var suspended = false
    /// Overrides the upstream's timeout for this project.
    public var timeout: TimeSpan?
    /// How much one sync may delete before it is stopped with nothing deleted.
    public var maxDelete = DeletionLimit.default
    /// How mirror lists name the project (mirrorz's `cname`); its name when absent. The master alone holds it.
    public var cname: String?
    /// A line about the project for mirror lists (mirrorz's `desc`). The master alone holds it.
    public var desc: String?
    /// Where its help page is: a path on the site or a whole URL (mirrorz's `help`). The master alone holds it.
    public var help: String?
    /// Debian trace files (`project/trace/<host>`, `_traces`, the in-progress marker): true writes them, false never;
    /// nil (left out) writes them when the tree has a `project/trace/` directory, which its upstream brought.
    public var trace: Bool?
    /// Programs run after each sync on the host that ran it.
    public var hooks: HookSpec?
    /// How a sync makes the tree public: in place, or by switching whole revisions at once.
    public var publish = PublishMode.inPlace
    /// With `twoStage`, `site` holds every slave's second stage until every reachable slave has finished its first
    /// (ftpsync's staged mode). The master alone holds it: a slave learns the stage from each trigger.
    public var stage = StageMode.host
    /// The file on the master holding the token with which the upstream announces a new tree; overrides the
    /// upstream's `pushTokenFile`. The master alone holds it.
    public var pushTokenFile: String?
    /// How many run logs (rsync's output of each run) the agent keeps for the project; nil keeps
    /// `defaultLogRetention`. Left out of the JSON when nil, so projects written before it keep their generation.
    public var logRetention: Int?

    /// The run logs kept when a project names no `logRetention`.
    public static let defaultLogRetention = 20
    /// The most run logs a project may keep.
    public static let logRetentionRange = 1...10_000

    /// The fields of a tree as they were first written; a field added later keeps its default here and is set by
    /// name.
    public init(
        source: String = "", path: String, exclude: [String] = [], twoStage: [String] = [], rsyncOptions: [String] = [],
        suspended: Bool = false, timeout: TimeSpan? = nil, maxDelete: DeletionLimit = .default
    ) {
        self.source = source
        self.path = path
        self.exclude = exclude
        self.twoStage = twoStage
        self.rsyncOptions = rsyncOptions
        self.suspended = suspended
        self.timeout = timeout
        self.maxDelete = maxDelete
    }

    /// Reads the tree's fields out of the project's JSON object, each as its row in `AgentProjectSpec.fields` says.
    init(from container: KeyedDecodingContainer<FieldKey>) throws {
        self.init(path: "")
        for coding in AgentProjectSpec.treeCodings { try coding.decode(container, &self) }
    }

    func encode(into container: inout KeyedEncodingContainer<FieldKey>) throws {
        for coding in AgentProjectSpec.treeCodings { try coding.encode(self, &container) }
    }
}

/// One field of a project as an agent holds it (`AgentProjectSpec`), and as mirrors.d and `PUT /v1/projects/{name}`
/// name it.
///
/// `AgentProjectSpec.fields` lists every field once, in a fixed order. From that list follow: the keys the decoder
/// knows (and suggests with "did you mean") for a project, its upstream and its interval; the generation
/// (`Generation.of`); the plan's field changes (`changes(to:)`); and the JSON the API and the store carry (the
/// tree's fields through their key paths; `UpstreamSpec` and `IntervalSpec` code themselves).
///
/// A new field of a project is a property of `TreeSpec` (mirrors.d, the master and every slave hold it with no
/// other change), a row here, its validation rule in `SpecDecoder.tree`, and its use.
public struct ProjectField: Sendable {
    /// Its place in the spec, as the plan names it: `exclude`, `interval.every`, `upstream.url`.
    public let path: String
    /// Its canonical value.
    public let value: @Sendable (AgentProjectSpec) -> FieldValue
    /// Its value as the plan prints it; nil for a field left out.
    public let text: @Sendable (AgentProjectSpec) -> String?
    /// Set by the reconciler for an agent, never written in mirrors.d.
    public let agentOnly: Bool
    /// For a field of the tree: its JSON. The upstream, the interval and the slaves code themselves.
    let coding: TreeCoding?

    init(
        _ path: String, _ value: @escaping @Sendable (AgentProjectSpec) -> FieldValue,
        text: @escaping @Sendable (AgentProjectSpec) -> String?, agentOnly: Bool = false, coding: TreeCoding? = nil
    ) {
        self.path = path
        self.value = value
        self.text = text
        self.agentOnly = agentOnly
        self.coding = coding
    }

    /// The key in the project's mapping: `upstream` for `upstream.url`.
    public var key: String { String(path.prefix { $0 != "." }) }

    /// The key inside its object (`url` for `upstream.url`), or nil for a key of the project itself.
    public var subkey: String? { path.firstIndex(of: ".").map { String(path[path.index(after: $0)...]) } }
}

/// A key of a project's JSON object.
struct FieldKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ key: String) { stringValue = key }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// How a field of a project's tree reads itself from, and writes itself into, the project's JSON object.
struct TreeCoding: Sendable {
    let decode: @Sendable (KeyedDecodingContainer<FieldKey>, inout TreeSpec) throws -> Void
    let encode: @Sendable (TreeSpec, inout KeyedEncodingContainer<FieldKey>) throws -> Void
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

    /// A field of the project's tree (`TreeSpec`): `get` gives its canonical value and its text (a closure such as
    /// `{ $0.exclude }`, not a key path, which is not compiled to direct access: the generation walks these for every
    /// project of a large site),
    /// `set` its JSON's decoding, and `get` its encoding. `required` fields must be in the JSON; a value `omit` picks
    /// is left out of it.
    static func tree<T: Codable & Sendable>(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> T,
        _ set: @escaping @Sendable (inout TreeSpec, T) -> Void,
        required: Bool = false, omit: @escaping @Sendable (T) -> Bool = { _ in false },
        value: @escaping @Sendable (T) -> FieldValue, text: @escaping @Sendable (T) -> String?
    ) -> ProjectField {
        ProjectField(
            path, { value(get($0.tree)) }, text: { text(get($0.tree)) },
            coding: coding(path, get, set, required: required, omit: omit))
    }

    /// The JSON of a field of the tree under `path`.
    static func coding<T: Codable & Sendable>(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> T,
        _ set: @escaping @Sendable (inout TreeSpec, T) -> Void, required: Bool = false,
        omit: @escaping @Sendable (T) -> Bool
    ) -> TreeCoding {
        let key = FieldKey(path)
        return TreeCoding(
            decode: { container, tree in
                if let decoded = try container.decodeIfPresent(T.self, forKey: key) {
                    set(&tree, decoded)
                } else if required {
                    throw DecodingError.keyNotFound(
                        key, .init(codingPath: container.codingPath, debugDescription: "a project needs '\(path)'"))
                }
            },
            encode: { tree, container in
                let value = get(tree)
                if !omit(value) { try container.encode(value, forKey: key) }
            })
    }

    static func treeSpan(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> TimeSpan?,
        _ set: @escaping @Sendable (inout TreeSpec, TimeSpan?) -> Void
    ) -> ProjectField {
        tree(
            path, get, set, omit: { $0 == nil }, value: { $0.map { .number(Int64($0.seconds)) } ?? .absent },
            text: { $0?.description })
    }

    static func treeText(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> String?,
        _ set: @escaping @Sendable (inout TreeSpec, String?) -> Void
    ) -> ProjectField {
        tree(path, get, set, omit: { $0 == nil }, value: { $0.map(FieldValue.text) ?? .absent }, text: { $0 })
    }

    static func treeList(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> [String],
        _ set: @escaping @Sendable (inout TreeSpec, [String]) -> Void
    ) -> ProjectField {
        tree(path, get, set, value: { .list($0) }, text: { "[" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]" })
    }

    static func list(_ path: String, _ get: @escaping @Sendable (AgentProjectSpec) -> [String]) -> ProjectField {
        ProjectField(
            path, { .list(get($0)) }, text: { "[" + get($0).map { "\"\($0)\"" }.joined(separator: ", ") + "]" })
    }

    /// A hook's argv: absent when the project has none for its event. `coding`: the row that carries the JSON of
    /// the whole `hooks` object, which codes itself.
    static func hook(_ path: String, _ get: @escaping @Sendable (HookSpec) -> [String]?, coding: TreeCoding? = nil)
        -> ProjectField
    {
        ProjectField(
            path, { $0.hooks.flatMap(get).map(FieldValue.list) ?? .absent },
            text: { $0.hooks.flatMap(get).map { "[" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]" } },
            coding: coding)
    }
}

extension AgentProjectSpec {
    /// Every field of a project, in the order the generation walks them.
    public static let fields: [ProjectField] = [
        .text("upstream.url") { $0.upstream.url.description },
        .optionalText("upstream.passwordFile") { $0.upstream.passwordFile },
        ProjectField(
            "upstream.credential", { $0.upstream.credential.map { .text($0.rawValue) } ?? .absent },
            text: { $0.upstream.credential?.rawValue }, agentOnly: true),
        .span("upstream.timeout") { $0.upstream.timeout },
        .span("upstream.ioTimeout") { $0.upstream.ioTimeout },
        .optionalText("upstream.pushTokenFile") { $0.upstream.pushTokenFile },
        ProjectField(
            "upstream.bandwidthLimit", { $0.upstream.bandwidthLimit.map { .number($0.bytes) } ?? .absent },
            text: { $0.upstream.bandwidthLimit?.description }),
        .tree(
            "source", { $0.source }, { $0.source = $1 }, omit: { $0.isEmpty }, value: { .text($0) },
            text: { $0.isEmpty ? nil : $0 }),
        .tree("path", { $0.path }, { $0.path = $1 }, required: true, value: { .text($0) }, text: { $0 }),
        .span("interval.every") { $0.interval.every },
        .span("interval.jitter") { $0.interval.jitter },
        .optionalText("interval.cron") { $0.interval.cron?.text },
        .optionalText("interval.timezone") { $0.interval.timezone },
        .treeList("exclude", { $0.exclude }) { $0.exclude = $1 },
        .treeList("twoStage", { $0.twoStage }) { $0.twoStage = $1 },
        .treeList("rsyncOptions", { $0.rsyncOptions }) { $0.rsyncOptions = $1 },
        .tree(
            "suspended", { $0.suspended }, { $0.suspended = $1 }, value: { .flag($0) }, text: { $0 ? "true" : "false" }),
        .treeSpan("timeout", { $0.timeout }) { $0.timeout = $1 },
        // "10%" and "10" differ: the text is canonical.
        .tree(
            "maxDelete", { $0.maxDelete }, { $0.maxDelete = $1 }, value: { .text($0.description) },
            text: { $0.description }),
        .tree(
            "publish", { $0.publish }, { $0.publish = $1 }, omit: { $0 == .inPlace }, value: { .text($0.rawValue) },
            text: { $0.rawValue }),
        .tree(
            "stage", { $0.stage }, { $0.stage = $1 }, omit: { $0 == .host }, value: { .text($0.rawValue) },
            text: { $0.rawValue }),
        .tree(
            "trace", { $0.trace }, { $0.trace = $1 }, omit: { $0 == nil },
            value: { $0.map(FieldValue.flag) ?? .absent }, text: { $0.map { $0 ? "true" : "false" } }),
        .hook(
            "hooks.onSuccess", { $0.onSuccess },
            coding: ProjectField.coding("hooks", { $0.hooks }, { $0.hooks = $1 }, omit: { $0 == nil })),
        .hook("hooks.onFailure", { $0.onFailure }),
        .span("hooks.timeout") { $0.hooks?.timeout },
        .tree(
            "logRetention", { $0.logRetention }, { $0.logRetention = $1 }, omit: { $0 == nil },
            value: { $0.map { FieldValue.number(Int64($0)) } ?? .absent }, text: { $0.map(String.init) }),
        .list("slaves") { $0.slaves },
        // What mirror lists show of the project (GET /mirrorz.json); a slave's pull leaves them out.
        .treeText("cname", { $0.cname }) { $0.cname = $1 },
        .treeText("desc", { $0.desc }) { $0.desc = $1 },
        .treeText("help", { $0.help }) { $0.help = $1 },
        // Who may announce a new tree is the master's to check: a slave's pull leaves it out.
        .treeText("pushTokenFile", { $0.pushTokenFile }) { $0.pushTokenFile = $1 },
    ]

    /// The fields of the project's tree, which code themselves into its JSON object.
    static let treeCodings: [TreeCoding] = fields.compactMap(\.coding)

    /// The keys of a project's mapping, in the fields' order.
    public static let keys: [String] = fields.map(\.key).reduce(into: []) { keys, key in
        if !keys.contains(key) { keys.append(key) }
    }

    /// The keys of one of its objects (`upstream`, `interval`): as an agent reads them, or as mirrors.d writes them.
    public static func keys(of object: String, inMirrorsD: Bool = false) -> [String] {
        fields.filter { $0.key == object && !(inMirrorsD && $0.agentOnly) }.compactMap(\.subkey)
    }

    /// The fields that differ from `new`, sorted by path: what the plan shows for an update.
    public func changes(to new: AgentProjectSpec) -> [FieldChange] {
        Self.sortedFields.compactMap { field in
            field.value(self) == field.value(new)
                ? nil : FieldChange(path: field.path, old: field.text(self), new: field.text(new))
        }
    }

    static let sortedFields = fields.sorted { $0.path < $1.path }
}
