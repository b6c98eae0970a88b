import Foundation

/// What a project is doing now.
public struct ProjectStatus: Codable, Sendable, Hashable {
    /// `retrying`: a run between attempts (`retry` says until when); written `running` on the wire (`RetryWait`).
    public enum Activity: String, Codable, Sendable { case idle, queued, running, retrying, suspended }

    public var activity: Activity
    /// Bumped after each successful sync.
    public var revision: Int
    public var lastRun: RunRecord?
    public var lastSuccessAt: Date?
    public var nextRunAt: Date?
    public var currentRunID: Int64?
    /// When the newest run started (the one in progress, if any).
    public var lastStartedAt: Date?
    /// When the newest run that succeeded or failed ended (a run stopped or interrupted does not count): equal to
    /// `lastSuccessAt` when that run succeeded.
    public var lastEndedAt: Date?
    /// The tree's size in bytes after the last success, as rsync counted it.
    public var sizeBytes: Int64?
    /// When the agent was first given the project.
    public var addedAt: Date?
    /// Its runs have failed with one cause `FailureStreak.stuckAfter` times or more in a row: retrying will not mend it.
    public var stuck: FailureStreak?
    /// While the activity is `retrying`: when the next attempt starts, and why the last one failed.
    public var retry: RetryWait?

    public init(
        activity: Activity, revision: Int, lastRun: RunRecord? = nil, lastSuccessAt: Date? = nil,
        nextRunAt: Date? = nil, currentRunID: Int64? = nil, lastStartedAt: Date? = nil, lastEndedAt: Date? = nil,
        sizeBytes: Int64? = nil, addedAt: Date? = nil, stuck: FailureStreak? = nil, retry: RetryWait? = nil
    ) {
        self.activity = activity
        self.revision = revision
        self.lastRun = lastRun
        self.lastSuccessAt = lastSuccessAt
        self.nextRunAt = nextRunAt
        self.currentRunID = currentRunID
        self.lastStartedAt = lastStartedAt
        self.lastEndedAt = lastEndedAt
        self.sizeBytes = sizeBytes
        self.addedAt = addedAt
        self.stuck = stuck
        self.retry = retry
    }

    enum CodingKeys: String, CodingKey {
        case activity, revision, lastRun, lastSuccessAt, nextRunAt, currentRunID, lastStartedAt, lastEndedAt, sizeBytes
        case addedAt, stuck, retry
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        (activity, retry) = try Activity.read(c, activity: .activity, retry: .retry)
        revision = try c.decode(Int.self, forKey: .revision)
        lastRun = try c.decodeIfPresent(RunRecord.self, forKey: .lastRun)
        lastSuccessAt = try c.decodeIfPresent(Date.self, forKey: .lastSuccessAt)
        nextRunAt = try c.decodeIfPresent(Date.self, forKey: .nextRunAt)
        currentRunID = try c.decodeIfPresent(Int64.self, forKey: .currentRunID)
        lastStartedAt = try c.decodeIfPresent(Date.self, forKey: .lastStartedAt)
        lastEndedAt = try c.decodeIfPresent(Date.self, forKey: .lastEndedAt)
        sizeBytes = try c.decodeIfPresent(Int64.self, forKey: .sizeBytes)
        addedAt = try c.decodeIfPresent(Date.self, forKey: .addedAt)
        stuck = try c.decodeIfPresent(FailureStreak.self, forKey: .stuck)
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
        box = Box(
            spec: try c.decode(AgentProjectSpec.self, forKey: .spec),
            generation: try c.decode(String.self, forKey: .generation),
            status: try c.decode(ProjectStatus.self, forKey: .status),
            managed: try c.decodeIfPresent(Bool.self, forKey: .managed) ?? false)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(spec, forKey: .spec)
        try c.encode(generation, forKey: .generation)
        try c.encode(status, forKey: .status)
        try c.encode(managed, forKey: .managed)
    }

    public static func == (a: ProjectState, b: ProjectState) -> Bool {
        a.box === b.box
            || (a.generation == b.generation && a.managed == b.managed && a.status == b.status && a.spec == b.spec)
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
    /// The agent's state version when it answered: a later `?since=BOOTID:VERSION` asks for what changed after it.
    /// Absent from agents that do not serve deltas.
    public var stateVersion: UInt64?
    /// Set when the request asked for what changed since this version (`?since=`) and the agent answered with that
    /// alone: `projects` holds the projects whose state changed since, `projectsDigest` is still that of every project.
    public var projectsSince: UInt64?
    /// True when the agent accepts one token shared by every role: `status` says what to do about it.
    public var sharedToken: Bool?

    public init(
        role: AgentRole, name: String, bootID: String, version: String, settings: AgentSettings?,
        settingsGeneration: String?, projects: [String: ProjectState], projectsDigest: String? = nil,
        projectsOmitted: Bool = false, stateVersion: UInt64? = nil, projectsSince: UInt64? = nil
    ) {
        self.role = role
        self.name = name
        self.bootID = bootID
        self.version = version
        self.settings = settings
        self.settingsGeneration = settingsGeneration
        self.projects = projects
        self.projectsDigest = projectsDigest
        self.projectsOmitted = projectsOmitted
        self.stateVersion = stateVersion
        self.projectsSince = projectsSince
    }

    enum CodingKeys: String, CodingKey {
        case role, name, bootID, version, settings, settingsGeneration, projects, projectsDigest, projectsOmitted
        case stateVersion, projectsSince, sharedToken
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
        stateVersion = try c.decodeIfPresent(UInt64.self, forKey: .stateVersion)
        projectsSince = try c.decodeIfPresent(UInt64.self, forKey: .projectsSince)
        sharedToken = try c.decodeIfPresent(Bool.self, forKey: .sharedToken)
    }

    /// The digest these projects have, for agents (and tests) that build a state.
    public static func digest(of projects: [String: ProjectState]) -> String {
        ProjectsDigest.of(
            projects.keys.sorted().map {
                (name: $0, generation: projects[$0]!.generation, managed: projects[$0]!.managed)
            })
    }
}

/// `GET /v1/health`.
public struct AgentHealth: Codable, Sendable, Hashable {
    public var status: String
    public var role: AgentRole
    public var name: String
    public var bootID: String
    public var version: String
    /// True when the agent accepts one token shared by every role (no `--accept-file`, or a `shared` line in it).
    public var sharedToken: Bool?

    public init(
        status: String = "ok", role: AgentRole, name: String, bootID: String, version: String, sharedToken: Bool? = nil
    ) {
        self.sharedToken = sharedToken
        self.status = status
        self.role = role
        self.name = name
        self.bootID = bootID
        self.version = version
    }
}
