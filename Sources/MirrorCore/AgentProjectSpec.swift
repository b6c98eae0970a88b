/// A project as an agent holds it: self-contained, with its upstream and interval spelled out,
/// so that an agent on an empty host needs nothing else to sync it.
///
/// Its tree's fields read as its own (`spec.exclude`), and its JSON is one flat object, as mirrors.d writes a project.
@dynamicMemberLookup
public struct AgentProjectSpec: Codable, Sendable, Hashable {
    public var upstream: UpstreamSpec
    public var interval: IntervalSpec
    /// What it copies, where to, and how.
    public var tree: TreeSpec
    /// On the master, the slaves that serve the project.
    public var slaves: [String]

    public init(upstream: UpstreamSpec, interval: IntervalSpec, tree: TreeSpec, slaves: [String] = []) {
        self.upstream = upstream
        self.interval = interval
        self.tree = tree
        self.slaves = slaves
    }

    public init(upstream: UpstreamSpec, source: String = "", path: String, interval: IntervalSpec, exclude: [String] = [],
                twoStage: [String] = [], rsyncOptions: [String] = [], suspended: Bool = false, timeout: TimeSpan? = nil,
                maxDelete: DeletionLimit = .default, slaves: [String] = []) {
        self.init(upstream: upstream, interval: interval,
                  tree: TreeSpec(source: source, path: path, exclude: exclude, twoStage: twoStage, rsyncOptions: rsyncOptions,
                                 suspended: suspended, timeout: timeout, maxDelete: maxDelete),
                  slaves: slaves)
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<TreeSpec, T>) -> T {
        get { tree[keyPath: keyPath] }
        set { tree[keyPath: keyPath] = newValue }
    }

    /// The file whose token authorises `POST /v1/projects/{name}/trigger`: the project's own, else its upstream's;
    /// nil: the project takes no pushes.
    public var effectivePushTokenFile: String? { tree.pushTokenFile ?? upstream.pushTokenFile }

    /// The longest one run may take: the project's own timeout, else its upstream's.
    public var runTimeout: TimeSpan { tree.timeout ?? upstream.timeout }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FieldKey.self)
        upstream = try c.decode(UpstreamSpec.self, forKey: FieldKey("upstream"))
        interval = try c.decode(IntervalSpec.self, forKey: FieldKey("interval"))
        tree = try TreeSpec(from: c)
        slaves = try c.decodeIfPresent([String].self, forKey: FieldKey("slaves")) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FieldKey.self)
        try c.encode(upstream, forKey: FieldKey("upstream"))
        try c.encode(interval, forKey: FieldKey("interval"))
        try tree.encode(into: &c)
        try c.encode(slaves, forKey: FieldKey("slaves"))
    }
}
