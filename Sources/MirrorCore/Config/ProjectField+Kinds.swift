// The kinds of rows the field table is written in: each makes, from a field's getter, setter and rules, everything a
// row says (its canonical value and text, its decoding, its JSON, what a slave's pull and `defaults:` do with it).
// The getters are closures such as `{ $0.exclude }`, not key paths, which are not compiled to direct access: the
// generation walks these for every project of a large site.

extension ProjectField {
    /// A field of the project's tree (`TreeSpec`). `omit`: the values left out of the JSON, which are also what "left
    /// out" means for `defaults:` and for `hashing: .whenSet`; `required` fields must be in the JSON.
    static func tree<T: Codable & Sendable>(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> T,
        _ set: @escaping @Sendable (inout TreeSpec, T) -> Void, scope: FieldScope = .everyHost,
        hashing: FieldHashing = .always, required: Bool = false, inDefaults: Bool = false,
        omit: @escaping @Sendable (T) -> Bool = { _ in false }, value: @escaping @Sendable (T) -> FieldValue,
        text: @escaping @Sendable (T) -> String?,
        decode: @escaping @Sendable (inout SpecDecoder, SpecDecoder.Fields) -> T?,
        direct: (@Sendable (AgentProjectSpec) -> FieldValue)? = nil
    ) -> ProjectField {
        let decoding: FieldDecoding = .tree { decoder, fields, tree in
            if let decoded = decode(&decoder, fields) { set(&tree, decoded) }
        }
        // A pull copies the master's tree whole: a field it does not hold goes back to its default.
        // Its default is taken once, here: a pull is built for every project of a large site's plan.
        var leave: (@Sendable (inout TreeSpec) -> Void)? = nil
        if scope != .everyHost {
            let initial = get(TreeSpec.blank)
            leave = { tree in set(&tree, initial) }
        }
        var inherit: (@Sendable (inout TreeSpec, TreeSpec) -> Void)? = nil
        if inDefaults { inherit = { tree, defaults in if omit(get(tree)) { set(&tree, get(defaults)) } } }
        return ProjectField(
            path, direct ?? { value(get($0.tree)) }, text: { text(get($0.tree)) }, scope: scope, hashing: hashing,
            decoding: decoding, coding: coding(path, get, set, required: required, omit: omit), leave: leave,
            inherit: inherit)
    }

    static func treeSpan(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> TimeSpan?,
        _ set: @escaping @Sendable (inout TreeSpec, TimeSpan?) -> Void, scope: FieldScope = .everyHost,
        hashing: FieldHashing = .always, inDefaults: Bool = false
    ) -> ProjectField {
        tree(
            path, get, set, scope: scope, hashing: hashing, inDefaults: inDefaults, omit: { $0 == nil },
            value: Canonical.span, text: { $0?.description },
            decode: { d, f in d.optional(f, path) { text, _ throws(ValueError) in try TimeSpan.parse(text) } },
            direct: { Canonical.span(get($0.tree)) })
    }

    /// An optional text of the tree, checked by `check`.
    static func treeText(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> String?,
        _ set: @escaping @Sendable (inout TreeSpec, String?) -> Void, scope: FieldScope = .everyHost,
        hashing: FieldHashing = .always, check: @escaping @Sendable (String) throws(ValueError) -> String
    ) -> ProjectField {
        tree(
            path, get, set, scope: scope, hashing: hashing, omit: { $0 == nil },
            value: { $0.map(FieldValue.text) ?? .absent },
            text: { $0 }, decode: { d, f in d.optional(f, path) { text, _ throws(ValueError) in try check(text) } },
            direct: { Canonical.text(get($0.tree)) })
    }

    /// A list of rsync patterns or options of the tree, each checked by `check`.
    static func treeList(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> [String],
        _ set: @escaping @Sendable (inout TreeSpec, [String]) -> Void,
        check: @escaping @Sendable (String) throws(ValueError) -> Void
    ) -> ProjectField {
        tree(
            path, get, set, value: { .list($0) }, text: Canonical.listText,
            decode: { d, f in
                d.list(f, path) { (text: String) throws(ValueError) -> String in
                    try check(text)
                    return text
                }
            }, direct: { .list(get($0.tree)) })
    }

    /// An enumeration of the tree, written as its raw value; `initial` is left out of the JSON.
    static func treeChoice<T: RawRepresentable & Codable & Sendable & Equatable>(
        _ path: String, _ get: @escaping @Sendable (TreeSpec) -> T,
        _ set: @escaping @Sendable (inout TreeSpec, T) -> Void, initial: T, scope: FieldScope = .everyHost,
        parse: @escaping @Sendable (String) throws(ValueError) -> T
    ) -> ProjectField where T.RawValue == String {
        tree(
            path, get, set, scope: scope, omit: { $0 == initial }, value: { .text($0.rawValue) },
            text: { $0.rawValue },
            decode: { d, f in d.optional(f, path) { text, _ throws(ValueError) in try parse(text) } }
        )
    }

    /// A hook's argv: absent when the project has none for its event. `whole`: the row that carries the `hooks`
    /// object itself (its JSON, its decoding, `defaults:`), which holds every event and the timeout.
    static func hook(_ path: String, _ get: @escaping @Sendable (HookSpec) -> [String]?, whole: Bool = false)
        -> ProjectField
    {
        let hooks: @Sendable (TreeSpec) -> HookSpec? = { $0.hooks }
        let setHooks: @Sendable (inout TreeSpec, HookSpec?) -> Void = { $0.hooks = $1 }
        let decoding: FieldDecoding
        var inherit: (@Sendable (inout TreeSpec, TreeSpec) -> Void)? = nil
        if whole {
            decoding = .tree { d, f, tree in
                if let entry = f["hooks"] {
                    tree.hooks = d.hooks(entry.value, what: SpecDecoder.hooksSubject(of: f.what))
                }
            }
            inherit = { tree, defaults in if tree.hooks == nil { tree.hooks = defaults.hooks } }
        } else {
            decoding = .withObject
        }
        let value: @Sendable (AgentProjectSpec) -> FieldValue = {
            $0.hooks.flatMap(get).map(FieldValue.list) ?? .absent
        }
        let text: @Sendable (AgentProjectSpec) -> String? = { $0.hooks.flatMap(get).map(Canonical.listText) }
        return ProjectField(
            path, value, text: text, scope: .everyHost, decoding: decoding,
            coding: whole ? coding("hooks", hooks, setHooks, omit: { $0 == nil }) : nil,
            inherit: inherit)
    }

    /// A field of the upstream: `UpstreamSpec` codes itself. `decode` nil: read with the whole upstream.
    static func upstream<T: Sendable>(
        _ subkey: String, _ get: @escaping @Sendable (UpstreamSpec) -> T,
        _ set: @escaping @Sendable (inout UpstreamSpec, T) -> Void, scope: FieldScope,
        hashing: FieldHashing = .always, agentOnly: Bool = false, value: @escaping @Sendable (T) -> FieldValue,
        text: @escaping @Sendable (T) -> String?,
        carry: (@Sendable (inout UpstreamSpec, AgentProjectSpec) -> Void)? = nil,
        decode: (@Sendable (inout SpecDecoder, SpecDecoder.Fields) -> T?)?
    ) -> ProjectField {
        var decoding = FieldDecoding.withObject
        if let decode {
            decoding = .upstream { decoder, fields, upstream in
                if let decoded = decode(&decoder, fields) { set(&upstream, decoded) }
            }
        }
        var carried = carry
        if carried == nil && scope == .everyHost { carried = { pull, spec in set(&pull, get(spec.upstream)) } }
        return ProjectField(
            "upstream." + subkey, { value(get($0.upstream)) }, text: { text(get($0.upstream)) }, scope: scope,
            hashing: hashing, agentOnly: agentOnly, decoding: decoding, carry: carried)
    }

    /// An optional absolute path of the upstream (a file the master reads).
    static func upstreamFile(
        _ subkey: String, _ get: @escaping @Sendable (UpstreamSpec) -> String?,
        _ set: @escaping @Sendable (inout UpstreamSpec, String?) -> Void
    ) -> ProjectField {
        upstream(
            subkey, get, set, scope: .upstreamLeg, value: { $0.map(FieldValue.text) ?? .absent }, text: { $0 },
            decode: { d, f in d.optional(f, subkey) { text, _ throws(ValueError) in try AbsolutePath.normalize(text) } }
        )
    }

    /// A field of the interval, read with the whole interval (`every` or `cron`); the master's schedule alone: a
    /// slave pulls on the master's trigger, and on its own fallback interval.
    static func interval<T: Sendable>(
        _ subkey: String, _ get: @escaping @Sendable (IntervalSpec) -> T, value: @escaping @Sendable (T) -> FieldValue,
        text: @escaping @Sendable (T) -> String?
    ) -> ProjectField {
        ProjectField(
            "interval." + subkey, { value(get($0.interval)) }, text: { text(get($0.interval)) }, scope: .masterOnly,
            decoding: .withObject)
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
}

/// The canonical values and texts the rows share.
enum Canonical {
    @Sendable static func span(_ span: TimeSpan?) -> FieldValue { span.map { .number(Int64($0.seconds)) } ?? .absent }
    @Sendable static func text(_ text: String?) -> FieldValue { text.map(FieldValue.text) ?? .absent }
    @Sendable static func flag(_ flag: Bool?) -> String? { flag.map { $0 ? "true" : "false" } }
    /// A program's variables as `NAME=value`, sorted by name.
    @Sendable static func variables(_ env: [String: String]) -> [String] {
        env.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }
    }
    @Sendable static func listText(_ list: [String]) -> String {
        "[" + list.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }
}
