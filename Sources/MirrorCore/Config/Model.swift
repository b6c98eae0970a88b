/// The master agent's settings, from `master:` in mirrors.d.
public struct MasterSpec: Sendable, Hashable, Codable {
    /// The master agent's API, such as `http://mirror-master.example.org:7070`.
    public var api: String
    /// The file that holds the operator's bearer token (the reconciler's and the CLI's).
    public var tokenFile: String
    /// The master's tree: each project lives at `root/path`.
    public var root: String
    /// Where the master's rsync daemon listens for its slaves.
    public var rsyncd: RsyncdSpec
    /// Upstream syncs that may run at once.
    public var maxConcurrentSyncs: Int
    /// Whether `GET /v1/status` answers without a token.
    public var publicStatus: Bool
    /// The CA that verifies the master's certificate when `api` is https://; nil: the site's `tls`, if any.
    public var tls: TLSSpec?
    /// Whether the token may go to an http:// `api` that is not loopback, in clear.
    public var insecure: Bool
    /// How the master names and describes itself in its Debian trace files.
    public var trace: TraceSettings?

    public init(
        api: String, tokenFile: String, root: String, rsyncd: RsyncdSpec = RsyncdSpec(),
        maxConcurrentSyncs: Int = 4, publicStatus: Bool = false, tls: TLSSpec? = nil, insecure: Bool = false,
        trace: TraceSettings? = nil
    ) {
        self.trace = trace
        self.tls = tls
        self.insecure = insecure
        self.api = api
        self.tokenFile = tokenFile
        self.root = root
        self.rsyncd = rsyncd
        self.maxConcurrentSyncs = maxConcurrentSyncs
        self.publicStatus = publicStatus
    }
}

/// The address and port of the master's rsync daemon.
public struct RsyncdSpec: Sendable, Hashable, Codable {
    public var address: String
    public var port: Int
    /// Whether the daemon takes connections only from the slaves' hosts (`hosts allow`, from their API addresses).
    public var slavesOnly: Bool
    /// The most pulls the daemon serves at once, over all its modules (rsyncd's `max connections`); nil: no bound.
    public var maxConnections: Int?
    /// The most pulls each slave makes from the daemon at once: each slave's own bound on its runs, since rsyncd
    /// cannot count connections per host; nil: the slave's default (`AgentSettings`' `maxConcurrentSyncs`).
    public var maxPerSlave: Int?

    public init(
        address: String = "0.0.0.0", port: Int = 873, slavesOnly: Bool = false, maxConnections: Int? = nil,
        maxPerSlave: Int? = nil
    ) {
        self.address = address
        self.port = port
        self.slavesOnly = slavesOnly
        self.maxConnections = maxConnections
        self.maxPerSlave = maxPerSlave
    }

    enum CodingKeys: String, CodingKey { case address, port, slavesOnly, maxConnections, maxPerSlave }

    /// What `maxConnections` may be.
    public static let connectionRange = 1...100_000

    // Settings stored before `slavesOnly` existed lack it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        address = try c.decode(String.self, forKey: .address)
        port = try c.decode(Int.self, forKey: .port)
        slavesOnly = try c.decodeIfPresent(Bool.self, forKey: .slavesOnly) ?? false
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections)
        maxPerSlave = try c.decodeIfPresent(Int.self, forKey: .maxPerSlave)
    }
}

/// A named schedule: either `every` (with optional `jitter`) or `cron` (with a `timezone`).
public struct IntervalSpec: Sendable, Hashable, Codable {
    public var every: TimeSpan?
    public var jitter: TimeSpan?
    public var cron: CronExpression?
    public var timezone: String?

    public static func every(_ every: TimeSpan, jitter: TimeSpan? = nil) -> IntervalSpec {
        IntervalSpec(every: every, jitter: jitter, cron: nil, timezone: nil)
    }

    public static func cron(_ cron: CronExpression, timezone: String = "UTC") -> IntervalSpec {
        IntervalSpec(every: nil, jitter: nil, cron: cron, timezone: timezone)
    }
}

/// A credential an upstream's spec names rather than holds.
public enum UpstreamCredential: String, Sendable, Hashable, Codable {
    /// The site's credential for the master's rsync daemon, user name and password, which the master hands its
    /// slaves (`GET /v1/rsyncd/credential`): the source of a slave's pull is the master's module with it.
    case site
}

/// A public host that pulls projects from the master.
public struct SlaveSpec: Sendable, Hashable, Codable {
    public var api: String
    /// The slave's public tree: each project it serves lives at `publicDir/path`.
    public var publicDir: String
    /// The CA that verifies the slave's certificate when `api` is https://; nil: the site's `tls`, if any.
    public var tls: TLSSpec?
    /// Whether the token may go to an http:// `api` that is not loopback, in clear.
    public var insecure: Bool
    /// How the slave names and describes itself in its Debian trace files.
    public var trace: TraceSettings?
    /// The slave it pulls from (a tier, as ftpsync's `mhop`); nil: the master.
    public var from: String?
    /// Its own rsync daemon, for the slaves that pull from it; nil: on port 873 of every address, when one does.
    public var rsyncd: RsyncdSpec?

    public init(
        api: String, publicDir: String, tls: TLSSpec? = nil, insecure: Bool = false, trace: TraceSettings? = nil,
        from: String? = nil, rsyncd: RsyncdSpec? = nil
    ) {
        self.trace = trace
        self.api = api
        self.publicDir = publicDir
        self.tls = tls
        self.insecure = insecure
        self.from = from
        self.rsyncd = rsyncd
    }
}

/// How the agents' https:// APIs are verified: `tls:` in mirrors.d, for the whole site or for one agent.
public struct TLSSpec: Sendable, Hashable, Codable {
    /// A PEM file of one or more CA certificates that sign the agents' certificates, at this path on every host that
    /// calls an agent (the reconciler's, the master's, the slaves').
    public var caFile: String

    public init(caFile: String) { self.caFile = caFile }
}

/// Which slaves serve a project: every slave, or the ones named.
public enum SlaveSelection: Sendable, Hashable, Codable {
    case all
    case named([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let word = try? container.decode(String.self) {
            guard word == "all" else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "slaves is 'all' or a list of slave names"))
            }
            self = .all
        } else {
            self = .named(try container.decode([String].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .all: try container.encode("all")
        case .named(let names): try container.encode(names)
        }
    }
}

/// One mirrored tree, as mirrors.d writes it: the names of its upstream and interval, the slaves that serve it, and
/// its tree's fields, which read as its own (`project.path`).
@dynamicMemberLookup
public struct ProjectSpec: Sendable, Hashable {
    /// The name of the upstream it comes from.
    public var upstream: String
    /// The name of the interval it syncs on.
    public var interval: String
    public var slaves: SlaveSelection
    /// What it copies, where to, and how: the fields the master and every slave hold.
    public var tree: TreeSpec

    public init(upstream: String, interval: String, slaves: SlaveSelection = .all, tree: TreeSpec) {
        self.upstream = upstream
        self.interval = interval
        self.slaves = slaves
        self.tree = tree
    }

    public init(
        upstream: String, source: String = "", path: String, interval: String, slaves: SlaveSelection = .all,
        exclude: [String] = [], twoStage: [String] = [], rsyncOptions: [String] = [], suspended: Bool = false,
        timeout: TimeSpan? = nil, maxDelete: DeletionLimit = .default
    ) {
        self.init(
            upstream: upstream, interval: interval, slaves: slaves,
            tree: TreeSpec(
                source: source, path: path, exclude: exclude, twoStage: twoStage, rsyncOptions: rsyncOptions,
                suspended: suspended, timeout: timeout, maxDelete: maxDelete))
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<TreeSpec, T>) -> T {
        get { tree[keyPath: keyPath] }
        set { tree[keyPath: keyPath] = newValue }
    }
}

/// The kinds of object in mirrors.d, named as the top-level keys name them.
public enum ObjectKind: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case master, interval, upstream, slave, project, site

    /// The top-level key that holds objects of this kind.
    public var section: String { self == .master || self == .site ? rawValue : rawValue + "s" }

    public static func < (a: ObjectKind, b: ObjectKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One object of the desired state, by kind and name.
public struct ObjectRef: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var kind: ObjectKind
    public var name: String

    public init(_ kind: ObjectKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public var description: String { kind == .master || kind == .site ? kind.rawValue : "\(kind.rawValue) '\(name)'" }

    public static func < (a: ObjectRef, b: ObjectRef) -> Bool { (a.kind, a.name) < (b.kind, b.name) }
}

/// What `mirrors.d/*.yaml` says, after loading, merging and validation.
public struct DesiredState: Sendable, Equatable {
    public var master: MasterSpec
    /// The site's `tls:`: the CA for every agent whose own `tls` does not name one.
    public var tls: TLSSpec?
    public var intervals: [String: IntervalSpec]
    public var upstreams: [String: UpstreamSpec]
    public var slaves: [String: SlaveSpec]
    public var projects: [String: ProjectSpec]
    /// The site as mirror lists show it (`site:`), when a file describes it.
    public var site: SiteSpec?
    /// Whom the master tells of changes (`notify:`), when a file says.
    public var notify: NotifySpec?
    /// Where each object was defined, for messages.
    public var sources: [ObjectRef: SourceMark]
    /// The files read, in the order they were read.
    public var files: [String]

    public init(
        master: MasterSpec, intervals: [String: IntervalSpec] = [:], upstreams: [String: UpstreamSpec] = [:],
        slaves: [String: SlaveSpec] = [:], projects: [String: ProjectSpec] = [:], site: SiteSpec? = nil,
        sources: [ObjectRef: SourceMark] = [:], files: [String] = [], tls: TLSSpec? = nil, notify: NotifySpec? = nil
    ) {
        self.notify = notify
        self.master = master
        self.tls = tls
        self.intervals = intervals
        self.upstreams = upstreams
        self.slaves = slaves
        self.projects = projects
        self.site = site
        self.sources = sources
        self.files = files
    }

    /// How a client reaches the master's API: its CA (its own `tls`, else the site's) and whether plain HTTP is allowed.
    public var masterTransport: AgentTransport { transport(master.tls, insecure: master.insecure) }

    /// How a client reaches a slave's API.
    public func transport(slave: SlaveSpec) -> AgentTransport { transport(slave.tls, insecure: slave.insecure) }

    func transport(_ own: TLSSpec?, insecure: Bool) -> AgentTransport {
        AgentTransport(caFile: (own ?? tls)?.caFile, insecure: insecure)
    }

    /// The slaves that serve a project, sorted by name; `allSlaves`, when given, is every slave's name, sorted once
    /// by a caller that asks for many projects.
    public func slaves(serving project: ProjectSpec, allSlaves: [String]? = nil) -> [String] {
        switch project.slaves {
        case .all: return allSlaves ?? slaves.keys.sorted()
        case .named(let names): return names.sorted()
        }
    }
}
