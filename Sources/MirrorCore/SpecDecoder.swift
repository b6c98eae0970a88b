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
        "api", "tokenFile", "root", "rsyncd", "maxConcurrentSyncs", "publicStatus", "tls", "insecure",
    ]
    public static let tlsKeys = ["caFile"]
    public static let rsyncdKeys = ["address", "port", "slavesOnly"]
    /// An interval's and an upstream's keys, and a project's: from the one list of a project's fields.
    public static let intervalKeys = AgentProjectSpec.keys(of: "interval", inMirrorsD: true)
    public static let upstreamKeys = AgentProjectSpec.keys(of: "upstream", inMirrorsD: true)
    public static let slaveKeys = ["api", "publicDir", "tls", "insecure"]
    /// In mirrors.d, `upstream` and `interval` name objects and `slaves` may be `all`; the keys are the agent's.
    public static let projectKeys = AgentProjectSpec.keys

    public mutating func master(_ node: YAMLNode, at mark: SourceMark? = nil) -> MasterSpec? {
        guard let f = fields(node, what: Subject("master"), known: Self.masterKeys, at: mark) else { return nil }
        let api = required(f, "api") { text, _ throws(ValueError) in try AgentURL.normalize(text) }
        let tokenFile = required(f, "tokenFile") { text, _ throws(ValueError) in try AbsolutePath.normalize(text) }
        let root = required(f, "root") { text, _ throws(ValueError) in
            let root = try AbsolutePath.normalize(text)
            // The root begins every module's path in rsyncd.conf, where the daemon expands `%VAR%`.
            if root.contains("%") {
                throw ValueError(
                    "'\(root)' holds '%', which the master's rsync daemon would expand (%VAR%) in its modules' paths")
            }
            return root
        }
        var rsyncd = RsyncdSpec()
        if let entry = f["rsyncd"],
            let r = fields(entry.value, what: Subject("master's rsyncd"), known: Self.rsyncdKeys)
        {
            rsyncd.address =
                optional(r, "address") { text, _ throws(ValueError) in
                    guard AgentURL.isHost(text) else { throw ValueError("'\(text)' is not an IP address or host name") }
                    return text
                } ?? rsyncd.address
            rsyncd.port = integer(r, "port", in: 1...65535) ?? rsyncd.port
            rsyncd.slavesOnly = boolean(r, "slavesOnly") ?? false
        }
        let maxSyncs = integer(f, "maxConcurrentSyncs", in: 1...256) ?? 4
        let publicStatus = boolean(f, "publicStatus") ?? false
        let (tls, insecure, transportValid) = transport(f, api: api)
        guard let api, let tokenFile, let root, transportValid else { return nil }
        return MasterSpec(
            api: api, tokenFile: tokenFile, root: root, rsyncd: rsyncd,
            maxConcurrentSyncs: maxSyncs, publicStatus: publicStatus, tls: tls, insecure: insecure)
    }

    /// `tls:` for the whole site, or for one agent.
    public mutating func tls(_ node: YAMLNode, what: Subject, at mark: SourceMark? = nil) -> TLSSpec? {
        guard let f = fields(node, what: what, known: Self.tlsKeys, at: mark) else { return nil }
        let caFile = required(f, "caFile") { text, _ throws(ValueError) in try AbsolutePath.normalize(text) }
        return caFile.map(TLSSpec.init)
    }

    /// An agent's `tls` and `insecure`, checked against its `api`: the bearer token crosses a network only inside
    /// TLS, unless the operator says `insecure: true` for an http:// api; https:// is always verified.
    mutating func transport(_ f: Fields, api: String?) -> (tls: TLSSpec?, insecure: Bool, valid: Bool) {
        let errorsBefore = diagnostics.all.count
        let tls = f["tls"].flatMap { self.tls($0.value, what: Subject("\(f.what)'s tls")) }
        let insecure = boolean(f, "insecure") ?? false
        if let api, let entry = f["api"] {
            let plain = api.hasPrefix("http://")
            if plain && AgentURL.isPlainHTTPOffHost(api) && !insecure {
                diagnostics.error(
                    entry.value.mark, "plain-http",
                    "\(f.what): api \(api) is plain HTTP to a host that is not loopback: the bearer token would cross the network in clear, "
                        + "where it can be read and replayed; write https:// and start the agent with --tls-cert and --tls-key, "
                        + "or, on a network you trust, set insecure: true", field: "api")
            }
            if !plain, insecure, let i = f["insecure"] {
                diagnostics.error(
                    i.keyMark, "conflicting-keys",
                    "\(f.what): insecure: true allows plain http://; an https:// api is always verified, so leave insecure out",
                    field: "insecure")
            }
            if plain, let t = f["tls"] {
                diagnostics.error(
                    t.keyMark, "conflicting-keys",
                    "\(f.what): tls verifies an https:// api, but api \(api) is plain http://; write https:// or leave tls out",
                    field: "tls")
            }
        }
        let valid = diagnostics.all.count == errorsBefore
        if insecure, let api, api.hasPrefix("http://"), let i = f["insecure"] {
            let host = URLComponents(string: api)?.host ?? api
            diagnostics.append(
                Diagnostic(
                    .warning, at: i.keyMark, code: "insecure",
                    message:
                        "\(f.what): insecure: true sends the bearer token to \(host) in clear, where anyone on the way can read and replay it; "
                        + "serve the api over https:// (--tls-cert, --tls-key) to leave it out", field: "insecure"))
        }
        return (tls, insecure, valid)
    }

    /// `site:`: the site as mirror lists show it (mirrorz's `site`); `url` and `abbr` are required.
    public mutating func site(_ node: YAMLNode, at mark: SourceMark? = nil) -> SiteSpec? {
        guard let f = fields(node, what: Subject("site"), known: SiteSpec.keys, at: mark) else { return nil }
        let errorsBefore = diagnostics.all.count
        let url = required(f, "url") { text, _ throws(ValueError) in try AgentURL.normalize(text) }
        let abbr = required(f, "abbr") { text, _ throws(ValueError) in try DisplayText.check(text) }
        var site = SiteSpec(url: url ?? "", abbr: abbr ?? "")
        for field in SiteSpec.optionalFields {
            site[keyPath: field.path] = optional(f, field.key) { text, _ throws(ValueError) in
                field.link ? try WebLink.check(text) : try DisplayText.check(text)
            }
        }
        site.disable = boolean(f, "disable")
        guard diagnostics.all.count == errorsBefore, url != nil, abbr != nil else { return nil }
        return site
    }

    public mutating func interval(_ node: YAMLNode, name: String, at mark: SourceMark? = nil) -> IntervalSpec? {
        let what = Subject("interval", name)
        guard let f = fields(node, what: what, known: Self.intervalKeys, at: mark) else { return nil }
        let every = optional(f, "every") { text, _ throws(ValueError) in try TimeSpan.parse(text) }
        let jitter = optional(f, "jitter") { text, _ throws(ValueError) in try TimeSpan.parse(text) }
        let cron = optional(f, "cron") { text, _ throws(ValueError) in try CronExpression.parse(text) }
        let timezone = optional(f, "timezone") { text, _ throws(ValueError) in
            guard TimeZone(identifier: text) != nil else {
                throw ValueError("'\(text)' is not a time zone; write an IANA name such as UTC or Europe/Berlin")
            }
            return text
        }
        var valid = true
        switch (f["every"], f["cron"]) {
        case (nil, nil):
            if f.suggested.isDisjoint(with: ["every", "cron"]) {
                diagnostics.error(
                    f.mark, "missing-key", "\(what) needs 'every' (such as 1h) or 'cron' (such as \"30 2 * * *\")")
            }
            valid = false
        case (.some, .some(let c)):
            diagnostics.error(c.keyMark, "conflicting-keys", "\(what) has both 'every' and 'cron'; give one of them")
            valid = false
        default: break
        }
        if let j = f["jitter"], f["every"] == nil {
            diagnostics.error(j.keyMark, "conflicting-keys", "\(what): 'jitter' goes with 'every', not with 'cron'")
            valid = false
        }
        if let t = f["timezone"], f["cron"] == nil {
            diagnostics.error(t.keyMark, "conflicting-keys", "\(what): 'timezone' goes with 'cron', not with 'every'")
            valid = false
        }
        if let every, let jitter, jitter >= every, let j = f["jitter"] {
            diagnostics.error(
                j.value.mark, "invalid-value", "\(what): jitter \(jitter) must be shorter than every \(every)")
            valid = false
        }
        guard valid else { return nil }
        if let every { return .every(every, jitter: jitter) }
        guard let cron else { return nil }
        return .cron(cron, timezone: timezone ?? "UTC")
    }

    /// An upstream; `agent`: as a `PUT` body carries it, where a slave's pull names the site's `credential`.
    public mutating func upstream(_ node: YAMLNode, name: String, at mark: SourceMark? = nil, agent: Bool = false)
        -> UpstreamSpec?
    {
        let what = Subject("upstream", name)
        guard let f = fields(node, what: what, known: agent ? Self.agentUpstreamKeys : Self.upstreamKeys, at: mark)
        else { return nil }
        let url = required(f, "url") { text, _ throws(ValueError) in try UpstreamLocation.parse(text) }
        // Every other key as its row says; every rule below turns on the url.
        var spec = UpstreamSpec(url: url ?? .local(path: "/"))
        for field in AgentProjectSpec.fields {
            if case .upstream(let decode) = field.decoding { decode(&self, f, &spec) }
        }
        let credential = spec.credential
        let passwordFile = spec.passwordFile
        guard let url else { return nil }
        if let c = f["credential"] {
            guard credential != nil else { return nil }
            if f["passwordFile"] != nil {
                diagnostics.error(
                    c.keyMark, "conflicting-keys", "\(what): credential and passwordFile exclude each other")
                return nil
            }
            if case .local = url {
                diagnostics.error(
                    c.keyMark, "conflicting-keys",
                    "\(what): credential needs an rsync:// url; a local path takes no password")
                return nil
            }
            if url.user != nil {
                diagnostics.error(
                    c.keyMark, "conflicting-keys",
                    "\(what): with credential: site, the user comes with the credential; leave it out of the url")
                return nil
            }
        }
        if let p = f["passwordFile"], passwordFile != nil {
            if case .local = url {
                diagnostics.error(
                    p.keyMark, "conflicting-keys",
                    "\(what): passwordFile needs an rsync:// url; a local path takes no password")
                return nil
            }
            if url.user == nil {
                diagnostics.error(
                    p.keyMark, "conflicting-keys",
                    "\(what): passwordFile needs a user in the url (rsync://USER@HOST/MODULE/)")
                return nil
            }
        }
        if f["passwordFile"] != nil && passwordFile == nil { return nil }
        if f["pushTokenFile"] != nil && spec.pushTokenFile == nil { return nil }
        return spec
    }

    public mutating func slave(_ node: YAMLNode, name: String, at mark: SourceMark? = nil) -> SlaveSpec? {
        guard let f = fields(node, what: Subject("slave", name), known: Self.slaveKeys, at: mark) else { return nil }
        let api = required(f, "api") { text, _ throws(ValueError) in try AgentURL.normalize(text) }
        let publicDir = required(f, "publicDir") { text, _ throws(ValueError) in try AbsolutePath.normalize(text) }
        let (tls, insecure, transportValid) = transport(f, api: api)
        guard let api, let publicDir, transportValid else { return nil }
        return SlaveSpec(api: api, publicDir: publicDir, tls: tls, insecure: insecure)
    }

    public mutating func project(_ node: YAMLNode, name: String, at mark: SourceMark? = nil) -> (
        ProjectSpec, ProjectReferences
    )? {
        let what = Subject("project", name)
        guard let f = fields(node, what: what, known: Self.projectKeys, at: mark) else { return nil }
        let errorsBefore = diagnostics.all.count
        let upstream = required(f, "upstream") { text, _ throws(ValueError) in
            try ObjectName.validate(text)
            return text
        }
        let interval = required(f, "interval") { text, _ throws(ValueError) in
            try ObjectName.validate(text)
            return text
        }
        let tree = self.tree(f, name: name)
        var slaves = SlaveSelection.all
        var slaveMarks: [(name: String, mark: SourceMark)] = []
        if let entry = f["slaves"] {
            if case .scalar(let s) = entry.value.content, s.text == "all" {
                slaves = .all
            } else if entry.value.isSequence {
                slaveMarks = slaveList(entry, what: what)
                slaves = .named(slaveMarks.map(\.name))
            } else {
                diagnostics.error(
                    entry.value.mark, "invalid-type",
                    "\(what): slaves: expected 'all' or a list of slave names, got \(entry.value.kindName)",
                    field: "slaves")
            }
        }
        guard diagnostics.all.count == errorsBefore, let upstream, let interval else { return nil }
        let spec = ProjectSpec(upstream: upstream, interval: interval, slaves: slaves, tree: tree)
        let refs = ProjectReferences(
            upstream: f["upstream"]!.value.mark, interval: f["interval"]!.value.mark,
            slaves: slaveMarks, path: f["path"]?.value.mark ?? f.mark)
        return (spec, refs)
    }

    /// The fields of a project's tree, as mirrors.d and `PUT /v1/projects/{name}` both write them: each read and
    /// checked as its row says, then the rules that span fields.
    mutating func tree(_ f: Fields, name: String) -> TreeSpec {
        var tree = TreeSpec(path: name)
        for field in AgentProjectSpec.fields {
            if case .tree(let decode) = field.decoding { decode(&self, f, &tree) }
        }
        if tree.stage == .site, let entry = f["stage"] {
            // A site-wide second stage needs a second stage, and whole revisions already switch each host at once.
            if tree.twoStage.isEmpty {
                diagnostics.error(
                    entry.value.mark, "invalid-value",
                    "\(f.what): stage: site needs twoStage: the index files the slaves hold back until every slave has the rest",
                    field: "stage")
            } else if tree.publish == .atomic {
                diagnostics.error(
                    entry.value.mark, "invalid-value",
                    "\(f.what): stage: site works with publish: inPlace; with publish: atomic each host already switches to a whole revision at once",
                    field: "stage")
            }
        }
        return tree
    }

    /// The site's `defaults:` for project fields: those whose rows allow it, each read as its row says.
    mutating func projectDefaults(_ node: YAMLNode) -> ProjectDefaults? {
        guard let f = fields(node, what: Subject("defaults"), known: AgentProjectSpec.defaultsKeys) else { return nil }
        let errorsBefore = diagnostics.all.count
        var tree = TreeSpec(path: "")
        for field in AgentProjectSpec.fields where field.inDefaults {
            if case .tree(let decode) = field.decoding { decode(&self, f, &tree) }
        }
        return diagnostics.all.count == errorsBefore ? ProjectDefaults(tree: tree) : nil
    }

    /// What the `hooks` of a project's mapping, or of `defaults:`, are called in messages.
    static func hooksSubject(of what: Subject) -> Subject {
        what.kind == "defaults" ? Subject("defaults' hooks") : Subject("hooks of project", what.name)
    }

    /// A project's `hooks`: each event an argv whose program is an absolute path, and a timeout.
    mutating func hooks(_ node: YAMLNode, what: Subject) -> HookSpec? {
        guard let h = fields(node, what: what, known: AgentProjectSpec.keys(of: "hooks")) else { return nil }
        var spec = HookSpec()
        for key in ["onSuccess", "onFailure"] {
            guard let argv = list(h, key, { (text: String) throws(ValueError) -> String in text }) else { continue }
            do throws(ValueError) {
                try HookSpec.check(argv: argv)
            } catch {
                diagnostics.error(
                    h[key]!.value.mark, "invalid-value", "\(h.what): \(key): \(error.message)", field: "hooks")
                continue
            }
            if key == "onSuccess" { spec.onSuccess = argv } else { spec.onFailure = argv }
        }
        spec.timeout = optional(h, "timeout") { text, _ throws(ValueError) in try TimeSpan.parse(text) }
        return spec == HookSpec() ? nil : spec
    }

    /// A list of slave names, each valid and listed once.
    mutating func slaveList(_ entry: YAMLEntry, what: Subject) -> [(name: String, mark: SourceMark)] {
        guard case .sequence(let items) = entry.value.content else {
            diagnostics.error(
                entry.value.mark, "invalid-type",
                "\(what): slaves: expected a list of slave names, got \(entry.value.kindName)", field: "slaves")
            return []
        }
        var out: [(name: String, mark: SourceMark)] = []
        for item in items {
            guard let text = scalarText(item, what: what, key: "slaves") else { continue }
            do throws(ValueError) {
                try ObjectName.validate(text)
                if let earlier = out.first(where: { $0.name == text }) {
                    diagnostics.error(
                        item.mark, "duplicate-name",
                        "\(what): slave '\(text)' is listed twice (first at line \(earlier.mark.line), column \(earlier.mark.column))",
                        field: "slaves")
                    continue
                }
                out.append((text, item.mark))
            } catch {
                diagnostics.error(item.mark, "invalid-value", "\(what): slaves: \(error.message)", field: "slaves")
            }
        }
        return out
    }

    // MARK: - What agents receive

    public static let agentSettingsKeys = [
        "root", "maxConcurrentSyncs", "publicStatus", "rsyncd", "master", "slaves", "peers", "site",
    ]
    public static let agentTransportKeys = ["caFile", "insecure"]
    public static let agentProjectKeys = AgentProjectSpec.keys
    public static let agentUpstreamKeys = AgentProjectSpec.keys(of: "upstream")

    /// An agent's settings, as `PUT /v1/settings` carries them.
    public mutating func agentSettings(_ node: YAMLNode) -> AgentSettings? {
        guard let f = fields(node, what: Subject("settings"), known: Self.agentSettingsKeys) else { return nil }
        let errorsBefore = diagnostics.all.count
        let root = required(f, "root") { text, _ throws(ValueError) in try AbsolutePath.normalize(text) }
        let maxSyncs = integer(f, "maxConcurrentSyncs", in: 1...256) ?? 4
        let publicStatus = boolean(f, "publicStatus") ?? false
        var rsyncd: RsyncdSpec?
        if let entry = f["rsyncd"],
            let r = fields(entry.value, what: Subject("settings' rsyncd"), known: Self.rsyncdKeys)
        {
            rsyncd = RsyncdSpec(
                address: optional(r, "address") { text, _ throws(ValueError) in
                    guard AgentURL.isHost(text) else { throw ValueError("'\(text)' is not an IP address or host name") }
                    return text
                } ?? "0.0.0.0",
                port: integer(r, "port", in: 1...65535) ?? 873,
                slavesOnly: boolean(r, "slavesOnly") ?? false)
        }
        let master = optional(f, "master") { text, _ throws(ValueError) in try AgentURL.normalize(text) }
        var slaves: [String: String] = [:]
        if let entry = f["slaves"] {
            if entry.value.isMapping {
                for slave in entry.value.entries(notIn: []) {
                    do throws(ValueError) {
                        try ObjectName.validate(slave.key)
                        guard let text = scalarText(slave.value, what: Subject("settings' slaves"), key: slave.key)
                        else { continue }
                        slaves[slave.key] = try AgentURL.normalize(text)
                    } catch {
                        diagnostics.error(
                            slave.keyMark, "invalid-value", "settings: slaves: \(slave.key): \(error.message)",
                            field: "slaves")
                    }
                }
            } else {
                diagnostics.error(
                    entry.value.mark, "invalid-type",
                    "settings: slaves: expected a mapping of slave names to API addresses, got \(entry.value.kindName)",
                    field: "slaves")
            }
        }
        var peers: [String: AgentTransport] = [:]
        if let entry = f["peers"] {
            if entry.value.isMapping {
                for peer in entry.value.entries(notIn: []) {
                    let what = Subject("settings' peer", peer.key)
                    do throws(ValueError) {
                        let url = try AgentURL.normalize(peer.key)
                        guard let p = fields(peer.value, what: what, known: Self.agentTransportKeys) else { continue }
                        let caFile = optional(p, "caFile") { text, _ throws(ValueError) in
                            try AbsolutePath.normalize(text)
                        }
                        peers[url] = AgentTransport(caFile: caFile, insecure: boolean(p, "insecure") ?? false)
                    } catch {
                        diagnostics.error(
                            peer.keyMark, "invalid-value", "settings: peers: \(error.message)", field: "peers")
                    }
                }
            } else {
                diagnostics.error(
                    entry.value.mark, "invalid-type",
                    "settings: peers: expected a mapping of API addresses to {caFile, insecure}, got \(entry.value.kindName)",
                    field: "peers")
            }
        }
        let site = f["site"].flatMap { self.site($0.value) }
        guard diagnostics.all.count == errorsBefore, let root else { return nil }
        return AgentSettings(
            root: root, maxConcurrentSyncs: maxSyncs, publicStatus: publicStatus, rsyncd: rsyncd, master: master,
            slaves: slaves, peers: peers, site: site)
    }

    /// A project as an agent holds it, with its upstream and interval spelled out: `PUT /v1/projects/{name}`.
    /// Every field goes through the same checks as in mirrors.d.
    public mutating func agentProject(_ node: YAMLNode, name: String) -> AgentProjectSpec? {
        let what = Subject("project", name)
        do throws(ValueError) {
            try ObjectName.validate(name)
        } catch {
            diagnostics.error(node.mark, "invalid-name", "invalid project name: \(error.message)", field: "name")
            return nil
        }
        guard let f = fields(node, what: what, known: Self.agentProjectKeys) else { return nil }
        let errorsBefore = diagnostics.all.count
        var upstream: UpstreamSpec?
        var interval: IntervalSpec?
        if let entry = f["upstream"] {
            upstream = self.upstream(entry.value, name: name, agent: true)
        } else {
            diagnostics.error(f.mark, "missing-key", "\(what) has no 'upstream', which it needs", field: "upstream")
        }
        if let entry = f["interval"] {
            interval = self.interval(entry.value, name: name)
        } else {
            diagnostics.error(f.mark, "missing-key", "\(what) has no 'interval', which it needs", field: "interval")
        }
        let tree = self.tree(f, name: name)
        let slaves = f["slaves"].map { slaveList($0, what: what).map(\.name) } ?? []
        guard diagnostics.all.count == errorsBefore, let upstream, let interval else { return nil }
        return AgentProjectSpec(upstream: upstream, interval: interval, tree: tree, slaves: slaves)
    }

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
