import Foundation
import MirrorCore

/// A run's refusals by an rsync daemon at its `max connections` ("@ERROR: max connections (N) reached -- try again
/// later", rsync's exit 5): the master's daemon admitting its slaves' pulls a bounded number at a time. Such a pull
/// waits its turn, with a random wait between tries; it fails only once it has been refused for the policy's
/// `busyBound`.
struct BusyDaemon {
    /// When the refusals in a row began.
    var since: Date?
    var refusals = 0

    /// Whether `outcome` is such a refusal.
    static func isRefusal(_ outcome: SyncOutcome) -> Bool {
        outcome.result == .failed && outcome.exitCode == 5
            && outcome.stderrTail.contains { $0.contains("max connections") && $0.contains("reached") }
    }

    /// After an attempt: the wait before the next try when `outcome` is a refusal within the bound; nil otherwise,
    /// with `outcome` made a failure that says so when the refusals have lasted past the bound.
    mutating func refused(_ outcome: inout SyncOutcome, at now: Date, policy: SyncScheduler.Policy) -> TimeInterval? {
        guard Self.isRefusal(outcome) else {
            since = nil
            refusals = 0
            return nil
        }
        let began = since ?? now
        since = began
        refusals += 1
        if now.timeIntervalSince(began) < policy.busyBound { return policy.busyDelay(after: refusals) }
        outcome.reason = "max-connections"
        outcome.message =
            "the master's rsync daemon refused this pull at its max connections for \(Int(now.timeIntervalSince(began))) s "
            + "(\(refusals) tries): \(outcome.stderrTail.last { $0.contains("max connections") } ?? "")"
        outcome.retryable = false
        return nil
    }
}
