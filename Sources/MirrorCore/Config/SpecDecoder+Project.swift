import Foundation

// A project and what it refers to by name: its interval, its upstream, its slaves; its tree, field by field as the
// field table says, and the site's `defaults:`.
extension SpecDecoder {
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
        // With a command, the url is the program's to read: any address.
        let program = f["command"] != nil
        let url = required(f, "url") { text, _ throws(ValueError) in
            program ? try UpstreamLocation.parse(programURL: text) : try UpstreamLocation.parse(text)
        }
        // Every other key as its row says; every rule below turns on the url.
        var spec = UpstreamSpec(url: url ?? .local(path: "/"))
        for decode in Self.upstreamDecoders { decode(&self, f, &spec) }
        let credential = spec.credential
        let passwordFile = spec.passwordFile
        guard programRules(f), let url else { return nil }
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
        for decode in Self.treeDecoders { decode(&self, f, &tree) }
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
            guard let argv = argv(h, key, what: "hook", field: "hooks") else { continue }
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

    // The rows' decoders alone, in the table's order: a walk over the rows would copy each row (its closures, its
    // schema) for every project of a large mirrors.d.
    static let treeDecoders = AgentProjectSpec.fields.compactMap { field in
        if case .tree(let decode) = field.decoding { decode } else { nil }
    }
    static let upstreamDecoders = AgentProjectSpec.fields.compactMap { field in
        if case .upstream(let decode) = field.decoding { decode } else { nil }
    }
}
