import Foundation

/// How long to wait before trying again: exponential, capped, and spread by ±50% so that retries do not march
/// in step. Runs, triggers, reports, catch-ups, the rsync daemon and the reconciler all back off this way.
public enum Backoff {
    /// The wait after `failures` failures in a row (1: the first): `base`, doubling with each, at most `max`.
    public static func delay(after failures: Int, base: TimeInterval, max cap: TimeInterval) -> TimeInterval {
        min(cap, base * pow(2, Double(Swift.max(1, failures) - 1))) * Double.random(in: 0.5...1.5)
    }
}
