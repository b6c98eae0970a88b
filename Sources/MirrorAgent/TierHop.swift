import Foundation
import Logging
import MirrorCore

// Tiers (ftpsync's `mhop`): a slave that other slaves pull from (`from: ftp1` in mirrors.d) runs an rsync daemon of
// its own for them, with one read-only module per project it serves and one rsync user per slave of its accept
// file (`RsyncDaemonSupervisor`, as the master's); after each of its own successful pulls it triggers them
// (`TriggerDownstream`), and it relays their reports to the slave or master it pulls from (`AgentAPI.accept`). The
// slaves below it know it as their master: they fetch their rsync credential and the revisions from it, and accept
// its credential as the master's. Nothing of theirs reaches the hops above it.

/// A slave's part in a tier: its rsync daemon (disabled while its settings have no `rsyncd`) and the courier that
/// carries its own reports, and the ones it relays, to the hop above.
struct TierHop: Sendable {
    let supervisor: RsyncDaemonSupervisor
    let reports: Courier<ReportDelivery>

    /// Passes on a report from a slave below, to the hop above it (`settings.master`).
    func relay(_ report: SlaveReport, settings: AgentSettings?) async {
        guard let above = settings?.master else { return }
        await reports.post(
            ReportDelivery(api: above, report: report), to: "master", key: "\(report.slave)/\(report.project)")
    }
}

/// A slave's side after a pull: the hop above hears how it went, then the slaves that pull from it are triggered.
struct ReportAndTrigger: RunObserver {
    let report: ReportToMaster
    let trigger: TriggerDownstream

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        await report.runFinished(run, revision: revision, spec: spec, settings: settings)
        await trigger.runFinished(run, revision: revision, spec: spec, settings: settings)
    }
}

/// After a successful whole pull (not a first stage, whose tree still serves the revision before), every slave that
/// pulls from this one and serves the project is told of the revision, as the master tells its own. A `stage: site`
/// project's two stages end at the first hop: the slaves below pull the whole revision, index files last.
struct TriggerDownstream: RunObserver {
    let courier: Courier<SlaveTrigger>
    let logger: Logger

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        guard run.result?.isSuccess == true, run.trigger != .firstStage, !spec.slaves.isEmpty else { return }
        let direct = settings.directSlaves
        for slave in spec.slaves {
            guard let api = direct[slave] else {
                if settings.slaves[slave] == nil {
                    logger.warning(
                        "no API address for a slave that pulls from this one",
                        metadata: ["project": "\(run.project)", "slave": "\(slave)"])
                }
                continue
            }
            await courier.post(
                SlaveTrigger(api: api, project: run.project, revision: revision), to: slave, key: run.project)
        }
    }
}
