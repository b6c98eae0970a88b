// The field table: every field of a project, one row each. A new field is a property (of `TreeSpec`, or of
// `UpstreamSpec` for a field of the upstream), its row here with `hashing: .whenSet` at the end of the table, its
// schema text (`ConfigSchema`), and its use; its test is a row of `ProjectFieldTableTests`.

extension AgentProjectSpec {
    /// Every field of a project, in the order the generation walks them.
    public static let fields: [ProjectField] = [
        .upstream(
            "url", { $0.url }, { $0.url = $1 }, scope: .upstreamLeg, value: { .text($0.description) },
            text: { $0.description }, decode: nil),
        .upstreamFile("passwordFile", { $0.passwordFile }) { $0.passwordFile = $1 },
        // The reconciler names the site's credential in every slave's pull; the pull gets it from there, not from
        // the master's spec.
        .upstream(
            "credential", { $0.credential }, { $0.credential = $1 }, scope: .upstreamLeg, agentOnly: true,
            value: { Canonical.text($0?.rawValue) }, text: { $0?.rawValue },
            decode: { d, f in
                d.optional(f, "credential") { text, _ throws(ValueError) in
                    guard let credential = UpstreamCredential(rawValue: text) else {
                        throw ValueError("'\(text)' is not a credential; the one there is is 'site'")
                    }
                    return credential
                }
            }),
        // A slave's pull from the master's module may take as long as the master's run of the project.
        .upstream(
            "timeout", { $0.timeout }, { $0.timeout = $1 }, scope: .everyHost, value: Canonical.span,
            text: { $0.description }, carry: { pull, spec in pull.upstream.timeout = spec.runTimeout },
            decode: { d, f in d.optional(f, "timeout") { text, _ throws(ValueError) in try TimeSpan.parse(text) } }),
        .upstream(
            "ioTimeout", { $0.ioTimeout }, { $0.ioTimeout = $1 }, scope: .everyHost, value: Canonical.span,
            text: { $0.description },
            decode: { d, f in d.optional(f, "ioTimeout") { text, _ throws(ValueError) in try TimeSpan.parse(text) } }),
        .upstreamFile("pushTokenFile", { $0.pushTokenFile }) { $0.pushTokenFile = $1 },
        .upstream(
            "bandwidthLimit", { $0.bandwidthLimit }, { $0.bandwidthLimit = $1 }, scope: .upstreamLeg,
            value: { $0.map { .number($0.bytes) } ?? .absent }, text: { $0?.description },
            decode: { d, f in
                d.optional(f, "bandwidthLimit") { text, _ throws(ValueError) in try ByteSize.parse(text) }
            }),
        .tree(
            "source", { $0.source }, { $0.source = $1 }, scope: .upstreamLeg, omit: { $0.isEmpty },
            value: { .text($0) }, text: { $0.isEmpty ? nil : $0 },
            decode: { d, f in d.optional(f, "source") { text, _ throws(ValueError) in try MirrorPath.normalize(text) } }
        ),
        // Left out, the project's name (the tree starts with it).
        .tree(
            "path", { $0.path }, { $0.path = $1 }, required: true, value: { .text($0) }, text: { $0 },
            decode: { d, f in d.optional(f, "path") { text, _ throws(ValueError) in try MirrorPath.normalize(text) } }),
        .interval("every", { $0.every }, value: Canonical.span, text: { $0?.description }),
        .interval("jitter", { $0.jitter }, value: Canonical.span, text: { $0?.description }),
        .interval("cron", { $0.cron?.text }, value: Canonical.text, text: { $0 }),
        .interval("timezone", { $0.timezone }, value: Canonical.text, text: { $0 }),
        .treeList("exclude", { $0.exclude }, { $0.exclude = $1 }, check: RsyncPolicy.checkPattern),
        .treeList("twoStage", { $0.twoStage }, { $0.twoStage = $1 }, check: RsyncPolicy.checkPattern),
        .treeList("rsyncOptions", { $0.rsyncOptions }, { $0.rsyncOptions = $1 }, check: RsyncPolicy.checkOption),
        .tree(
            "suspended", { $0.suspended }, { $0.suspended = $1 }, value: { .flag($0) }, text: Canonical.flag,
            decode: { d, f in d.boolean(f, "suspended") }),
        // A slave's pull takes the whole run's timeout as its upstream's (above).
        .treeSpan("timeout", { $0.timeout }, { $0.timeout = $1 }, scope: .upstreamLeg),
        // "10%" and "10" differ: the text is canonical.
        .tree(
            "maxDelete", { $0.maxDelete }, { $0.maxDelete = $1 }, value: { .text($0.description) },
            text: { $0.description },
            decode: { d, f in
                d.optional(f, "maxDelete") { text, scalar throws(ValueError) in
                    try DeletionLimit.parse(text, plain: scalar.isPlain)
                }
            }),
        .treeChoice("publish", { $0.publish }, { $0.publish = $1 }, initial: .inPlace, parse: PublishMode.parse),
        // The master tells a slave each stage in its trigger.
        .treeChoice(
            "stage", { $0.stage }, { $0.stage = $1 }, initial: .host, scope: .masterOnly, parse: StageMode.parse),
        .tree(
            "trace", { $0.trace }, { $0.trace = $1 }, inDefaults: true, omit: { $0 == nil },
            value: { $0.map(FieldValue.flag) ?? .absent }, text: Canonical.flag,
            decode: { d, f in d.boolean(f, "trace") }),
        .hook("hooks.onSuccess", { $0.onSuccess }, whole: true),
        .hook("hooks.onFailure", { $0.onFailure }),
        ProjectField(
            "hooks.timeout", { Canonical.span($0.hooks?.timeout) }, text: { $0.hooks?.timeout?.description },
            scope: .everyHost, decoding: .withObject, carry: { pull, spec in pull.tree.hooks = spec.tree.hooks }),
        .tree(
            "logRetention", { $0.logRetention }, { $0.logRetention = $1 }, inDefaults: true, omit: { $0 == nil },
            value: { $0.map { FieldValue.number(Int64($0)) } ?? .absent }, text: { $0.map(String.init) },
            decode: { d, f in d.integer(f, "logRetention", in: TreeSpec.logRetentionRange) }),
        // mirrors.d names them, or `all`; the master's spec lists them.
        ProjectField(
            "slaves", { .list($0.slaves) }, text: { Canonical.listText($0.slaves) }, scope: .masterOnly,
            decoding: .withObject),
        // What mirror lists show of the project (GET /mirrorz.json) is the master's to say.
        .treeText("cname", { $0.cname }, { $0.cname = $1 }, scope: .masterOnly, check: DisplayText.check),
        .treeText("desc", { $0.desc }, { $0.desc = $1 }, scope: .masterOnly, check: DisplayText.check),
        .treeText("help", { $0.help }, { $0.help = $1 }, scope: .masterOnly, check: WebLink.check),
        // Who may announce a new tree is the master's to check.
        .treeText(
            "pushTokenFile", { $0.pushTokenFile }, { $0.pushTokenFile = $1 }, scope: .masterOnly,
            check: AbsolutePath.normalize),
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

    /// The keys the site's `defaults:` may set.
    public static let defaultsKeys: [String] = fields.filter(\.inDefaults).map(\.key)

    /// The fields that differ from `new`, sorted by path: what the plan shows for an update.
    public func changes(to new: AgentProjectSpec) -> [FieldChange] {
        Self.sortedFields.compactMap { field in
            field.value(self) == field.value(new)
                ? nil : FieldChange(path: field.path, old: field.text(self), new: field.text(new))
        }
    }

    static let sortedFields = fields.sorted { $0.path < $1.path }

    /// A slave's pull of this project, the master's copy: from the master's module `module`, with the site's
    /// credential, every `fallback` even without a trigger, and each field the rows carry (`FieldScope.everyHost`).
    public func pull(from module: UpstreamLocation, every fallback: TimeSpan) -> AgentProjectSpec {
        var pull = AgentProjectSpec(
            upstream: UpstreamSpec(url: module, credential: .site), interval: .every(fallback),
            tree: TreeSpec(path: tree.path))
        for field in Self.fields { field.carry?(&pull, self) }
        return pull
    }
}
