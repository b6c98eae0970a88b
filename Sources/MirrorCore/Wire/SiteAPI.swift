import Foundation

// What the master and its slaves say to each other, and what the master says of the whole site.

/// `POST /v1/projects/{name}/sync` from the master to a slave: the master has this revision; pull it.
public struct TriggerRequest: Codable, Sendable, Hashable {
    public var revision: Int
    /// With `stage: site`: 1 pulls everything but the index files and waits; 2 brings the index files and deletes.
    /// Absent, the slave pulls the whole revision at once.
    public var stage: Int?
    /// With stage 1: how long the slave waits for stage 2 before it pulls the whole revision on its own, in seconds.
    public var stageTimeout: Double?

    public init(revision: Int, stage: Int? = nil, stageTimeout: Double? = nil) {
        self.revision = revision
        self.stage = stage
        self.stageTimeout = stageTimeout
    }
}

/// `POST /v1/reports`: a slave's word on a pull that has finished, sent only once it has.
public struct SlaveReport: Codable, Sendable, Hashable {
    public var slave: String
    public var project: String
    /// The revision the slave serves after this pull; with `stage` 1, the revision whose first stage it pulled.
    public var revision: Int
    /// 1 for the first stage of a `stage: site` pull: the slave holds everything but the revision's index files and
    /// still serves the revision before. Absent for a whole pull and for the second stage.
    public var stage: Int?
    public var result: RunResult
    public var runID: Int64
    public var startedAt: Date?
    public var endedAt: Date
    public var durationSeconds: Double
    public var bytesTransferred: Int64?
    public var filesTransferred: Int?
    public var filesTotal: Int?
    /// The size of the slave's tree after the pull, in bytes, as rsync counted it.
    public var bytesTotal: Int64?
    public var message: String?
    /// The run's stable name for why it failed or warned (`RunRecord.reason`): what the public status shows of it.
    public var reason: String?

    public init(
        slave: String, project: String, revision: Int, result: RunResult, runID: Int64, startedAt: Date?, endedAt: Date,
        durationSeconds: Double, bytesTransferred: Int64? = nil, filesTransferred: Int? = nil, filesTotal: Int? = nil,
        bytesTotal: Int64? = nil, message: String? = nil, reason: String? = nil
    ) {
        self.slave = slave
        self.project = project
        self.revision = revision
        self.result = result
        self.runID = runID
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.durationSeconds = durationSeconds
        self.bytesTransferred = bytesTransferred
        self.filesTransferred = filesTransferred
        self.filesTotal = filesTotal
        self.bytesTotal = bytesTotal
        self.message = message
        self.reason = reason
    }

    /// The report of a slave's finished run.
    public init(slave: String, run: RunRecord, revision: Int) {
        let end = run.endedAt ?? run.startedAt ?? run.queuedAt
        self.init(
            slave: slave, project: run.project, revision: revision, result: run.result ?? .failed, runID: run.id,
            startedAt: run.startedAt, endedAt: end,
            durationSeconds: run.startedAt.map { end.timeIntervalSince($0) } ?? 0,
            bytesTransferred: run.bytesTransferred, filesTransferred: run.filesTransferred, filesTotal: run.filesTotal,
            bytesTotal: run.bytesTotal, message: run.message, reason: run.reason)
        if run.trigger == .firstStage { stage = 1 }
    }
}

/// `GET /v1/revisions` on the master: the revision of every project, for a slave that catches up.
public struct RevisionsResponse: Codable, Sendable, Hashable {
    public var projects: [String: Int]

    public init(projects: [String: Int]) { self.projects = projects }
}

/// `GET /v1/rsyncd/credential` on the master: what a slave logs in to the master's rsync daemon with.
/// Never part of a state, a status or a log line.
public struct RsyncCredential: Codable, Sendable, Hashable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

/// The master's rsync daemon, as `GET /v1/status` shows it.
public struct RsyncdStatus: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        /// No `rsyncd` in the settings yet.
        case disabled
        case starting, running
        /// It exited or could not start; `message` says why, and it is started again after `retryAt`.
        case failed
        case stopped
    }

    public var state: State
    public var address: String?
    public var port: Int?
    public var pid: Int32?
    public var since: Date?
    public var modules: Int
    public var restarts: Int
    public var message: String?
    public var retryAt: Date?

    public init(
        state: State, address: String? = nil, port: Int? = nil, pid: Int32? = nil, since: Date? = nil, modules: Int = 0,
        restarts: Int = 0, message: String? = nil, retryAt: Date? = nil
    ) {
        self.state = state
        self.address = address
        self.port = port
        self.pid = pid
        self.since = since
        self.modules = modules
        self.restarts = restarts
        self.message = message
        self.retryAt = retryAt
    }
}

/// A slave as the master last saw it.
public struct SlaveHealth: Codable, Sendable, Hashable {
    public var name: String
    public var api: String
    public var reachable: Bool
    public var lastSeenAt: Date?
    public var error: String?
    /// A slave in a tier: the hops it pulls through, the master first (`["master", "ftp1"]`); absent for a slave
    /// that pulls from the master.
    public var chain: [String]?

    public init(
        name: String, api: String, reachable: Bool, lastSeenAt: Date?, error: String? = nil, chain: [String]? = nil
    ) {
        self.name = name
        self.api = api
        self.reachable = reachable
        self.lastSeenAt = lastSeenAt
        self.error = error
        self.chain = chain
    }
}

/// One slave's copy of one project, as the master's status shows it.
public struct SlaveCopy: Codable, Sendable, Hashable {
    /// The revision the slave serves (0: it has reported none).
    public var revision: Int
    public var result: RunResult?
    public var reportedAt: Date?
    public var message: String?
    /// Why the slave's last pull failed or warned, as its report said (`RunRecord.reason`).
    public var reason: String?
    /// Revisions the slave is behind the master.
    public var behind: Int
    /// How long the slave has been behind: since the master made the first revision it lacks; 0 when current.
    public var lagSeconds: Double
    public var reachable: Bool
    public var lastSeenAt: Date?
    /// The size of the slave's copy in bytes, as its last report said.
    public var sizeBytes: Int64?

    public init(
        revision: Int, result: RunResult?, reportedAt: Date?, message: String?, behind: Int, lagSeconds: Double,
        reachable: Bool, lastSeenAt: Date?, sizeBytes: Int64? = nil, reason: String? = nil
    ) {
        self.reason = reason
        self.revision = revision
        self.result = result
        self.reportedAt = reportedAt
        self.message = message
        self.behind = behind
        self.lagSeconds = lagSeconds
        self.reachable = reachable
        self.lastSeenAt = lastSeenAt
        self.sizeBytes = sizeBytes
    }
}

/// One project across the site.
public struct SiteProject: Codable, Sendable, Hashable {
    public var revision: Int
    public var activity: ProjectStatus.Activity
    public var lastRun: RunRecord?
    public var lastSuccessAt: Date?
    public var nextRunAt: Date?
    /// Every slave that serves the project, by name.
    public var slaves: [String: SlaveCopy]
    /// The master's tree's size in bytes after its last success.
    public var sizeBytes: Int64?
    /// The master's runs of it keep failing with one cause (`ProjectStatus.stuck`).
    public var stuck: FailureStreak?
    /// While the activity is `retrying`: when the master's next attempt starts (`ProjectStatus.retry`).
    public var retry: RetryWait?

    public init(
        revision: Int, activity: ProjectStatus.Activity, lastRun: RunRecord?, lastSuccessAt: Date?, nextRunAt: Date?,
        slaves: [String: SlaveCopy], sizeBytes: Int64? = nil, stuck: FailureStreak? = nil, retry: RetryWait? = nil
    ) {
        self.revision = revision
        self.activity = activity
        self.lastRun = lastRun
        self.lastSuccessAt = lastSuccessAt
        self.nextRunAt = nextRunAt
        self.slaves = slaves
        self.sizeBytes = sizeBytes
        self.stuck = stuck
        self.retry = retry
    }

    enum CodingKeys: String, CodingKey {
        case revision, activity, lastRun, lastSuccessAt, nextRunAt, slaves, sizeBytes, stuck, retry
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        revision = try c.decode(Int.self, forKey: .revision)
        (activity, retry) = try ProjectStatus.Activity.read(c, activity: .activity, retry: .retry)
        lastRun = try c.decodeIfPresent(RunRecord.self, forKey: .lastRun)
        lastSuccessAt = try c.decodeIfPresent(Date.self, forKey: .lastSuccessAt)
        nextRunAt = try c.decodeIfPresent(Date.self, forKey: .nextRunAt)
        slaves = try c.decode([String: SlaveCopy].self, forKey: .slaves)
        sizeBytes = try c.decodeIfPresent(Int64.self, forKey: .sizeBytes)
        stuck = try c.decodeIfPresent(FailureStreak.self, forKey: .stuck)
    }
}

/// `GET /v1/status` on the master: every project with its revision and runs, and every slave's copy of it.
public struct SiteStatus: Codable, Sendable, Hashable {
    public var role: AgentRole
    public var name: String
    public var generatedAt: Date
    public var rsyncd: RsyncdStatus
    public var slaves: [SlaveHealth]
    public var projects: [String: SiteProject]

    public init(
        role: AgentRole = .master, name: String, generatedAt: Date, rsyncd: RsyncdStatus, slaves: [SlaveHealth],
        projects: [String: SiteProject]
    ) {
        self.role = role
        self.name = name
        self.generatedAt = generatedAt
        self.rsyncd = rsyncd
        self.slaves = slaves
        self.projects = projects
    }
}
