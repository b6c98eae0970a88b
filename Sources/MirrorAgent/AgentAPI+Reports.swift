import Foundation
import MirrorCore

// `POST /v1/reports` on the master: a slave's word on one of its projects.

extension AgentAPI {
    /// A slave's report: kept if the slave is one of the master's and serves the project.
    func accept(_ report: SlaveReport) async throws {
        // A slave's credential reports for that slave only.
        if case .slave(let caller) = Caller.role, caller != report.slave {
            throw APIError.outsideRole(.slave(caller), "report for slave '\(report.slave)'")
        }
        let (settings, _) = await scheduler.currentSettings()
        guard settings?.slaves[report.slave] != nil else {
            throw APIError(
                .notFound, code: "not-found", message: "no slave '\(report.slave)' in the master's settings",
                field: "slave")
        }
        guard let spec = await scheduler.projectSpec(report.project) else {
            throw APIError(
                .notFound, code: "not-found", message: "no project '\(report.project)' on the master", field: "project")
        }
        guard spec.slaves.contains(report.slave) else {
            throw APIError(
                .conflict, code: "not-assigned",
                message: "slave '\(report.slave)' does not serve project '\(report.project)'", field: "slave")
        }
        // A first stage says nothing of what the slave serves: it moves the project's staged pull on.
        if report.stage == 1 {
            scheduler.slaves.markSeen([report.slave])
            await stages?.firstStageFinished(report)
            return
        }
        do throws(SchedulerError) { try scheduler.slaves.put(report) } catch { throw APIError(error) }
    }
}
