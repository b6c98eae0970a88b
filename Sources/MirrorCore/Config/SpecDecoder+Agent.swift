import Foundation

// What agents receive: `PUT /v1/settings` and `PUT /v1/projects/{name}`, held to the same rules as mirrors.d.
extension SpecDecoder {
    // MARK: - What agents receive

    public static let agentSettingsKeys = [
        "root", "maxConcurrentSyncs", "publicStatus", "rsyncd", "master", "slaves", "peers", "site", "trace", "notify",
        "tiers", "chain",
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
                slavesOnly: boolean(r, "slavesOnly") ?? false,
                maxConnections: integer(r, "maxConnections", in: RsyncdSpec.connectionRange),
                maxPerSlave: integer(r, "maxPerSlave", in: 1...256))
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
        let trace = f["trace"].flatMap { traceSettings($0.value, what: Subject("settings' trace")) }
        let notify = f["notify"].flatMap { self.notify($0.value)?.spec }
        let (tiers, chain) = agentTiers(f, slaves: slaves)
        guard diagnostics.all.count == errorsBefore, let root else { return nil }
        return AgentSettings(
            root: root, maxConcurrentSyncs: maxSyncs, publicStatus: publicStatus, rsyncd: rsyncd, master: master,
            slaves: slaves, peers: peers, site: site, trace: trace, notify: notify, tiers: tiers, chain: chain)
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

}
