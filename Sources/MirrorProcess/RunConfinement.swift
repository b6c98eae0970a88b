import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// The limits one run's process group is held to, in the terms the kernel takes.
public struct ConfinementRequest: Sendable, Hashable {
    public var memoryBytes: Int64?
    /// CPU time in CPUs (a quota of each scheduling period).
    public var cpus: Double?
    public var nice: Int32?
    /// The I/O class: true for idle, false for best-effort at its lowest priority; nil leaves it.
    public var ioIdle: Bool?

    public init(memoryBytes: Int64? = nil, cpus: Double? = nil, nice: Int32? = nil, ioIdle: Bool? = nil) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.nice = nice
        self.ioIdle = ioIdle
    }

    /// Whether it limits nothing.
    public var isEmpty: Bool { memoryBytes == nil && cpus == nil && nice == nil && ioIdle == nil }
}

/// Holds one run's process group to a `ConfinementRequest` with the best the host offers: a cgroup per run where the
/// agent can make one (cgroup v1's memory and cpu controllers under the agent's own cgroups, or a cgroup v2 subtree
/// delegated to it with those controllers enabled), else `RLIMIT_AS` for memory (per process, not per group); `nice`
/// and the I/O class always by `setpriority` and `ionice`. `held` says which mechanism holds each limit.
///
/// swift-subprocess runs nothing between fork and exec, so the leader is moved in (and its limits set) just after it
/// is spawned, with any member of its group already forked; everything it starts afterwards inherits them.
public final class RunConfinement: Sendable {
    /// What the run is held to.
    public let request: ConfinementRequest
    /// One line per limit: what holds it, or why nothing does.
    public let held: [String]
    /// The cgroups the run's processes go into: the memory one first (v1 keeps one hierarchy per controller).
    private let groups: [String]
    private let memoryGroup: (path: String, version: Int)?
    private let appliedRLimit: Bool

    /// Where cgroup v1's controllers and the unified (v2) hierarchy are mounted.
    static let v1Root = "/sys/fs/cgroup"

    private init(
        request: ConfinementRequest, held: [String], groups: [String], memoryGroup: (String, Int)?,
        appliedRLimit: Bool
    ) {
        self.request = request
        self.held = held
        self.groups = groups
        self.memoryGroup = memoryGroup
        self.appliedRLimit = appliedRLimit
    }

    /// Makes the run's cgroups (named after `name`, made unique) and says what will hold each limit. Nothing is
    /// limited until `adopt`.
    public static func prepare(name: String, request: ConfinementRequest) -> RunConfinement {
        let unique =
            "mirrorsync-\(name.filter { $0.isLetter || $0.isNumber || $0 == "-" })-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)"
        var held: [String] = []
        var groups: [String] = []
        var memoryGroup: (String, Int)?
        var rlimit = false
        let needsGroup = request.memoryBytes != nil || request.cpus != nil
        var v2: String?
        if needsGroup, !hasV1Memory(), let dir = v2Child(unique) { v2 = dir }
        if let memory = request.memoryBytes {
            if let dir = v1Child("memory", unique),
                write("\(memory)", to: dir + "/memory.limit_in_bytes")
            {
                // Where swap is counted, the same limit on memory and swap: a run past it is killed, not swapped out.
                _ = write("\(memory)", to: dir + "/memory.memsw.limit_in_bytes")
                groups.append(dir)
                memoryGroup = (dir, 1)
                held.append("memory \(memory) bytes: cgroup v1 memory controller (\(dir))")
            } else if let v2, write("\(memory)", to: v2 + "/memory.max") {
                _ = write("0", to: v2 + "/memory.swap.max")
                groups.append(v2)
                memoryGroup = (v2, 2)
                held.append("memory \(memory) bytes: cgroup v2 memory.max (\(v2))")
            } else {
                rlimit = true
                held.append("memory \(memory) bytes: RLIMIT_AS per process (no cgroup the agent may make)")
            }
        }
        if let cpus = request.cpus {
            let period = 100_000
            let quota = "\(max(1000, Int((cpus * Double(period)).rounded())))"
            if let dir = v1Child("cpu", unique), write(quota, to: dir + "/cpu.cfs_quota_us") {
                groups.append(dir)
                held.append("cpus \(cpus): cgroup v1 cpu controller, \(quota)/\(period) µs (\(dir))")
            } else if let v2, write("\(quota) \(period)", to: v2 + "/cpu.max") {
                if !groups.contains(v2) { groups.append(v2) }
                held.append("cpus \(cpus): cgroup v2 cpu.max (\(v2))")
            } else {
                held.append("cpus \(cpus): not held (no cgroup with a cpu controller the agent may make)")
            }
        }
        // Directories made but not used (a v2 child with no controller) are removed now.
        if let v2, !groups.contains(v2) { rmdir(v2) }
        if let nice = request.nice { held.append("nice \(nice): setpriority on the process group") }
        if let idle = request.ioIdle {
            held.append("io \(idle ? "idle" : "best-effort 7"): ionice on the process group")
        }
        return RunConfinement(
            request: request, held: held, groups: groups, memoryGroup: memoryGroup, appliedRLimit: rlimit)
    }

    private static let counter = Atomic<Int>(0)

    /// Puts the spawned leader `pid` (and its group's members so far) under the limits.
    public func adopt(_ pid: pid_t) {
        let members = Set([pid] + ProcessGroupStopper.members(of: pid))
        for group in groups {
            for member in members { _ = Self.write("\(member)", to: group + "/cgroup.procs") }
        }
        // prlimit(2) and ioprio_set(2) have no wrapper the Glibc module brings into Swift: util-linux's tools are
        // their argv.
        if appliedRLimit, let bytes = request.memoryBytes {
            for member in members { Self.tool("/usr/bin/prlimit", ["--pid", "\(member)", "--as=\(bytes)"]) }
        }
        if let nice = request.nice { _ = setpriority(__priority_which_t(PRIO_PGRP.rawValue), id_t(pid), nice) }
        if let idle = request.ioIdle {
            Self.tool("/usr/bin/ionice", (idle ? ["-c", "3"] : ["-c", "2", "-n", "7"]) + ["-P", "\(pid)"])
        }
    }

    /// Runs a tool to its end, its output discarded.
    static func tool(_ path: String, _ arguments: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if (try? process.run()) != nil { process.waitUntilExit() }
    }

    /// Whether the kernel killed a process of the run for passing the memory limit (the cgroup's `oom_kill` count; on
    /// a v1 kernel too old to count kills, that the limit was hit at all).
    public var memoryLimitReached: Bool {
        guard let (dir, version) = memoryGroup else { return false }
        let file = version == 1 ? dir + "/memory.oom_control" : dir + "/memory.events"
        if let text = try? String(contentsOfFile: file, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("oom_kill ") }),
            let kills = Int(line.dropFirst("oom_kill ".count))
        {
            return kills > 0
        }
        guard version == 1, let text = try? String(contentsOfFile: dir + "/memory.failcnt", encoding: .utf8) else {
            return false
        }
        return (Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0
    }

    /// Removes the run's cgroups once its processes have gone (waits up to two seconds for the killed to end).
    public func release() async {
        for group in groups {
            for _ in 0..<40 {
                if rmdir(group) == 0 || errno == ENOENT { break }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// A new cgroup under the agent's own cgroup of the v1 `controller`; nil where there is none or it cannot be made.
    static func v1Child(_ controller: String, _ name: String) -> String? {
        guard let own = ownGroup(controller: controller) else { return nil }
        let dir = v1Root + "/" + controller + own + (own.hasSuffix("/") ? "" : "/") + name
        guard mkdir(dir, 0o755) == 0 || errno == EEXIST else { return nil }
        return dir
    }

    /// Whether the host has cgroup v1's memory controller mounted.
    static func hasV1Memory() -> Bool {
        FileManager.default.fileExists(atPath: v1Root + "/memory/memory.limit_in_bytes")
    }

    /// A new cgroup under the agent's own v2 cgroup, if its parent has the memory or cpu controller enabled for its
    /// children (a subtree delegated with them); nil otherwise.
    static func v2Child(_ name: String) -> String? {
        guard let own = ownGroup(controller: "") else { return nil }
        let mount =
            FileManager.default.fileExists(atPath: v1Root + "/cgroup.controllers") ? v1Root : v1Root + "/unified"
        let parent = mount + own
        guard let enabled = try? String(contentsOfFile: parent + "/cgroup.subtree_control", encoding: .utf8),
            enabled.contains("memory") || enabled.contains("cpu")
        else { return nil }
        let dir = parent + (parent.hasSuffix("/") ? "" : "/") + name
        guard mkdir(dir, 0o755) == 0 || errno == EEXIST else { return nil }
        return dir
    }

    /// This process's cgroup in the hierarchy of `controller` ("" for v2), from /proc/self/cgroup.
    public static func ownGroup(controller: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",").map(String.init)
            if controller.isEmpty ? fields[0] == "0" && fields[1].isEmpty : controllers.contains(controller) {
                return String(fields[2])
            }
        }
        return nil
    }

    /// Writes `text` to a cgroup file; whether the kernel took it.
    static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
