import Foundation
import MirrorCore

// `POST /v1/reports` on the master, or on a slave that others pull from: a slave's word on one of its projects.

extension AgentAPI {
    /// A slave's report: kept if the slave is one of the master's and serves the project.
    func accept(_ report: SlaveReport) async throws {
        let (settings, _) = await scheduler.currentSettings()
        // A slave's credential reports for that slave only, and for the slaves below it in a tier (their reports,
        // relayed).
        if case .slave(let caller) = Caller.role, settings?.relays(caller, for: report.slave) != true {
            throw APIError.outsideRole(.slave(caller), "report for slave '\(report.slave)'")
        }
        guard settings?.slaves[report.slave] != nil else {
            throw APIError(
                .notFound, code: "not-found", message: "no slave '\(report.slave)' in the master's settings",
                field: "slave")
        }
        guard let spec = await scheduler.projectSpec(report.project) else {
            throw APIError(
                .notFound, code: "not-found", message: "no project '\(report.project)' on the master", field: "project")
        }
        // A slave two hops below a tier slave is not in its spec's slaves (it triggers only the next hop): its tiers say it.
        guard spec.slaves.contains(report.slave) || (hop != nil && settings?.tiers[report.slave] != nil) else {
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
        // A slave in a tier passes its slaves' reports on to the hop above.
        await hop?.relay(report, settings: settings)
    }
}
