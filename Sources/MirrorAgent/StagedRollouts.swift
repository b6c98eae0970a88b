import Foundation
import Logging
import MirrorCore

/// The master's side of `stage: site` (ftpsync's staged mode): after the master's own sync of a two-stage project,
/// every slave that serves it is told to run the first stage (everything but the index files); once every reachable
/// slave has finished it, or `timeout` has passed, the slaves that finished are told, all at once, to run the second.
/// So the public hosts switch their indices within seconds of each other, and no host's index names a file another
/// host lacks. A slave that cannot be reached, or whose first stage failed, holds nobody back: it catches up on its
/// own, as after any missed trigger. While the slaves are between stages, the master's next sync of the project
/// waits, so that their second stage pulls the revision of their first.
public actor StagedRollouts {
    /// How long the slaves' first stages may take, when `--stage-timeout` says nothing.
    public static let defaultTimeout: TimeInterval = 600

    struct Rollout {
        var revision: Int
        /// Told to run the first stage, and not finished yet.
        var waiting: Set<String>
        /// Finished the first stage: each gets the second.
        var finished: Set<String> = []
        var deadline: Date
        var timer: Task<Void, Never>?
    }

    let courier: Courier<SlaveTrigger>
    let clock: any AgentClock
    let timeout: TimeInterval
    /// Holds the master's next sync of a project until a time, or no longer (nil).
    let hold: @Sendable (_ project: String, _ until: Date?) async -> Void
    let logger: Logger
    var rollouts: [String: Rollout] = [:]
    /// The API of every slave a rollout has named, for a first stage that finishes after its rollout went on.
    var apis: [String: String] = [:]
    var stopped = false

    public init(
        courier: Courier<SlaveTrigger>, clock: any AgentClock, timeout: TimeInterval, logger: Logger,
        hold: @escaping @Sendable (_ project: String, _ until: Date?) async -> Void
    ) {
        self.courier = courier
        self.clock = clock
        self.timeout = timeout
        self.hold = hold
        self.logger = logger
    }

    /// The master has `revision` of `project`: its slaves run their first stage. A rollout of an older revision
    /// still waiting is replaced: its slaves pull the new one.
    func begin(_ project: String, revision: Int, slaves: [(name: String, api: String)]) async {
        guard !stopped else { return }
        rollouts.removeValue(forKey: project)?.timer?.cancel()
        guard !slaves.isEmpty else { return }
        for slave in slaves { apis[slave.name] = slave.api }
        let deadline = clock.now().addingTimeInterval(timeout)
        var rollout = Rollout(revision: revision, waiting: Set(slaves.map(\.name)), deadline: deadline)
        rollout.timer = Task { [clock] in
            do { try await clock.sleep(until: deadline) } catch { return }
            await self.expire(project, revision: revision)
        }
        rollouts[project] = rollout
        await hold(project, deadline)
        logger.info(
            "stage 1 of a staged pull",
            metadata: [
                "project": "\(project)", "revision": "\(revision)",
                "slaves": "\(slaves.map(\.name).joined(separator: ","))",
            ])
        for slave in slaves {
            await courier.post(
                SlaveTrigger(api: slave.api, project: project, revision: revision, stage: 1, stageTimeout: timeout),
                to: slave.name, key: project)
        }
    }

    /// A slave's report on its first stage of `report.revision`.
    func firstStageFinished(_ report: SlaveReport) async {
        guard var rollout = rollouts[report.project], rollout.revision == report.revision,
            rollout.waiting.contains(report.slave)
        else {
            // Its rollout went on without it (too late, or a restart of the master): its second stage now, as the
            // others have had theirs.
            guard report.result.isSuccess, let api = apis[report.slave] else { return }
            logger.notice(
                "stage 2 for a slave whose stage 1 came late",
                metadata: ["project": "\(report.project)", "slave": "\(report.slave)"])
            await courier.post(
                SlaveTrigger(api: api, project: report.project, revision: report.revision, stage: 2), to: report.slave,
                key: report.project)
            return
        }
        rollout.waiting.remove(report.slave)
        if report.result.isSuccess {
            rollout.finished.insert(report.slave)
        } else {
            logger.warning(
                "a slave's stage 1 failed; it catches up on its own",
                metadata: [
                    "project": "\(report.project)", "slave": "\(report.slave)", "message": "\(report.message ?? "")",
                ])
        }
        rollouts[report.project] = rollout
        if rollout.waiting.isEmpty { await release(report.project) }
    }

    /// A trigger could not reach `slave`: no rollout waits for it.
    func unreachable(_ slave: String) async {
        for (project, var rollout) in rollouts where rollout.waiting.contains(slave) {
            rollout.waiting.remove(slave)
            rollouts[project] = rollout
            logger.warning(
                "a slave cannot be reached for stage 1; the others go on without it",
                metadata: ["project": "\(project)", "slave": "\(slave)"])
            if rollout.waiting.isEmpty { await release(project) }
        }
    }

    func expire(_ project: String, revision: Int) async {
        guard let rollout = rollouts[project], rollout.revision == revision, !rollout.waiting.isEmpty else { return }
        logger.warning(
            "slaves did not finish stage 1 in time; the others go on to stage 2",
            metadata: [
                "project": "\(project)", "slaves": "\(rollout.waiting.sorted().joined(separator: ","))",
                "timeout": "\(Int(timeout))s",
            ])
        await release(project)
    }

    /// Every slave that finished the first stage runs the second, all at once.
    func release(_ project: String) async {
        guard let rollout = rollouts.removeValue(forKey: project) else { return }
        rollout.timer?.cancel()
        logger.info(
            "stage 2 of a staged pull",
            metadata: [
                "project": "\(project)", "revision": "\(rollout.revision)",
                "slaves": "\(rollout.finished.sorted().joined(separator: ","))",
            ])
        for slave in rollout.finished.sorted() {
            guard let api = apis[slave] else { continue }
            await courier.post(
                SlaveTrigger(api: api, project: project, revision: rollout.revision, stage: 2), to: slave, key: project)
        }
        await hold(project, nil)
    }

    /// Ends the timers with the agent.
    func stop() {
        stopped = true
        for rollout in rollouts.values { rollout.timer?.cancel() }
        rollouts = [:]
    }

    /// Whether a rollout of `project` waits for slaves' first stages: for tests.
    public func isWaiting(_ project: String) -> Bool { rollouts[project] != nil }
}
