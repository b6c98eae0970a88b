import Foundation
import Logging
import MirrorCore

/// One sync to run: where from, where to and how; built from a project's spec and the agent's settings.
///
/// It holds the project's tree as the spec does (`TreeSpec`), so a field of the tree reaches the job with no line
/// here: `job.exclude`, `job.publish`, ... read it. What the upstream decides is resolved into the job's own fields.
@dynamicMemberLookup
public struct SyncJob: Sendable, Hashable {
    public var project: String
    /// Where the tree comes from, and so which provider brings it.
    public var source: SyncSource
    /// The directory the tree lands in, ending in '/'.
    public var destination: String
    /// The agent's root the destination is under, when the job was made from a spec: no secret is read from it.
    public var root: String?
    /// The project's tree: what to copy and how (its `path` and `source` are already in `destination` and `source`).
    public var tree: TreeSpec
    public var ioTimeout: TimeSpan
    /// The longest the whole run may take.
    public var timeout: TimeSpan
    public var bandwidthLimit: ByteSize?
    /// Files in the tree after its last successful sync, if it had one.
    public var previousFiles: Int?
    /// Which passes this run makes: a slave of a `stage: site` project runs its two stages as two runs.
    public var stage = SyncStage.whole
    /// Patterns (anchored at the tree's top) rsync may bring but never deletes: rsync's protect rules.
    public var protect: [String] = []
    /// How this host names and describes itself in its trace files (the agent's settings), and what started the run.
    public var traceInfo: TraceSettings?
    public var trigger: RunTrigger?
    /// Whether the run first looks for the upstream's own `Archive-Update-in-Progress-*` and waits it out: set by the
    /// runner for a traced tree.
    public var upstreamBusy: UpstreamBusy?
    /// On a slave: the master's revision it serves now (0: none yet), and the one this pull brings (nil: not named).
    /// With both, the pull may fetch the master's lists of the changes between them rather than walk the whole tree.
    public var servedRevision = 0
    public var pullingRevision: Int?
    /// On a slave: the operator asked for this pull (`POST .../sync` without a revision): the whole tree is walked.
    public var walkWhole = false

    public init(
        project: String, source: SyncSource, destination: String, exclude: [String] = [], twoStage: [String] = [],
        rsyncOptions: [String] = [], ioTimeout: TimeSpan = UpstreamSpec.defaultIOTimeout,
        timeout: TimeSpan = UpstreamSpec.defaultTimeout, bandwidthLimit: ByteSize? = nil,
        maxDelete: DeletionLimit = .default, previousFiles: Int? = nil
    ) {
        self.project = project
        self.source = source
        self.destination = destination
        self.tree = TreeSpec(
            path: project, exclude: exclude, twoStage: twoStage, rsyncOptions: rsyncOptions, maxDelete: maxDelete)
        self.ioTimeout = ioTimeout
        self.timeout = timeout
        self.bandwidthLimit = bandwidthLimit
        self.previousFiles = previousFiles
    }

    /// The job a project's spec asks for, with its tree under `root`; `masterAPI` (a slave's settings) hands out the
    /// site's credential when the spec's source names it.
    public init(project: String, spec: AgentProjectSpec, root: String, previousFiles: Int?, masterAPI: String? = nil) {
        let upstream = spec.upstream
        let source: SyncSource =
            if let command = upstream.command {
                .command(
                    CommandUpstream(
                        command: command, url: upstream.url.description, env: upstream.env ?? [:],
                        sizePattern: upstream.sizePattern, failOnMatch: upstream.failOnMatch,
                        successExitCodes: upstream.successExitCodes ?? [0]))
            } else {
                switch upstream.credential {
                case .site: .masterModule(upstream.url, masterAPI: masterAPI)
                case nil: .rsync(upstream.url, passwordFile: upstream.passwordFile)
                }
            }
        self.init(
            project: project, source: source.appending(spec.source), destination: root + "/" + spec.path + "/",
            ioTimeout: spec.upstream.ioTimeout, timeout: spec.runTimeout, bandwidthLimit: spec.upstream.bandwidthLimit,
            previousFiles: previousFiles)
        tree = spec.tree
        self.root = root
    }

    /// A field of the project's tree, as the job's own.
    public subscript<T>(dynamicMember keyPath: WritableKeyPath<TreeSpec, T>) -> T {
        get { tree[keyPath: keyPath] }
        set { tree[keyPath: keyPath] = newValue }
    }

    /// How many files this run may delete, given how many it would delete and how many the tree holds now.
    public func deletionLimit(currentFiles: Int) -> Int {
        switch tree.maxDelete {
        case .files(let n): return n
        case .percent(let p):
            let base = previousFiles ?? currentFiles
            return Int((Double(base) * p / 100).rounded(.down))
        }
    }
}

/// How a run waits for an upstream that is updating itself, as ftpsync's UIPSLEEP and UIPRETRIES.
public struct UpstreamBusy: Sendable, Hashable {
    /// How long it waits before it looks again.
    public var wait: TimeSpan
    /// How many times it looks again before the run fails.
    public var retries: Int
    /// This host's own marker: an upstream's marker of the same name is not taken for the upstream's.
    public var ownMarker: String

    public init(wait: TimeSpan, retries: Int, ownMarker: String) {
        self.wait = wait
        self.retries = retries
        self.ownMarker = ownMarker
    }
}

/// The passes of a run.
public enum SyncStage: Sendable, Hashable {
    /// Both passes (the second only when needed), one after the other.
    case whole
    /// The first pass and its checks: everything but the second stage, nothing deleted; the deletions counted.
    case first
    /// The second pass alone, after a first stage that found `deletionLimit` deletions allowed: the index files, and
    /// the deletions.
    case second(deletionLimit: Int)
}

/// How one sync ended, in terms the run record keeps.
public struct SyncOutcome: Sendable, Hashable {
    public var result: RunResult
    public var exitCode: Int?
    public var reason: String?
    public var message: String
    public var filesTransferred: Int?
    public var bytesTransferred: Int64?
    public var filesDeleted: Int?
    public var filesTotal: Int?
    /// The tree's size in bytes, as rsync listed it.
    public var bytesTotal: Int64?
    public var stderrTail: [String]
    /// rsync's "Total bytes received", summed over the passes of the last attempt.
    public var bytesReceived: Int64?
    /// How long each rsync pass of the last attempt took, in seconds.
    public var passSeconds: [Double] = []
    /// Whether trying again later may help (a dropped connection may; a deletion cap will not).
    public var retryable: Bool
    /// After a first stage: the most files its second stage may delete, as the first pass counted and the cap allows.
    public var deletionLimit: Int?
    /// Entries rsync made, summed over the passes: with the files transferred and deleted, what a full walk that
    /// checks an incremental pull counts as drift.
    public var filesCreated: Int?

    public init(
        result: RunResult, exitCode: Int? = nil, reason: String? = nil, message: String, filesTransferred: Int? = nil,
        bytesTransferred: Int64? = nil, filesDeleted: Int? = nil, filesTotal: Int? = nil, bytesTotal: Int64? = nil,
        stderrTail: [String] = [], retryable: Bool = false
    ) {
        self.result = result
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
        self.filesTransferred = filesTransferred
        self.bytesTransferred = bytesTransferred
        self.filesDeleted = filesDeleted
        self.filesTotal = filesTotal
        self.bytesTotal = bytesTotal
        self.stderrTail = stderrTail
        self.retryable = retryable
    }
}

/// Runs syncs. The agent's scheduler talks to this seam; `TreeRunner` is the real one, with a provider for each kind of source.
public protocol SyncRunner: Sendable {
    /// Runs `job` to its end, reporting as it goes (its output into the run's log, its progress) to `activity` when
    /// there is one. A cancelled task stops the sync and yields `.cancelled`.
    func run(_ job: SyncJob, activity: RunActivity?, logger: Logger) async -> SyncOutcome

    /// Says in `job`'s tree that a push came while it synced, so that another sync is due (Debian's
    /// `Archive-Update-Required-<host>`); the next run of the job takes it away as it starts.
    func markUpdateRequired(_ job: SyncJob, logger: Logger)
}

extension SyncRunner {
    /// A runner that writes no trace files says nothing.
    public func markUpdateRequired(_ job: SyncJob, logger: Logger) {}

    /// Runs `job` with no log or progress to report to.
    public func run(_ job: SyncJob, logger: Logger) async -> SyncOutcome {
        await run(job, activity: nil, logger: logger)
    }
}
