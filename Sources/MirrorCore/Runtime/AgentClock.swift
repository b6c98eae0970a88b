import Foundation

/// Wall-clock time, injected so that schedules, backoff, debounce and timeouts are tested without sleeping.
public protocol AgentClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` or later; throws `CancellationError` if the task is cancelled first.
    func sleep(until deadline: Date) async throws
}

extension AgentClock {
    public func sleep(for seconds: TimeInterval) async throws {
        try await sleep(until: now().addingTimeInterval(seconds))
    }
}

/// The real clock.
public struct SystemClock: AgentClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) } else { try Task.checkCancellation() }
    }
}
