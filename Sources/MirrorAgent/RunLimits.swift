import Foundation
import MirrorCore
import MirrorProcess

/// A job's `limits` in the kernel's terms, and what a run says about them: which mechanism holds each (in the run's
/// log), and a run the kernel stopped at its memory limit.
enum RunLimits {
    /// The confinement of one run of `job`, its cgroups made; nil when the job has no limits.
    static func confine(_ job: SyncJob, activity: RunActivity?) -> RunConfinement? {
        guard let limits = job.limits, !limits.isEmpty else { return nil }
        let confinement = RunConfinement.prepare(name: job.project, request: request(limits))
        activity?.note("limits: " + confinement.held.joined(separator: "; "))
        return confinement
    }

    static func request(_ limits: ResourceLimits) -> ConfinementRequest {
        ConfinementRequest(
            memoryBytes: limits.memory?.bytes, cpus: limits.cpus, nice: limits.nice.map(Int32.init),
            ioIdle: limits.io.map { $0 == .idle })
    }

    /// The failure of a run whose process group the kernel stopped at its memory limit; nil when it was not.
    static func memoryFailure(_ confinement: RunConfinement?, program: String, tail: [String]) -> SyncOutcome? {
        guard let confinement, confinement.memoryLimitReached, let bytes = confinement.request.memoryBytes else {
            return nil
        }
        let how = confinement.held.first { $0.hasPrefix("memory") }.map { " (\($0))" } ?? ""
        return SyncOutcome(
            result: .failed, reason: "memory-limit",
            message: "\(program) was stopped at its memory limit of \(Self.size(bytes))\(how)", stderrTail: tail)
    }

    /// `64 MiB`, `2 GiB`, `1536 KiB`.
    static func size(_ bytes: Int64) -> String {
        for (unit, power) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= Int64(1) << power {
            let value = Double(bytes) / Double(Int64(1) << power)
            return value == value.rounded() ? "\(Int64(value)) \(unit)" : String(format: "%.1f \(unit)", value)
        }
        return "\(bytes) bytes"
    }
}
