import Foundation

// The site's objects of mirrors.d that are not projects: the master, its slaves, TLS, mirror lists' `site:`.
extension SpecDecoder {
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
        let rsyncd = f["rsyncd"].flatMap { self.rsyncd($0.value, what: Subject("master's rsyncd")) } ?? RsyncdSpec()
        let maxSyncs = integer(f, "maxConcurrentSyncs", in: 1...256) ?? 4
        let publicStatus = boolean(f, "publicStatus") ?? false
        let (tls, insecure, transportValid) = transport(f, api: api)
        let errorsBefore = diagnostics.all.count
        let trace = f["trace"].flatMap { traceSettings($0.value, what: Subject("master's trace")) }
        guard let api, let tokenFile, let root, transportValid, diagnostics.all.count == errorsBefore else {
            return nil
        }
        return MasterSpec(
            api: api, tokenFile: tokenFile, root: root, rsyncd: rsyncd,
            maxConcurrentSyncs: maxSyncs, publicStatus: publicStatus, tls: tls, insecure: insecure, trace: trace)
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

    /// An rsync daemon's `address`, `port` and `slavesOnly`: the master's, or a slave's for the slaves that pull from it.
    mutating func rsyncd(_ node: YAMLNode, what: Subject) -> RsyncdSpec? {
        guard let r = fields(node, what: what, known: Self.rsyncdKeys) else { return nil }
        var rsyncd = RsyncdSpec()
        rsyncd.address =
            optional(r, "address") { text, _ throws(ValueError) in
                guard AgentURL.isHost(text) else { throw ValueError("'\(text)' is not an IP address or host name") }
                return text
            } ?? rsyncd.address
        rsyncd.port = integer(r, "port", in: 1...65535) ?? rsyncd.port
        rsyncd.slavesOnly = boolean(r, "slavesOnly") ?? false
        rsyncd.maxConnections = integer(r, "maxConnections", in: RsyncdSpec.connectionRange)
        rsyncd.maxPerSlave = integer(r, "maxPerSlave", in: 1...256)
        return rsyncd
    }

    public mutating func slave(_ node: YAMLNode, name: String, at mark: SourceMark? = nil) -> SlaveSpec? {
        slaveWithTier(node, name: name, at: mark).spec
    }

    /// A slave, and where its `from` is written (for the checks across files: a defined slave, no cycle).
    mutating func slaveWithTier(_ node: YAMLNode, name: String, at mark: SourceMark? = nil) -> (
        spec: SlaveSpec?, from: SourceMark?
    ) {
        guard let f = fields(node, what: Subject("slave", name), known: Self.slaveKeys, at: mark) else {
            return (nil, nil)
        }
        let api = required(f, "api") { text, _ throws(ValueError) in try AgentURL.normalize(text) }
        let publicDir = required(f, "publicDir") { text, _ throws(ValueError) in try AbsolutePath.normalize(text) }
        let (tls, insecure, transportValid) = transport(f, api: api)
        // Counted after the transport, whose `insecure: true` is a warning, not a fault of the slave.
        let errorsBefore = diagnostics.all.count
        let trace = f["trace"].flatMap { traceSettings($0.value, what: Subject("trace of slave", name)) }
        // A tier: the slave pulls from another slave's rsync daemon, not the master's.
        let from = optional(f, "from") { text, _ throws(ValueError) in
            try ObjectName.validate(text)
            guard text != name else { throw ValueError("a slave cannot pull from itself") }
            return text
        }
        let rsyncd = f["rsyncd"].flatMap { self.rsyncd($0.value, what: Subject("rsyncd of slave '\(name)'")) }
        guard let api, let publicDir, transportValid, diagnostics.all.count == errorsBefore else { return (nil, nil) }
        return (
            SlaveSpec(
                api: api, publicDir: publicDir, tls: tls, insecure: insecure, trace: trace, from: from, rsyncd: rsyncd),
            f["from"]?.value.mark
        )
    }
}
