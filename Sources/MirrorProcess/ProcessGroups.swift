import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// Ends a child's process group, whether asked before the child has started or after: SIGTERM to the group, then
/// SIGKILL to whatever of it is left after the grace, also while the leader itself still runs. A child's own children
/// (rsync's receiver, an agent's rsyncs) can outlive a SIGTERM, so the group is waited for as a whole.
public final class ProcessGroupStopper: Sendable {
    private struct State {
        var pid: pid_t?
        var stopping = false
        var leaderEnded = false
    }

    private let state = Mutex(State())
    private let grace: Duration

    public init(grace: Duration) { self.grace = grace }

    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// The child has started, as the leader of a process group of its own (a supervisor that starts it again reuses
    /// the stopper: each start is a new leader).
    public func started(_ pid: pid_t) {
        let stop = state.withLock { s -> Bool in
            s.pid = pid
            s.leaderEnded = false
            return s.stopping
        }
        if stop { kill(-pid, SIGTERM) }
    }

    public func stop() {
        let pid = state.withLock { s -> pid_t? in
            s.stopping = true
            return s.pid
        }
        if let pid { kill(-pid, SIGTERM) }
        // A leader that does not end within the grace is killed, with its group. The timer runs on a queue of its own,
        // not as a task: when busy tests or syncs hold every thread of Swift's cooperative pool, a `Task.sleep` of half
        // a second was seen to end 11 s late, and a stop must not wait for the pool.
        let (seconds, attoseconds) = grace.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        Self.killTimers.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
            if let pid = self.state.withLock({ $0.leaderEnded ? nil : $0.pid }) { kill(-pid, SIGKILL) }
        }
    }

    /// Stops the group once `delay` has passed, unless the returned deadline is cancelled first. On the kill's queue,
    /// not a `Task.sleep`, for the same reason: a hook's 2 s timeout was seen to stop it after 10 s on a busy pool.
    public func stop(after delay: Duration) -> StopDeadline {
        let deadline = StopDeadline()
        let (seconds, attoseconds) = delay.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        Self.killTimers.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
            if deadline.fire() { self.stop() }
        }
        return deadline
    }

    /// A serial queue made with `DispatchQueue(label:)` runs on libdispatch's overcommitting threads, never the pool's.
    private static let killTimers = DispatchQueue(label: "mirrorsync.process-group-stopper")

    /// After the leader has been waited for: once asked to stop (or, with `endingStragglers`, in any case), ends what is
    /// left of the group, SIGTERM then SIGKILL after the grace, and waits until none of it is left.
    public func waitForGroup(endingStragglers: Bool = false) async {
        let (group, stopping) = state.withLock { s -> (pid_t?, Bool) in
            s.leaderEnded = true
            return (s.pid, s.stopping)
        }
        guard let group, stopping || endingStragglers, !Self.members(of: group).isEmpty else { return }
        if !stopping { kill(-group, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while !Self.members(of: group).isEmpty && clock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for pid in Self.members(of: group) { kill(pid, SIGKILL) }
        for _ in 0..<100 where !Self.members(of: group).isEmpty { try? await Task.sleep(for: .milliseconds(50)) }
    }

    /// The processes of a process group that have not ended, from /proc. A zombie still answers `kill(pid, 0)`, and one
    /// whose parent has died waits for init to reap it, so they are left out.
    public static func members(of group: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let status = status(of: pid), status.running, status.group == group else {
                return nil
            }
            return pid
        }
    }

    /// Whether a process exists and has not ended (a zombie has).
    public static func isRunning(_ pid: pid_t) -> Bool { status(of: pid)?.running ?? false }

    /// A process's state and process group, from /proc/PID/stat.
    static func status(of pid: pid_t) -> (running: Bool, group: pid_t)? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
            // Fields after the command name, which is in parentheses and may hold spaces: state ppid pgrp ...
            let close = data.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        let fields = data[data.index(after: close)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 2, let state = fields[0].first,
            let group = pid_t(String(decoding: fields[2], as: UTF8.self))
        else { return nil }
        return (state != UInt8(ascii: "Z") && state != UInt8(ascii: "X"), group)
    }
}

/// Processes an earlier run left behind (its parent killed outright), found through /proc by their command line.
public enum LeftoverProcesses {
    /// Ends every process whose argv `matches` accepts (SIGTERM to its process group, or to it alone when it shares
    /// ours; SIGKILL after `grace`), and returns them as `(pid, argv)`.
    @discardableResult
    public static func stop(grace: TimeInterval = 5, matching matches: ([String]) -> Bool) -> [(
        pid: pid_t, argv: [String]
    )] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [(pid: pid_t, argv: [String])] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty
            else { continue }
            var argv = data.split(separator: 0, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            if argv.last == "" { argv.removeLast() }
            if matches(argv) { found.append((pid, argv)) }
        }
        for (pid, _) in found {
            let group = getpgid(pid)
            if group > 1 && group != getpgrp() { kill(-group, SIGTERM) } else { kill(pid, SIGTERM) }
        }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, found.contains(where: { ProcessGroupStopper.isRunning($0.pid) }) { usleep(50_000) }
        for (pid, _) in found where ProcessGroupStopper.isRunning(pid) { kill(pid, SIGKILL) }
        return found
    }

    /// The program's name in an argv: `rsync` for `/usr/bin/rsync`.
    public static func program(_ argv: [String]) -> String? {
        argv.first.map { ($0 as NSString).lastPathComponent }
    }
}

/// A stop at a deadline (`ProcessGroupStopper.stop(after:)`): cancelled, or fired once.
public final class StopDeadline: Sendable {
    private let state = Atomic<Int>(0)  // 0 pending, 1 fired, 2 cancelled

    /// Whether the deadline passed and the group was told to stop.
    public var fired: Bool { state.load(ordering: .sequentiallyConsistent) == 1 }

    /// After this, the deadline does nothing; `fired` stays as it was.
    public func cancel() { _ = state.compareExchange(expected: 0, desired: 2, ordering: .sequentiallyConsistent) }

    func fire() -> Bool { state.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged }
}
