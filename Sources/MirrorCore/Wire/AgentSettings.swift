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

    /// The runs an agent makes at once when its settings say nothing else.
    public static let defaultMaxConcurrentSyncs = 4

    public init(
        root: String, maxConcurrentSyncs: Int = defaultMaxConcurrentSyncs, publicStatus: Bool = false,
        rsyncd: RsyncdSpec? = nil,
        master: String? = nil, slaves: [String: String] = [:], peers: [String: AgentTransport] = [:],
        site: SiteSpec? = nil
    ) {
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
        case root, maxConcurrentSyncs, publicStatus, rsyncd, master, slaves, peers, site
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
    }

    // `peers` is left out when empty, and `site` when there is none: settings without it keep the generation and the JSON they always had.
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
