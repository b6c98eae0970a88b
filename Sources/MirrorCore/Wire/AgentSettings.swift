/// Which kind of agent answers.
public enum AgentRole: String, Codable, Sendable, Hashable {
    case master, slave
}

/// An agent's settings: where its tree is, how much it may run at once, and who its peers are.
public struct AgentSettings: Codable, Sendable, Hashable {
    /// The master's root, or a slave's publicDir: each project lives at `root/path`.
    public var root: String
    public var maxConcurrentSyncs: Int
    public var publicStatus: Bool
    /// The master's rsync daemon, for its slaves.
    public var rsyncd: RsyncdSpec?
    /// On a slave, the master's API: where it reports, catches up and gets the rsync credential.
    public var master: String?
    /// On the master, every slave's API by name: where its triggers go.
    public var slaves: [String: String]
    /// How this agent reaches its peers' APIs (`master`, `slaves`), by API URL, for the peers whose transport is not
    /// the standard one (https:// verified against the system's trust store, or http:// on loopback).
    public var peers: [String: AgentTransport]
    /// On the master, the site as mirror lists show it (`site:` in mirrors.d), for `GET /mirrorz.json`.
    public var site: SiteSpec?
    /// How this host names and describes itself in its Debian trace files (`trace:` on its entry in mirrors.d).
    public var trace: TraceSettings?
    /// On the master, whom it tells of changes of the site's state (`notify:` in mirrors.d).
    public var notify: NotifySpec?
    /// Tiers: of the slaves in `slaves`, those that pull from another slave below this agent rather than from it,
    /// each with the slave it pulls from. This agent does not trigger them; their reports reach it through that slave.
    public var tiers: [String: String]
    /// On a slave that pulls from another slave: the hops above it, the master first (`["master", "ftp1"]`). Empty
    /// on the master and on a slave that pulls from the master. Trace files (`_hierarchy`) read it.
    public var chain: [String]

    /// The runs an agent makes at once when its settings say nothing else.
    public static let defaultMaxConcurrentSyncs = 4

    public init(
        root: String, maxConcurrentSyncs: Int = defaultMaxConcurrentSyncs, publicStatus: Bool = false,
        rsyncd: RsyncdSpec? = nil,
        master: String? = nil, slaves: [String: String] = [:], peers: [String: AgentTransport] = [:],
        site: SiteSpec? = nil, trace: TraceSettings? = nil, notify: NotifySpec? = nil, tiers: [String: String] = [:],
        chain: [String] = []
    ) {
        self.trace = trace
        self.notify = notify
        self.tiers = tiers
        self.chain = chain
        self.peers = peers
        self.site = site
        self.root = root
        self.maxConcurrentSyncs = maxConcurrentSyncs
        self.publicStatus = publicStatus
        self.rsyncd = rsyncd
        self.master = master
        self.slaves = slaves
        self.site = site
    }

    enum CodingKeys: String, CodingKey {
        case root, maxConcurrentSyncs, publicStatus, rsyncd, master, slaves, peers, site, trace, notify, tiers, chain
    }

    /// How this agent reaches the peer at `api`.
    public func transport(to api: String) -> AgentTransport { peers[api] ?? AgentTransport() }

    // Settings stored before the peers were part of them lack `master` and `slaves`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        root = try c.decode(String.self, forKey: .root)
        maxConcurrentSyncs = try c.decode(Int.self, forKey: .maxConcurrentSyncs)
        publicStatus = try c.decode(Bool.self, forKey: .publicStatus)
        rsyncd = try c.decodeIfPresent(RsyncdSpec.self, forKey: .rsyncd)
        master = try c.decodeIfPresent(String.self, forKey: .master)
        slaves = try c.decodeIfPresent([String: String].self, forKey: .slaves) ?? [:]
        peers = try c.decodeIfPresent([String: AgentTransport].self, forKey: .peers) ?? [:]
        site = try c.decodeIfPresent(SiteSpec.self, forKey: .site)
        trace = try c.decodeIfPresent(TraceSettings.self, forKey: .trace)
        notify = try c.decodeIfPresent(NotifySpec.self, forKey: .notify)
        tiers = try c.decodeIfPresent([String: String].self, forKey: .tiers) ?? [:]
        chain = try c.decodeIfPresent([String].self, forKey: .chain) ?? []
    }

    // `peers` is left out when empty, and `site`, `trace` and `notify` when there are none: settings without them
    // keep the generation and the JSON they always had.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(root, forKey: .root)
        try c.encode(maxConcurrentSyncs, forKey: .maxConcurrentSyncs)
        try c.encode(publicStatus, forKey: .publicStatus)
        try c.encodeIfPresent(rsyncd, forKey: .rsyncd)
        try c.encodeIfPresent(master, forKey: .master)
        try c.encode(slaves, forKey: .slaves)
        if !peers.isEmpty { try c.encode(peers, forKey: .peers) }
        try c.encodeIfPresent(site, forKey: .site)
        try c.encodeIfPresent(trace, forKey: .trace)
        try c.encodeIfPresent(notify, forKey: .notify)
        // Left out when empty, as `peers`: a site without tiers keeps its settings' generation.
        if !tiers.isEmpty { try c.encode(tiers, forKey: .tiers) }
        if !chain.isEmpty { try c.encode(chain, forKey: .chain) }
    }

    /// The slaves this agent triggers itself: those of `slaves` that pull from it, not from a tier below.
    public var directSlaves: [String: String] { slaves.filter { tiers[$0.key] == nil } }

    /// Whether `hop` may speak for `slave` (its reports, relayed): it is that slave, or a slave `slave` pulls from
    /// through a chain of `tiers` below this agent.
    public func relays(_ hop: String, for slave: String) -> Bool {
        var current = slave
        var steps = 0
        while current != hop {
            guard let next = tiers[current], steps < tiers.count else { return false }
            current = next
            steps += 1
        }
        return true
    }
}

/// How a client reaches an agent's API: over https://, the CA file that verifies the agent's certificate (else the
/// system's trust store); over http:// to a host that is not loopback, whether the operator allowed the bearer token
/// to travel in clear (`insecure: true` in mirrors.d). Without that leave the client refuses to send it.
public struct AgentTransport: Sendable, Hashable, Codable {
    /// A PEM file of one or more CA certificates; nil: the system's trust store.
    public var caFile: String?
    public var insecure: Bool

    public init(caFile: String? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.insecure = insecure
    }

    /// The default: the system's trust store, and no plain HTTP off this machine.
    public var isStandard: Bool { caFile == nil && !insecure }

    enum CodingKeys: String, CodingKey { case caFile, insecure }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        insecure = try c.decodeIfPresent(Bool.self, forKey: .insecure) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(caFile, forKey: .caFile)
        if insecure { try c.encode(insecure, forKey: .insecure) }
    }
}
