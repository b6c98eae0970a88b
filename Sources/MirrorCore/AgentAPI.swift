import Foundation

// The agents' HTTP API: request and response bodies, shared by the agents, the reconciler and the tests.

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

    public init(root: String, maxConcurrentSyncs: Int = 4, publicStatus: Bool = false, rsyncd: RsyncdSpec? = nil,
                master: String? = nil, slaves: [String: String] = [:]) {
        self.root = root
        self.maxConcurrentSyncs = maxConcurrentSyncs
        self.publicStatus = publicStatus
        self.rsyncd = rsyncd
        self.master = master
        self.slaves = slaves
    }

    enum CodingKeys: String, CodingKey { case root, maxConcurrentSyncs, publicStatus, rsyncd, master, slaves }

    // Settings stored before the peers were part of them lack `master` and `slaves`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        root = try c.decode(String.self, forKey: .root)
        maxConcurrentSyncs = try c.decode(Int.self, forKey: .maxConcurrentSyncs)
        publicStatus = try c.decode(Bool.self, forKey: .publicStatus)
        rsyncd = try c.decodeIfPresent(RsyncdSpec.self, forKey: .rsyncd)
        master = try c.decodeIfPresent(String.self, forKey: .master)
        slaves = try c.decodeIfPresent([String: String].self, forKey: .slaves) ?? [:]
    }
}

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

/// How one run ended.
public enum RunResult: String, Codable, Sendable, Hashable {
    /// Everything copied.
    case success
    /// Copied, with something worth knowing (rsync's 24: files vanished on the upstream while it ran).
    case warning
    case failed
    /// Stopped on purpose: the project was removed or the agent was told to stop it.
    case cancelled
    /// The agent stopped (or died) while it ran.
    case interrupted

    public var isSuccess: Bool { self == .success || self == .warning }
}

/// Where a run is in its life.
public enum RunState: String, Codable, Sendable, Hashable {
    case queued, running, finished
}

/// Why a run was started.
public enum RunTrigger: String, Codable, Sendable, Hashable {
    /// The project's interval came due.
    case schedule
    /// `POST /v1/projects/{name}/sync`.
    case request
    /// The master has a new revision (slaves).
    case trigger
    /// A slave found itself behind the master's revision when it asked (at start, or on its poll).
    case catchUp
}

/// One run of a project: from its queueing to its end, over every attempt.
public struct RunRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var project: String
    public var trigger: RunTrigger
    public var state: RunState
    public var result: RunResult?
    public var queuedAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    public var attempts: Int
    /// rsync's exit code of the last attempt.
    public var exitCode: Int?
    /// A stable name for why it failed or warned: `deletion-cap`, `empty-upstream`, `timeout`, `rsync-exit-10`, ...
    public var reason: String?
    public var message: String?
    public var filesTransferred: Int?
    public var bytesTransferred: Int64?
    public var filesDeleted: Int?
    /// Files in the tree as rsync listed it.
    public var filesTotal: Int?
    /// The last lines rsync wrote to its standard error.
    public var stderrTail: [String]
    /// The project's revision after this run, when it succeeded.
    public var revision: Int?

    public init(id: Int64, project: String, trigger: RunTrigger, state: RunState = .queued, result: RunResult? = nil,
                queuedAt: Date, startedAt: Date? = nil, endedAt: Date? = nil, attempts: Int = 0, exitCode: Int? = nil,
                reason: String? = nil, message: String? = nil, filesTransferred: Int? = nil, bytesTransferred: Int64? = nil,
                filesDeleted: Int? = nil, filesTotal: Int? = nil, stderrTail: [String] = [], revision: Int? = nil) {
        self.id = id
        self.project = project
        self.trigger = trigger
        self.state = state
        self.result = result
        self.queuedAt = queuedAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.attempts = attempts
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
        self.filesTransferred = filesTransferred
        self.bytesTransferred = bytesTransferred
        self.filesDeleted = filesDeleted
        self.filesTotal = filesTotal
        self.stderrTail = stderrTail
        self.revision = revision
    }
}

/// What a project is doing now.
public struct ProjectStatus: Codable, Sendable, Hashable {
    public enum Activity: String, Codable, Sendable { case idle, queued, running, suspended }

    public var activity: Activity
    /// Bumped after each successful sync.
    public var revision: Int
    public var lastRun: RunRecord?
    public var lastSuccessAt: Date?
    public var nextRunAt: Date?
    public var currentRunID: Int64?

    public init(activity: Activity, revision: Int, lastRun: RunRecord? = nil, lastSuccessAt: Date? = nil,
                nextRunAt: Date? = nil, currentRunID: Int64? = nil) {
        self.activity = activity
        self.revision = revision
        self.lastRun = lastRun
        self.lastSuccessAt = lastSuccessAt
        self.nextRunAt = nextRunAt
        self.currentRunID = currentRunID
    }
}

/// One project of `GET /v1/state`.
///
/// Its fields live in one shared box, copied only when changed, so that the reconciler's plan over a hundred
/// slaves' states moves references around rather than whole specs.
public struct ProjectState: Codable, Sendable, Hashable {
    private final class Box: Sendable {
        let spec: AgentProjectSpec
        let generation: String
        let status: ProjectStatus
        let managed: Bool

        init(spec: AgentProjectSpec, generation: String, status: ProjectStatus, managed: Bool) {
            self.spec = spec
            self.generation = generation
            self.status = status
            self.managed = managed
        }
    }

    private var box: Box

    public var spec: AgentProjectSpec {
        get { box.spec }
        set { box = Box(spec: newValue, generation: box.generation, status: box.status, managed: box.managed) }
    }
    public var generation: String {
        get { box.generation }
        set { box = Box(spec: box.spec, generation: newValue, status: box.status, managed: box.managed) }
    }
    public var status: ProjectStatus {
        get { box.status }
        set { box = Box(spec: box.spec, generation: box.generation, status: newValue, managed: box.managed) }
    }
    /// Put there by the reconciler (`PUT ...?managed=true`); a project put by hand is left alone unless pruned.
    public var managed: Bool {
        get { box.managed }
        set { box = Box(spec: box.spec, generation: box.generation, status: box.status, managed: newValue) }
    }

    public init(spec: AgentProjectSpec, generation: String, status: ProjectStatus, managed: Bool = false) {
        box = Box(spec: spec, generation: generation, status: status, managed: managed)
    }

    enum CodingKeys: String, CodingKey { case spec, generation, status, managed }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        box = Box(spec: try c.decode(AgentProjectSpec.self, forKey: .spec), generation: try c.decode(String.self, forKey: .generation),
                  status: try c.decode(ProjectStatus.self, forKey: .status), managed: try c.decodeIfPresent(Bool.self, forKey: .managed) ?? false)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(spec, forKey: .spec)
        try c.encode(generation, forKey: .generation)
        try c.encode(status, forKey: .status)
        try c.encode(managed, forKey: .managed)
    }

    public static func == (a: ProjectState, b: ProjectState) -> Bool {
        a.box === b.box || (a.generation == b.generation && a.managed == b.managed && a.status == b.status && a.spec == b.spec)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(generation)
        hasher.combine(managed)
        hasher.combine(status)
    }
}

/// `GET /v1/state`: what the agent holds and what it is doing.
public struct AgentState: Codable, Sendable, Hashable {
    public var role: AgentRole
    public var name: String
    /// New at every start of the agent, so that a client can tell a restart.
    public var bootID: String
    public var version: String
    public var settings: AgentSettings?
    public var settingsGeneration: String?
    public var projects: [String: ProjectState]
    /// `ProjectsDigest` of `projects`; absent from agents that do not compute it.
    public var projectsDigest: String?
    /// The request gave the digest the agent has (`?ifDigest=`), so `projects` was left out: the caller knows them.
    public var projectsOmitted: Bool

    public init(role: AgentRole, name: String, bootID: String, version: String, settings: AgentSettings?,
                settingsGeneration: String?, projects: [String: ProjectState], projectsDigest: String? = nil,
                projectsOmitted: Bool = false) {
        self.role = role
        self.name = name
        self.bootID = bootID
        self.version = version
        self.settings = settings
        self.settingsGeneration = settingsGeneration
        self.projects = projects
        self.projectsDigest = projectsDigest
        self.projectsOmitted = projectsOmitted
    }

    enum CodingKeys: String, CodingKey {
        case role, name, bootID, version, settings, settingsGeneration, projects, projectsDigest, projectsOmitted
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(AgentRole.self, forKey: .role)
        name = try c.decode(String.self, forKey: .name)
        bootID = try c.decode(String.self, forKey: .bootID)
        version = try c.decode(String.self, forKey: .version)
        settings = try c.decodeIfPresent(AgentSettings.self, forKey: .settings)
        settingsGeneration = try c.decodeIfPresent(String.self, forKey: .settingsGeneration)
        projects = try c.decodeIfPresent([String: ProjectState].self, forKey: .projects) ?? [:]
        projectsDigest = try c.decodeIfPresent(String.self, forKey: .projectsDigest)
        projectsOmitted = try c.decodeIfPresent(Bool.self, forKey: .projectsOmitted) ?? false
    }

    /// The digest these projects have, for agents (and tests) that build a state.
    public static func digest(of projects: [String: ProjectState]) -> String {
        ProjectsDigest.of(projects.keys.sorted().map { (name: $0, generation: projects[$0]!.generation, managed: projects[$0]!.managed) })
    }
}

/// `GET /v1/health`.
public struct AgentHealth: Codable, Sendable, Hashable {
    public var status: String
    public var role: AgentRole
    public var name: String
    public var bootID: String
    public var version: String

    public init(status: String = "ok", role: AgentRole, name: String, bootID: String, version: String) {
        self.status = status
        self.role = role
        self.name = name
        self.bootID = bootID
        self.version = version
    }
}

/// What a PUT changed.
public struct PutResponse: Codable, Sendable, Hashable {
    public enum Change: String, Codable, Sendable { case created, updated, unchanged }

    public var name: String
    public var generation: String
    public var change: Change

    public init(name: String, generation: String, change: Change) {
        self.name = name
        self.generation = generation
        self.change = change
    }
}

/// `DELETE /v1/projects/{name}`: what was removed.
public struct DeleteResponse: Codable, Sendable, Hashable {
    public var name: String
    public var removed: Bool
    /// Whether the project's files were deleted too (`?purge=true`).
    public var purged: Bool

    public init(name: String, removed: Bool, purged: Bool) {
        self.name = name
        self.removed = removed
        self.purged = purged
    }
}

/// `POST /v1/projects/{name}/sync`: the run that will carry the request out.
public struct SyncResponse: Codable, Sendable, Hashable {
    public var project: String
    public var runID: Int64
    public var state: RunState

    public init(project: String, runID: Int64, state: RunState) {
        self.project = project
        self.runID = runID
        self.state = state
    }
}

/// The body of every 4xx and 5xx answer: `{"error": {"code", "message", "field", "line", "column"}}`.
public struct APIErrorBody: Codable, Sendable, Hashable {
    public struct Detail: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
        public var field: String?
        public var line: Int?
        public var column: Int?

        public init(code: String, message: String, field: String? = nil, line: Int? = nil, column: Int? = nil) {
            self.code = code
            self.message = message
            self.field = field
            self.line = line
            self.column = column
        }
    }

    public var error: Detail

    public init(_ detail: Detail) { self.error = detail }
}

/// JSON as the API writes and reads it: ISO 8601 dates, sorted keys.
public enum APICoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatDate(date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = parseDate(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an ISO 8601 date"))
            }
            return date
        }
        return decoder
    }

    /// `2026-11-26T07:02:18.123Z`: milliseconds, so that runs a moment apart stay apart.
    public static func formatDate(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func parseDate(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

/// Reads request bodies with the loader's own reader and checks, so that a spec sent to an agent is held to
/// exactly the standard of one in mirrors.d. JSON is YAML, so the same code reads both.
public enum AgentRequest {
    /// Request bodies are small: a spec is a few hundred bytes.
    public static let limits = YAMLReader.Limits(maxAliasExpansion: 10_000, maxDepth: 16, maxBytes: 1 << 20)

    public static func project(_ body: [UInt8], name: String) throws(ConfigError) -> AgentProjectSpec {
        try decode(body) { decoder, node in decoder.agentProject(node, name: name) }
    }

    public static func settings(_ body: [UInt8]) throws(ConfigError) -> AgentSettings {
        try decode(body) { decoder, node in decoder.agentSettings(node) }
    }

    static func decode<T>(_ body: [UInt8], _ read: (inout SpecDecoder, YAMLNode) -> T?) throws(ConfigError) -> T {
        let result = YAMLReader(limits: limits).read(body, file: "request body")
        guard let root = result.root, result.diagnostics.isEmpty else { throw ConfigError(result.diagnostics) }
        var decoder = SpecDecoder()
        let value = read(&decoder, root)
        guard let value, !decoder.diagnostics.hasErrors else { throw ConfigError(decoder.diagnostics.all) }
        return value
    }
}
