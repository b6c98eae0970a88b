import Logging
import MirrorCore

/// What brings a project's tree from where it comes from: rsync (an upstream, or a slave's pull of the master's
/// module) and, for each other kind of source, one more file behind this seam. Everything else a run does is the run
/// mechanics' (`TreeRunner`): the bounds, the timeout, cancelling, trace files, in-place or atomic publication and the
/// cap on a built revision's deletions, a full disk; the scheduler adds the queue, retries, the run's log and
/// progress, hooks and reports.
public protocol SyncProvider: Sendable {
    /// Whether this provider brings trees from `source`.
    func accepts(_ source: SyncSource) -> Bool

    /// Brings the tree of `job.source` into `job.destination`.
    ///
    /// In place (`.inPlace`), the tree is the one being served: the provider counts what it would delete before it
    /// deletes anything, and deletes nothing when that passes `job.deletionLimit` (nor when the source suddenly lists
    /// nothing); with `job.twoStage`, the files the patterns name land after every other. Building (`.build`), the
    /// directory starts empty and nobody reads it before it is published: files unchanged since `linkDest` (the
    /// served revision) should be hard links of it. A cancelled task stops the transfer and yields `.cancelled`;
    /// the output goes to `context.activity`'s log.
    func transfer(_ job: SyncJob, into mode: TransferMode, context: TransferContext) async -> SyncOutcome
}

/// Where a provider puts a tree.
public enum TransferMode: Sendable, Hashable {
    /// Over the served tree, where it stands.
    case inPlace
    /// Into an empty directory, a new revision, hard-linking what has not changed since `linkDest`.
    case build(linkDest: String?)
}

/// What a transfer reports to, and where it may read its secrets from.
public struct TransferContext: Sendable {
    /// The run's log and progress; nil where no one reads them.
    public var activity: RunActivity?
    public var logger: Logger
    /// The files a secret (an upstream's `passwordFile`) may be read from.
    public var secrets: SecretFileRules
    /// What a wait inside the transfer (an upstream's own update) waits on.
    public var clock: any AgentClock

    public init(
        activity: RunActivity?, logger: Logger, secrets: SecretFileRules = SecretFileRules(),
        clock: any AgentClock = SystemClock()
    ) {
        self.activity = activity
        self.logger = logger
        self.secrets = secrets
        self.clock = clock
    }
}
