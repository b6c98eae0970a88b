import Foundation

/// What one run of a project may use, applied to the run's whole process group (rsync's, or a command upstream's
/// program and everything it starts): `limits: { memory: 2GiB, cpus: 1.5, nice: 10, io: idle }`. The agent applies
/// each with the best mechanism the host offers (a cgroup where it can make one, else rlimits, `nice`, `ioprio_set`)
/// and says which held.
public struct ResourceLimits: Codable, Sendable, Hashable {
    /// The I/O scheduling class of the run's processes.
    public enum IOClass: String, Codable, Sendable, Hashable, CaseIterable {
        /// Disk time only when no one else wants it.
        case idle
        /// The default class, at its lowest priority.
        case bestEffort = "best-effort"
    }

    /// Memory the whole group may hold (resident, and swap where the host counts it); past it, the group's
    /// processes are killed and the run fails with "memory limit".
    public var memory: ByteSize?
    /// CPU time, in CPUs: `1.5` is one and a half CPUs' worth of each period.
    public var cpus: Double?
    /// The scheduling niceness, 0 to 19 (an agent lowers its runs' priority; it does not raise it).
    public var nice: Int?
    public var io: IOClass?

    public init(memory: ByteSize? = nil, cpus: Double? = nil, nice: Int? = nil, io: IOClass? = nil) {
        self.memory = memory
        self.cpus = cpus
        self.nice = nice
        self.io = io
    }

    /// The least memory a limit may give: below it, a program cannot even start.
    public static let minimumMemory = ByteSize(bytes: 16 << 20)

    /// The keys of `limits:` in mirrors.d.
    public static let keys = ["memory", "cpus", "nice", "io"]

    /// Whether it limits nothing.
    public var isEmpty: Bool { memory == nil && cpus == nil && nice == nil && io == nil }

    /// The rules on each value.
    public func check() throws(ValueError) {
        if let memory, memory.bytes < Self.minimumMemory.bytes {
            throw ValueError("a memory limit of \(memory.bytes) bytes is too small for any program; give 16MiB or more")
        }
        if let cpus, !(cpus >= 0.01 && cpus <= 4096) {
            throw ValueError("cpus \(cpus) is not a number of CPUs; write one such as 0.5, 1 or 1.5")
        }
        if let nice, !(0...19).contains(nice) {
            throw ValueError("nice \(nice) is out of range; write 0 (the agent's own) to 19 (the lowest priority)")
        }
    }

    /// Its canonical text, as the plan shows it and the generation hashes it: `memory=2GiB cpus=1.5 nice=10 io=idle`,
    /// the limits set, in that order.
    public var canonical: String {
        [
            memory.map { "memory=\($0)" }, cpus.map { "cpus=\($0)" }, nice.map { "nice=\($0)" },
            io.map { "io=\($0.rawValue)" },
        ].compactMap { $0 }.joined(separator: " ")
    }
}
