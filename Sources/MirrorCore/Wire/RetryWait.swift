import Foundation

/// A run between two attempts: its last attempt failed and the next one starts at `at` (the scheduler's backoff).
///
/// The project's activity is then `ProjectStatus.Activity.retrying`. On the wire the activity is written `running`,
/// beside this object under `retry`, so that a client that predates `retrying` (whose decoder knows four activities and
/// would refuse the whole state for a fifth) reads a run in progress, which it is: the run keeps its slot and its record
/// stays `running`. A client that knows `retry` reads the pair back as `retrying` (docs/api.md).
public struct RetryWait: Codable, Sendable, Hashable {
    /// When the next attempt starts.
    public var at: Date
    /// When the last attempt failed.
    public var failedAt: Date
    /// The attempts made so far, each failed.
    public var attempts: Int
    /// Why the last attempt failed, as its run records it (`RunRecord.reason`, `message`).
    public var reason: String?
    public var message: String?

    public init(at: Date, failedAt: Date, attempts: Int, reason: String? = nil, message: String? = nil) {
        self.at = at
        self.failedAt = failedAt
        self.attempts = attempts
        self.reason = reason
        self.message = message
    }
}

extension ProjectStatus.Activity {
    /// The word written on the wire: `retrying` is written `running`, with `retry` beside it (see `RetryWait`).
    public var wireValue: String { self == .retrying ? Self.running.rawValue : rawValue }

    /// The activity read off the wire, with the `retry` written beside it.
    static func read(_ word: String, retry: RetryWait?) -> Self {
        // A word this version does not know is a later one: a run in progress is the least wrong reading of it.
        let activity = Self(rawValue: word) ?? .running
        return activity == .running && retry != nil ? .retrying : activity
    }

    /// The activity and the wait to retry of a status written with both (`ProjectStatus`, `SiteProject`).
    static func read<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, activity: Key, retry: Key) throws -> (
        Self, RetryWait?
    ) {
        let wait = try container.decodeIfPresent(RetryWait.self, forKey: retry)
        return (read(try container.decode(String.self, forKey: activity), retry: wait), wait)
    }

    public init(from decoder: any Decoder) throws {
        self = Self.read(try decoder.singleValueContainer().decode(String.self), retry: nil)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wireValue)
    }
}
