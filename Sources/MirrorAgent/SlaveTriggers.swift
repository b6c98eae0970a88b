import Foundation
import Logging
import MirrorCore

// How the master and its slaves work together: the master triggers the slaves that serve a project after each
// successful upstream sync (here); a slave pulls that revision from the master's rsync daemon, with the site's
// credential (MasterCredential.swift), and reports once the pull has finished (SlaveReports.swift); a slave that was
// away asks the master where it stands (CatchUpService.swift).

/// A trigger on its way to a slave.
public struct SlaveTrigger: Sendable, Hashable {
    public var api: String
    public var project: String
    public var revision: Int
    /// With `stage: site`, the stage to run (StagedRollouts.swift); nil pulls the whole revision.
    public var stage: Int? = nil
    /// With stage 1, how long the slave waits for stage 2.
    public var stageTimeout: TimeInterval? = nil
}

/// The master's side: after each successful upstream sync, every slave that serves the project is told of the
/// new revision, all at once and each on its own (see `Courier`).
struct TriggerSlaves: RunObserver {
    let courier: Courier<SlaveTrigger>
    /// A `stage: site` project's slaves pull in two stages, together.
    let stages: StagedRollouts
    let logger: Logger

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        guard run.result?.isSuccess == true else { return }
        var slaves: [(name: String, api: String)] = []
        for slave in spec.slaves {
            // A slave in a tier is triggered by the slave it pulls from, after that one's pull (TierHop.swift).
            if settings.tiers[slave] != nil { continue }
            guard let api = settings.slaves[slave] else {
                logger.warning(
                    "no API address for a slave that serves the project",
                    metadata: ["project": "\(run.project)", "slave": "\(slave)"])
                continue
            }
            slaves.append((slave, api))
        }
        if spec.stage == .site, !spec.twoStage.isEmpty {
            await stages.begin(run.project, revision: revision, slaves: slaves)
            return
        }
        for slave in slaves {
            await courier.post(
                SlaveTrigger(api: slave.api, project: run.project, revision: revision), to: slave.name, key: run.project
            )
        }
    }
}
