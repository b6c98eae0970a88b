import Foundation
import Synchronization

/// How many connections the API holds and for how long: what bounds the file descriptors a client can take from the
/// agent, with or without the token (`--idle-timeout`, `--request-timeout`, `--max-connections`, `--max-long-polls`).
public struct ConnectionLimits: Sendable, Hashable {
    /// A connection with no request in progress and nothing read for this long is closed (Hummingbird's idle timeout).
    public var idleTimeout: Duration
    /// A request's head and body must have arrived within this long of the connection's opening, or of its previous
    /// answer: a client that sends one header line every few seconds is closed here, whatever the idle timeout.
    public var requestTimeout: Duration
    /// Connections open at once; a request on one past it is answered 503 `too-many-connections` and closed.
    public var maxConnections: Int
    /// Requests held open at once (`GET .../runs/{id}?wait=` and `GET .../log?follow=true`); past it, 503
    /// `too-many-waits`. Below `maxConnections`, so that waiters never take every connection.
    public var maxLongPolls: Int

    /// 4,096 connections fit under the units' `LimitNOFILE=16384` with room for the runs' rsync and log files.
    public init(
        idleTimeout: Duration = .seconds(30), requestTimeout: Duration = .seconds(30), maxConnections: Int = 4096,
        maxLongPolls: Int = 256
    ) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.maxConnections = maxConnections
        self.maxLongPolls = maxLongPolls
    }
}

/// A count of things held at once with a cap: the API's open connections, or its long polls.
final class HeldCount: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Counts one more; false (and nothing counted) when `limit` are already held.
    func take() -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() { count.subtract(1, ordering: .acquiringAndReleasing) }

    /// One held until the hold is let go of: a hold a streamed body captures ends with the body, however it ends.
    func hold() -> Hold? { take() ? Hold(self) : nil }

    final class Hold: Sendable {
        let count: HeldCount
        init(_ count: HeldCount) { self.count = count }
        deinit { count.release() }
    }

    var held: Int { count.load(ordering: .relaxed) }
}
