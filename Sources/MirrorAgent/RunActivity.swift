import Foundation
import Logging
import MirrorCore
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// Where an agent keeps its runs' logs: `DIRECTORY/PROJECT/RUN.log`, the newest `logRetention` of each project.
public struct RunLogs: Sendable {
    /// `STATE/logs`.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func path(project: String, run: Int64) -> String { directory + "/" + project + "/\(run).log" }

    /// Deletes all but the newest `keep` logs of `project` (by run id); returns how many it deleted. A log that cannot
    /// be deleted is left: the next prune tries again.
    @discardableResult
    public func prune(project: String, keep: Int) -> Int {
        let folder = directory + "/" + project
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        let runs = names.compactMap { name -> Int64? in name.hasSuffix(".log") ? Int64(name.dropLast(4)) : nil }.sorted(
            by: >)
        return runs.dropFirst(max(0, keep)).filter { unlink(folder + "/\($0).log") == 0 }.count
    }
}

/// One run as it goes on, from its queueing to its end: its log file (rsync's output, written through as it comes),
/// its progress, and a version that changes with each of them, on which any number of readers wait (`GET
/// .../runs/{id}?wait=`, `GET .../runs/{id}/log?follow=true`) without polling.
///
/// Sendable: every mutable part is inside the `Mutex`, and the file descriptor is used only while it is held.
public final class RunActivity: Sendable {
    public let project: String
    public let run: Int64
    /// The log's path; nil when the agent keeps no logs.
    public let logPath: String?
    let logger: Logger

    struct Snapshot: Sendable {
        var version: UInt64 = 0
        var ended = false
    }

    private struct Waiter {
        var wakes: @Sendable (Snapshot) -> Bool
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var snapshot = Snapshot()
        var progress: RunProgress?
        var fd: Int32 = -1
        /// Why the log could not be written (a full disk); nothing more is written to it once set.
        var logFailure: String?
        var logBytes: Int64 = 0
        var waiters: [Int: Waiter] = [:]
        /// Waits that ended (their deadline, their cancellation) before they began to wait.
        var abandoned: Set<Int> = []
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    init(project: String, run: Int64, logPath: String?, logger: Logger) {
        self.project = project
        self.run = run
        self.logPath = logPath
        self.logger = logger
    }

    deinit {
        state.withLock { if $0.fd >= 0 { close($0.fd) } }
    }

    var version: UInt64 { state.withLock { $0.snapshot.version } }
    var isEnded: Bool { state.withLock { $0.snapshot.ended } }
    var progress: RunProgress? { state.withLock { $0.progress } }
    /// Why the log is incomplete, if it is.
    var logFailure: String? { state.withLock { $0.logFailure } }
    /// Bytes in the log so far.
    var logBytes: Int64 { state.withLock { $0.logBytes } }

    /// Appends whole lines to the log. A write that fails (a full disk, the directory gone) is logged once and ends the
    /// log's writes; the run goes on, as a log is never a reason to fail a sync.
    public func write(_ bytes: some Collection<UInt8>) {
        guard !bytes.isEmpty, let logPath else { return }
        let failure: String? = state.withLock { s in
            guard s.logFailure == nil, !s.snapshot.ended else { return nil }
            if s.fd < 0 {
                let folder = (logPath as NSString).deletingLastPathComponent
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                s.fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                if s.fd < 0 {
                    s.logFailure = "cannot open \(logPath): \(String(cString: strerror(errno)))"
                    return s.logFailure
                }
            }
            let fd = s.fd
            let written =
                bytes.withContiguousStorageIfAvailable { Self.writeAll(fd, $0) }
                ?? Array(bytes).withUnsafeBufferPointer { Self.writeAll(fd, $0) }
            if let error = written {
                s.logFailure = "cannot write \(logPath): \(String(cString: strerror(error)))"
                return s.logFailure
            }
            s.logBytes += Int64(bytes.count)
            s.snapshot.version &+= 1
            return nil
        }
        if let failure {
            logger.warning("the run's log is incomplete", metadata: ["log": "\(logPath)", "error": "\(failure)"])
        }
        wakeWaiters()
    }

    /// Writes a line of mirrorsync's own to the log: `mirrorsync: TEXT`.
    public func note(_ text: String) { write(Array(("mirrorsync: " + text + "\n").utf8)) }

    /// Every byte, or the error number that stopped it.
    private static func writeAll(_ fd: Int32, _ buffer: UnsafeBufferPointer<UInt8>) -> Int32? {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n < 0 ? errno : ENOSPC }
            offset += n
        }
        return nil
    }

    public func update(_ progress: RunProgress) {
        let changed = state.withLock { s -> Bool in
            guard s.progress != progress, !s.snapshot.ended else { return false }
            s.progress = progress
            s.snapshot.version &+= 1
            return true
        }
        if changed { wakeWaiters() }
    }

    /// Something else about the run changed (it started, an attempt failed).
    func touch() {
        state.withLock { $0.snapshot.version &+= 1 }
        wakeWaiters()
    }

    /// The run has ended and been recorded: the log is closed and every reader told.
    func end() {
        state.withLock { s in
            if s.fd >= 0 {
                close(s.fd)
                s.fd = -1
            }
            s.progress = nil
            s.snapshot.ended = true
            s.snapshot.version &+= 1
        }
        wakeWaiters()
    }

    private func wakeWaiters() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            let snapshot = s.snapshot
            let ready = s.waiters.filter { $0.value.wakes(snapshot) }
            for id in ready.keys { s.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once the run has changed since `version` (or ended), or at `deadline`, or on cancellation.
    func waitForChange(after version: UInt64, until deadline: ContinuousClock.Instant) async {
        await wait(until: deadline) { $0.version != version || $0.ended }
    }

    /// Returns once the run has ended, or at `deadline`, or on cancellation.
    func waitForEnd(until deadline: ContinuousClock.Instant) async {
        await wait(until: deadline) { $0.ended }
    }

    private func wait(until deadline: ContinuousClock.Instant, for wakes: @escaping @Sendable (Snapshot) -> Bool) async
    {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.suspend(id, wakes) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
            // The sleep ends on cancellation; the suspended wait ends here if it has not.
            let waiter = state.withLock { s -> Waiter? in
                if let waiter = s.waiters.removeValue(forKey: id) { return waiter }
                s.abandoned.insert(id)
                return nil
            }
            waiter?.continuation.resume()
        }
        state.withLock { _ = $0.abandoned.remove(id) }
    }

    private func suspend(_ id: Int, _ wakes: @escaping @Sendable (Snapshot) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.abandoned.remove(id) != nil || wakes(s.snapshot) { return true }
                s.waiters[id] = Waiter(wakes: wakes, continuation: continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
