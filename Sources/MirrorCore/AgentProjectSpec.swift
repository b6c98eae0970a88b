/// A project as an agent holds it: self-contained, with its upstream and interval spelled out,
/// so that an agent on an empty host needs nothing else to sync it.
public struct AgentProjectSpec: Codable, Sendable, Hashable {
    public var upstream: UpstreamSpec
    public var source: String
    public var path: String
    public var interval: IntervalSpec
    public var exclude: [String]
    public var twoStage: [String]
    public var rsyncOptions: [String]
    public var suspended: Bool
    public var timeout: TimeSpan?
    public var maxDelete: DeletionLimit
    /// On the master, the slaves that serve the project.
    public var slaves: [String]

    public init(upstream: UpstreamSpec, source: String = "", path: String, interval: IntervalSpec, exclude: [String] = [],
                twoStage: [String] = [], rsyncOptions: [String] = [], suspended: Bool = false, timeout: TimeSpan? = nil,
                maxDelete: DeletionLimit = .default, slaves: [String] = []) {
        self.upstream = upstream
        self.source = source
        self.path = path
        self.interval = interval
        self.exclude = exclude
        self.twoStage = twoStage
        self.rsyncOptions = rsyncOptions
        self.suspended = suspended
        self.timeout = timeout
        self.maxDelete = maxDelete
        self.slaves = slaves
    }

    /// The longest one run may take: the project's own timeout, else its upstream's.
    public var runTimeout: TimeSpan { timeout ?? upstream.timeout }

    enum CodingKeys: String, CodingKey {
        case upstream, source, path, interval, exclude, twoStage, rsyncOptions, suspended, timeout, maxDelete, slaves
    }

    // `source` is left out when empty (the upstream's whole tree), as mirrors.d leaves it out.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        upstream = try c.decode(UpstreamSpec.self, forKey: .upstream)
        source = try c.decodeIfPresent(String.self, forKey: .source) ?? ""
        path = try c.decode(String.self, forKey: .path)
        interval = try c.decode(IntervalSpec.self, forKey: .interval)
        exclude = try c.decodeIfPresent([String].self, forKey: .exclude) ?? []
        twoStage = try c.decodeIfPresent([String].self, forKey: .twoStage) ?? []
        rsyncOptions = try c.decodeIfPresent([String].self, forKey: .rsyncOptions) ?? []
        suspended = try c.decodeIfPresent(Bool.self, forKey: .suspended) ?? false
        timeout = try c.decodeIfPresent(TimeSpan.self, forKey: .timeout)
        maxDelete = try c.decodeIfPresent(DeletionLimit.self, forKey: .maxDelete) ?? .default
        slaves = try c.decodeIfPresent([String].self, forKey: .slaves) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(upstream, forKey: .upstream)
        if !source.isEmpty { try c.encode(source, forKey: .source) }
        try c.encode(path, forKey: .path)
        try c.encode(interval, forKey: .interval)
        try c.encode(exclude, forKey: .exclude)
        try c.encode(twoStage, forKey: .twoStage)
        try c.encode(rsyncOptions, forKey: .rsyncOptions)
        try c.encode(suspended, forKey: .suspended)
        try c.encodeIfPresent(timeout, forKey: .timeout)
        try c.encode(maxDelete, forKey: .maxDelete)
        try c.encode(slaves, forKey: .slaves)
    }
}
