/// A project as an agent holds it: self-contained, with its upstream and interval spelled out,
/// so that an agent on an empty host needs nothing else to sync it.
///
/// Its tree's fields read as its own (`spec.exclude`), and its JSON is one flat object, as mirrors.d writes a project.
///
/// Its fields live in one shared box, made anew on a change: a large site's plan copies each of its 20,000 specs
/// several times (into rows, tables, per-agent views), and a copy of the box is one retain where a copy of the fields
/// is one per string and list they hold, some twenty-five.
@dynamicMemberLookup
public struct AgentProjectSpec: Codable, Sendable, Hashable, CustomReflectable {
    /// The fields, never written: a change makes a new box. Read-only stored properties of a class can be lent to any
    /// function as they are, where a `var` of a class is first copied whole (every string and list it holds retained,
    /// and released after), lest the call write it meanwhile: the generation and the plan read one field at a time
    /// through the field table's closures, which copied a whole tree of some forty fields for each.
    private final class Fields: Sendable {
        let upstream: UpstreamSpec
        let interval: IntervalSpec
        let tree: TreeSpec
        let slaves: [String]

        init(upstream: UpstreamSpec, interval: IntervalSpec, tree: TreeSpec, slaves: [String]) {
            self.upstream = upstream
            self.interval = interval
            self.tree = tree
            self.slaves = slaves
        }
    }

    private var box: Fields

    public var upstream: UpstreamSpec {
        _read { yield box.upstream }
        _modify {
            var upstream = box.upstream
            defer { box = Fields(upstream: upstream, interval: box.interval, tree: box.tree, slaves: box.slaves) }
            yield &upstream
        }
    }

    public var interval: IntervalSpec {
        _read { yield box.interval }
        _modify {
            var interval = box.interval
            defer { box = Fields(upstream: box.upstream, interval: interval, tree: box.tree, slaves: box.slaves) }
            yield &interval
        }
    }

    /// What it copies, where to, and how.
    public var tree: TreeSpec {
        _read { yield box.tree }
        _modify {
            var tree = box.tree
            defer { box = Fields(upstream: box.upstream, interval: box.interval, tree: tree, slaves: box.slaves) }
            yield &tree
        }
    }

    /// On the master, the slaves that serve the project.
    public var slaves: [String] {
        _read { yield box.slaves }
        _modify {
            var slaves = box.slaves
            defer { box = Fields(upstream: box.upstream, interval: box.interval, tree: box.tree, slaves: slaves) }
            yield &slaves
        }
    }

    public init(upstream: UpstreamSpec, interval: IntervalSpec, tree: TreeSpec, slaves: [String] = []) {
        box = Fields(upstream: upstream, interval: interval, tree: tree, slaves: slaves)
    }

    public static func == (lhs: AgentProjectSpec, rhs: AgentProjectSpec) -> Bool {
        lhs.box === rhs.box
            || (lhs.upstream == rhs.upstream && lhs.interval == rhs.interval && lhs.tree == rhs.tree
                && lhs.slaves == rhs.slaves)
    }

    /// Its fields, as a struct of them would show them.
    public var customMirror: Mirror {
        Mirror(
            self, children: ["upstream": upstream, "interval": interval, "tree": tree, "slaves": slaves],
            displayStyle: .struct)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(upstream)
        hasher.combine(interval)
        hasher.combine(tree)
        hasher.combine(slaves)
    }

    public init(
        upstream: UpstreamSpec, source: String = "", path: String, interval: IntervalSpec, exclude: [String] = [],
        twoStage: [String] = [], rsyncOptions: [String] = [], suspended: Bool = false, timeout: TimeSpan? = nil,
        maxDelete: DeletionLimit = .default, slaves: [String] = []
    ) {
        self.init(
            upstream: upstream, interval: interval,
            tree: TreeSpec(
                source: source, path: path, exclude: exclude, twoStage: twoStage, rsyncOptions: rsyncOptions,
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

    /// The file a scheduled run probes first: the project's own `probe`, else its upstream's.
    public var effectiveProbe: String? { tree.probe ?? upstream.probe }

    /// The longest the project goes without a full walk.
    public var verifyInterval: TimeSpan { tree.verifyEvery ?? TreeSpec.defaultVerifyEvery }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FieldKey.self)
        self.init(
            upstream: try c.decode(UpstreamSpec.self, forKey: FieldKey("upstream")),
            interval: try c.decode(IntervalSpec.self, forKey: FieldKey("interval")),
            tree: try TreeSpec(from: c),
            slaves: try c.decodeIfPresent([String].self, forKey: FieldKey("slaves")) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FieldKey.self)
        try c.encode(upstream, forKey: FieldKey("upstream"))
        try c.encode(interval, forKey: FieldKey("interval"))
        try tree.encode(into: &c)
        try c.encode(slaves, forKey: FieldKey("slaves"))
    }
}
