import Foundation
import MirrorCore
import MirrorPresentation

// What an operator asks of an agent besides its specs, and what an alerting system reads: `POST .../cancel` and the
// part of `GET /metrics` that is worked out from the state when scraped.

extension AgentAPI {
    /// `POST /v1/projects/{name}/cancel`: the runs it ended. 404 for an unknown project, 409 `not-running` when the
    /// project has no run in progress or queued.
    func cancel(_ name: String) async throws(APIError) -> CancelResponse {
        let runs: [RunRecord]
        do throws(SchedulerError) { runs = try await scheduler.cancel(name) } catch {
            guard error.kind == .conflict else { throw APIError(error) }
            throw APIError(
                .conflict, code: "not-running",
                message: "\(error.message) on \(role == .master ? "the master" : "slave '\(self.name)'")")
        }
        return CancelResponse(project: name, agent: self.name, runs: runs)
    }

    /// `GET /metrics`: the counters and gauges kept as runs end, then those worked out from the state now (each
    /// project's interval; on the master, the slaves and the rsync daemon), so that a removed project or slave
    /// leaves no series behind and a restart loses none.
    func metricsText() async -> String {
        let projects = await scheduler.projectStates()
        let site = await self.site?.status(states: projects)
        return metrics.render() + AlertMetrics.render(projects: projects, site: site)
    }
}
