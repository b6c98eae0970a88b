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
    /// On the master, the site as mirror lists show it (`site:` in mirrors.d), for `GET /mirrorz.json`.
    public var site: SiteSpec?

    public init(root: String, maxConcurrentSyncs: Int = 4, publicStatus: Bool = false, rsyncd: RsyncdSpec? = nil,
                master: String? = nil, slaves: [String: String] = [:], site: SiteSpec? = nil) {
        self.root = root
        self.maxConcurrentSyncs = maxConcurrentSyncs
        self.publicStatus = publicStatus
        self.rsyncd = rsyncd
        self.master = master
        self.slaves = slaves
        self.site = site
    }

    enum CodingKeys: String, CodingKey { case root, maxConcurrentSyncs, publicStatus, rsyncd, master, slaves, site }

    // Settings stored before the peers were part of them lack `master` and `slaves`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        root = try c.decode(String.self, forKey: .root)
        maxConcurrentSyncs = try c.decode(Int.self, forKey: .maxConcurrentSyncs)
        publicStatus = try c.decode(Bool.self, forKey: .publicStatus)
        rsyncd = try c.decodeIfPresent(RsyncdSpec.self, forKey: .rsyncd)
        master = try c.decodeIfPresent(String.self, forKey: .master)
        slaves = try c.decodeIfPresent([String: String].self, forKey: .slaves) ?? [:]
        site = try c.decodeIfPresent(SiteSpec.self, forKey: .site)
    }
}
