import Foundation
import Logging
import MirrorCore

/// Delivers messages to peers: the master's triggers to its slaves, a slave's reports to the master.
///
/// One worker per peer, so a slow or unreachable peer delays nobody else. A message that cannot be delivered is
/// tried again after an exponential backoff with jitter; a newer message under the same key (the same project)
/// replaces one still waiting, so a peer that comes back gets the latest revision once, not every one it missed.
/// Messages live in memory: what a restart loses, the slaves' catch-up and fallback pulls make up for.
public actor Courier<Message: Sendable> {
    public typealias Send = @Sendable (_ peer: String, _ message: Message) async throws(PeerError) -> Void
    /// Told of every attempt: the peer answered (nil) or why it did not.
    public typealias Outcome = @Sendable (_ peer: String, _ error: PeerError?) async -> Void

    struct Queue {
        var messages: [String: Message] = [:]
        /// Keys in the order their first waiting message came.
        var order: [String] = []
        var worker: Task<Void, Never>?
        var failures = 0
    }

    let send: Send
    let outcome: Outcome?
    let clock: any AgentClock
    let retryBase: TimeInterval
    let retryMax: TimeInterval
    let logger: Logger
    var queues: [String: Queue] = [:]
    var stopped = false
    /// Messages delivered since the start, for tests and metrics.
    public private(set) var delivered = 0

    public init(
        clock: any AgentClock = SystemClock(), retryBase: TimeInterval = 1, retryMax: TimeInterval = 300,
        logger: Logger,
        outcome: Outcome? = nil, send: @escaping Send
    ) {
        self.send = send
        self.outcome = outcome
        self.clock = clock
        self.retryBase = retryBase
        self.retryMax = retryMax
        self.logger = logger
    }

    /// Queues `message` for `peer` under `key`, replacing a message still waiting under the same key.
    public func post(_ message: Message, to peer: String, key: String) {
        guard !stopped else { return }
        var queue = queues[peer, default: Queue()]
        if queue.messages.updateValue(message, forKey: key) == nil { queue.order.append(key) }
        if queue.worker == nil {
            queue.worker = Task { await self.work(for: peer) }
        }
        queues[peer] = queue
    }

    /// Messages waiting for `peer`.
    public func waiting(for peer: String) -> Int { queues[peer]?.messages.count ?? 0 }

    /// Drops what waits and ends the workers.
    public func stop() async {
        stopped = true
        let workers = queues.values.compactMap(\.worker)
        queues = [:]
        for worker in workers { worker.cancel() }
        for worker in workers { await worker.value }
    }

    func next(for peer: String) -> (key: String, message: Message)? {
        guard var queue = queues[peer], !stopped else { return nil }
        guard let key = queue.order.first, let message = queue.messages.removeValue(forKey: key) else {
            // Nothing left: this worker ends, and the next post starts another.
            queue.worker = nil
            queues[peer] = queue
            return nil
        }
        queue.order.removeFirst()
        queues[peer] = queue
        return (key, message)
    }

    /// Puts an undelivered message back at the front, unless a newer one came for its key meanwhile.
    func putBack(_ message: Message, key: String, for peer: String) -> TimeInterval {
        guard var queue = queues[peer] else { return 0 }
        if queue.messages[key] == nil {
            queue.messages[key] = message
            queue.order.insert(key, at: 0)
        }
        queue.failures += 1
        queues[peer] = queue
        return Backoff.delay(after: queue.failures, base: retryBase, max: retryMax)
    }

    func succeeded(for peer: String) {
        queues[peer]?.failures = 0
        delivered += 1
    }

    func work(for peer: String) async {
        while !Task.isCancelled, let (key, message) = next(for: peer) {
            do throws(PeerError) {
                try await send(peer, message)
                succeeded(for: peer)
                await outcome?(peer, nil)
            } catch {
                await outcome?(peer, error)
                guard !Task.isCancelled, !stopped else { return }
                let delay = putBack(message, key: key, for: peer)
                logger.warning(
                    "cannot deliver to \(peer); retrying",
                    metadata: [
                        "peer": "\(peer)", "key": "\(key)", "retryIn": "\(String(format: "%.1f", delay))s",
                        "error": "\(error.message)",
                    ])
                do { try await clock.sleep(for: delay) } catch { return }
            }
        }
    }
}
