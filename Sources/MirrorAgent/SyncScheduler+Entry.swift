import Foundation
import MirrorCore

// What the scheduler keeps: its policy, and for each project its spec, what it has done and what runs or waits.

extension SyncScheduler {
    /// How the scheduler retries a failed run and spaces the runs pushes and stages ask for.
    public struct Policy: Sendable {
        /// Attempts per run, the first included.
        public var maxAttempts: Int
        /// The wait before the second attempt; it doubles with each further attempt, up to `retryMax`.
        public var retryBase: TimeInterval
        public var retryMax: TimeInterval
        /// The least time between the starts of two runs an upstream's pushes start: pushes closer together wait,
        /// and coalesce into one run.
        public var pushGap: TimeInterval
        /// On the master, how long a `stage: site` project's slaves may take over their first stage before the ones
        /// that finished go on to the second without the rest.
        public var stageTimeout: TimeInterval
        /// A pull the master's rsync daemon refused at its `max connections` is no failed attempt: it is tried again
        /// after a random wait from `busyRetryBase` (doubling, at most `busyRetryMax`), until it has been refused
        /// for `busyBound`, and only then fails.
        public var busyRetryBase: TimeInterval = 1
        public var busyRetryMax: TimeInterval = 30
        public var busyBound: TimeInterval = 1_800
        /// The spread of those waits: a number in the range it is given (the tests give a fixed one).
        public var random: @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }

        public init(
            maxAttempts: Int = 3, retryBase: TimeInterval = 30, retryMax: TimeInterval = 600,
            pushGap: TimeInterval = 30,
            stageTimeout: TimeInterval = StagedRollouts.defaultTimeout
        ) {
            self.maxAttempts = maxAttempts
            self.retryBase = retryBase
            self.retryMax = retryMax
            self.pushGap = pushGap
            self.stageTimeout = stageTimeout
        }

        /// The wait after the `refusals`th refusal in a row by a busy daemon: doubling from `busyRetryBase`, at
        /// most `busyRetryMax`, spread by ±50% so that the refused slaves do not come back in step.
        func busyDelay(after refusals: Int) -> TimeInterval {
            min(busyRetryMax, busyRetryBase * pow(2, Double(max(1, refusals) - 1))) * random(0.5...1.5)
        }

        /// The wait after `attempt` failed attempts: exponential, capped, and spread by ±50%.
        func backoff(after attempt: Int) -> TimeInterval {
            Backoff.delay(after: attempt, base: retryBase, max: retryMax)
        }
    }

    /// A project's run in progress: its record as it stands, and the task that runs it (`RunExecution`).
    struct Running {
        var record: RunRecord
        var task: Task<Void, Never>
        /// On a slave, the master's revision this pull brings.
        var pulling: Int?
        /// Between two attempts: when the next starts, and why the last failed.
        var retry: RetryWait?
    }

    /// One project as the scheduler holds it: its spec, what it has done, and what runs or waits.
    struct Entry {
        var spec: AgentProjectSpec
        var generation: String
        var revision: Int
        /// On a slave, the master's latest revision as far as the slave knows; nil until it has heard of one,
        /// and until then it does not pull (there is nothing on the master to pull).
        var wantedRevision: Int?
        var lastStartAt: Date?
        var lastSuccessAt: Date?
        var syncedFiles: Int?
        /// The tree's size in bytes after the last success.
        var syncedBytes: Int64?
        /// When the last run that succeeded or failed ended.
        var lastEndAt: Date?
        var addedAt: Date?
        var managed = false
        /// The last run was cut short by a stop of the agent: run again at once.
        var resume = false
        var running: Running?
        var queued: RunRecord?
        var lastRun: RunRecord?
        /// The failed runs in a row with one cause, up to the last.
        var failures: FailureStreak?
        /// The upstream pushed and no run has started since: one starts once the run in progress (if any) ends and
        /// `pushGap` has passed since the last push started one.
        var pushPending = false
        /// When the last run a push asked for started.
        var lastPushStartAt: Date?
        /// A slave's `stage: site` pull between its stages (SyncScheduler+Stages.swift).
        var staged: StagedPull?
        /// On the master, a `stage: site` project's slaves are between their stages: its next upstream sync waits
        /// until they are done or this time has passed, so that their second stage pulls the revision of their first.
        var heldUntil: Date?
        /// On the master, a probed project's probe at its last full run (SyncScheduler+Probes.swift).
        var probe: ProbeMark?
    }
}
