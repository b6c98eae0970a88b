import MirrorCore

/// A report on its way to the master.
public struct ReportDelivery: Sendable, Hashable {
    public var api: String
    public var report: SlaveReport
}

/// A slave's side: once a pull has finished (not when it starts), the master hears how it went.
struct ReportToMaster: RunObserver {
    let slave: String
    let courier: Courier<ReportDelivery>

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        // A pull stopped because the slave stopped, or the project went, says nothing about the copy.
        guard let master = settings.master, let result = run.result, result != .cancelled, result != .interrupted else {
            return
        }
        await courier.post(
            ReportDelivery(api: master, report: SlaveReport(slave: slave, run: run, revision: revision)), to: "master",
            key: run.project)
    }
}
