/// A field's value in its one canonical form: what the generation hashes and the plan compares.
public enum FieldValue: Sendable, Hashable {
    /// An optional field left out.
    case absent
    case text(String)
    case number(Int64)
    case flag(Bool)
    case list([String])
}

/// Which hosts hold a field of a project.
public enum FieldScope: String, Sendable {
    /// The master and every slave that serves the project: a slave's pull carries it as it is.
    case everyHost
    /// The master alone: a slave's pull leaves it out (what mirror lists show, who may push, the schedule, the stage).
    case masterOnly
    /// Where the master's copy comes from: a slave's pull comes from the master's module instead.
    case upstreamLeg
}

/// How a field enters a project's generation.
public enum FieldHashing: Sendable {
    /// Always, in its place among the fields every generation since `project/v2` has held, absent or not.
    case always
    /// Only when it is set, after every `always` field, with its path before its value: a field added later leaves
    /// the generation of every project that does not set it as it was, so an upgrade plans no update.
    case whenSet
}

/// One field of a project as an agent holds it (`AgentProjectSpec`), as mirrors.d writes it, and as
/// `PUT /v1/projects/{name}` carries it: one row of the field table, `AgentProjectSpec.fields`.
///
/// From the rows follow: the keys the decoder knows (and suggests with "did you mean"); the decoding and checking of
/// each key of a project and its upstream (`SpecDecoder`); which fields `defaults:` may set and how a project takes
/// them (`ProjectDefaults`); a slave's pull of the master's copy (`AgentProjectSpec.pull`); the generation
/// (`Generation.of`); the plan's field changes (`changes(to:)`); the JSON the API and the store carry (the tree's
/// fields; `UpstreamSpec` and `IntervalSpec` code themselves); and the schema's text for the field.
public struct ProjectField: Sendable {
    /// Its place in the spec, as the plan names it: `exclude`, `interval.every`, `upstream.url`.
    public let path: String
    /// Its canonical value.
    public let value: @Sendable (AgentProjectSpec) -> FieldValue
    /// Its value as the plan prints it; nil for a field left out.
    public let text: @Sendable (AgentProjectSpec) -> String?
    /// Which hosts hold it.
    public let scope: FieldScope
    /// How it enters the generation.
    public let hashing: FieldHashing
    /// Set by the reconciler for an agent, never written in mirrors.d.
    public let agentOnly: Bool
    /// Whether the site's `defaults:` may set it for every project that leaves it out.
    public let inDefaults: Bool
    /// How its key is read and checked.
    let decoding: FieldDecoding
    /// For a field of the tree: its JSON. The upstream, the interval and the slaves code themselves.
    let coding: TreeCoding?
    /// For a field of the upstream that a slave's pull holds: what it gives the pull's upstream, from the master's spec.
    let carry: (@Sendable (inout UpstreamSpec, AgentProjectSpec) -> Void)?
    /// For a field of the tree that a slave's pull does not hold: sets it back to its default in the pull's copy of
    /// the tree (which holds every other field of the tree as the master's does).
    let leave: (@Sendable (inout TreeSpec) -> Void)?
    /// For a field `defaults:` may set: a project that leaves it out takes the defaults' value.
    let inherit: (@Sendable (inout TreeSpec, TreeSpec) -> Void)?
    /// Its JSON Schema, for editors and the configuration reference (`ConfigSchema`); nil for a field mirrors.d
    /// cannot write.
    public private(set) var schema: JSONValue?
    /// For the row that carries a whole object (`hooks`): the object's own schema under the project's key.
    public private(set) var objectSchema: JSONValue?

    init(
        _ path: String, _ value: @escaping @Sendable (AgentProjectSpec) -> FieldValue,
        text: @escaping @Sendable (AgentProjectSpec) -> String?, scope: FieldScope, hashing: FieldHashing = .always,
        agentOnly: Bool = false, decoding: FieldDecoding, coding: TreeCoding? = nil,
        carry: (@Sendable (inout UpstreamSpec, AgentProjectSpec) -> Void)? = nil,
        leave: (@Sendable (inout TreeSpec) -> Void)? = nil,
        inherit: (@Sendable (inout TreeSpec, TreeSpec) -> Void)? = nil
    ) {
        self.path = path
        self.value = value
        self.text = text
        self.scope = scope
        self.hashing = hashing
        self.agentOnly = agentOnly
        self.inDefaults = inherit != nil
        self.decoding = decoding
        self.coding = coding
        self.carry = carry
        self.leave = leave
        self.inherit = inherit
    }

    /// The row with its schema (and, for the row that carries a whole object, the object's).
    func described(_ schema: JSONValue, object: JSONValue? = nil) -> ProjectField {
        var row = self
        row.schema = schema
        row.objectSchema = object
        return row
    }

    /// The key in the project's mapping: `upstream` for `upstream.url`.
    public var key: String { String(path.prefix { $0 != "." }) }

    /// The key inside its object (`url` for `upstream.url`), or nil for a key of the project itself.
    public var subkey: String? { path.firstIndex(of: ".").map { String(path[path.index(after: $0)...]) } }
}

/// How a field's key is read out of YAML (mirrors.d, or a `PUT` body read as YAML) and checked: each decoder records
/// its own errors, at the value's file:line:column, and gives nil for a key left out or refused.
enum FieldDecoding: Sendable {
    /// A key of the project's own mapping, into its tree.
    case tree(@Sendable (inout SpecDecoder, SpecDecoder.Fields, inout TreeSpec) -> Void)
    /// A key of an upstream's mapping.
    case upstream(@Sendable (inout SpecDecoder, SpecDecoder.Fields, inout UpstreamSpec) -> Void)
    /// Read with its whole object, whose rules span its keys: an interval (`every` or `cron`), a project's
    /// references by name and its slaves.
    case withObject
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
