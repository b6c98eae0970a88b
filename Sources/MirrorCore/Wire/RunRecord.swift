import Foundation

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
    /// A scheduled run whose probe found the upstream as it was at the last successful run: it ended without a walk,
    /// the tree and its revision as they were.
    case unchanged

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
    /// The upstream announced a new tree (`POST /v1/projects/{name}/trigger`, on the master).
    case push
    /// The master's trigger of a `stage: site` project's first stage (slaves): everything but the index files, which
    /// wait for the second.
    case firstStage
    /// The master's trigger of the second stage, once every reachable slave has finished the first (slaves).
    case secondStage
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
    /// The tree's size in bytes as rsync listed it ("Total file size"): the project's size after a success.
    public var bytesTotal: Int64?
    /// The last lines rsync wrote to its standard error.
    public var stderrTail: [String]
    /// The project's revision after this run, when it succeeded.
    public var revision: Int?
    /// How the project's hook ended, once it has (`hooks`); it never changes the run's result.
    public var hook: HookOutcome?
    /// While the run goes on, how far it has come; nil when it is queued or finished, and before rsync says.
    public var progress: RunProgress?

    public init(
        id: Int64, project: String, trigger: RunTrigger, state: RunState = .queued, result: RunResult? = nil,
        queuedAt: Date, startedAt: Date? = nil, endedAt: Date? = nil, attempts: Int = 0, exitCode: Int? = nil,
        reason: String? = nil, message: String? = nil, filesTransferred: Int? = nil, bytesTransferred: Int64? = nil,
        filesDeleted: Int? = nil, filesTotal: Int? = nil, bytesTotal: Int64? = nil, stderrTail: [String] = [],
        revision: Int? = nil,
        hook: HookOutcome? = nil
    ) {
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
        self.bytesTotal = bytesTotal
        self.stderrTail = stderrTail
        self.revision = revision
        self.hook = hook
    }
}
