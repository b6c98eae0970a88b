import Foundation
import MirrorCore
import Synchronization

/// The master's view of the whole site, for `GET /v1/status`.
final class SiteStatusSource: Sendable {
    let name: String
    let scheduler: SyncScheduler
    let supervisor: RsyncDaemonSupervisor
    /// With a short timeout: a slave that does not answer at once is marked unreachable.
    let prober: PeerClient
    /// For the slaves in tiers (which do not accept the master's credential): their public health, with no credential.
    let publicProber: PeerClient
    let clock: any AgentClock
    /// The last answers, reused for a second: a status page polled often does not poll every slave as often.
    let lastProbe = Mutex<(at: Date, slaves: [String: String], answers: [String: String?])?>(nil)

    init(
        name: String, scheduler: SyncScheduler, supervisor: RsyncDaemonSupervisor, prober: PeerClient,
        publicProber: PeerClient = PeerClient(token: "", timeout: 2), clock: any AgentClock
    ) {
        self.publicProber = publicProber
        self.name = name
        self.scheduler = scheduler
        self.supervisor = supervisor
        self.prober = prober
        self.clock = clock
    }

    /// Each slave's answer to `GET /v1/health`: nil when it answered, else why not.
    func probe(_ slaves: [String: String], tiers: [String: String] = [:]) async -> [String: String?] {
        if let last = lastProbe.withLock({ $0 }), last.slaves == slaves, clock.now().timeIntervalSince(last.at) < 1 {
            return last.answers
        }
        let answers = await withTaskGroup(of: (String, String?).self) { group in
            for (slave, api) in slaves {
                // The master's credential goes only to the slaves that accept it, not to those in tiers.
                let prober = tiers[slave] == nil ? self.prober : self.publicProber
                group.addTask {
                    // One return after the do/catch: a return from inside a typed-throws do/catch in a child task
                    // crashed release builds (Swift 6.3; see Reconciler.observe).
                    var failure: String?
                    do throws(PeerError) { _ = try await prober.health(api) } catch { failure = error.message }
                    return (slave, failure)
                }
            }
            var out: [String: String?] = [:]
            for await (slave, error) in group { out[slave] = error }
            return out
        }
        lastProbe.withLock { $0 = (clock.now(), slaves, answers) }
        return answers
    }

    /// The site's status; `states`, the scheduler's project states when the caller has just read them (`GET /metrics`
    /// renders both), so that they are not gathered twice.
    func status(states known: [String: ProjectState]? = nil) async -> SiteStatus {
        let (settings, _) = await scheduler.currentSettings()
        let slaves = settings?.slaves ?? [:]
        let tiers = settings?.tiers ?? [:]
        let answers = await probe(slaves, tiers: tiers)
        let now = clock.now()
        scheduler.slaves.markSeen(answers.filter { $0.value == nil }.map(\.key))
        let (seen, reports) = scheduler.slaves.all()
        let states: [String: ProjectState]
        if let known { states = known } else { states = await scheduler.projectStates() }
        // Where each slave stands on each project, and how long since the master made the first revision it lacks.
        var behindSince: [String: Set<Int>] = [:]
        for (name, state) in states {
            for slave in state.spec.slaves {
                let revision = reports[slave]?[name]?.report.revision ?? 0
                if state.status.revision > revision { behindSince[name, default: []].insert(revision) }
            }
        }
        let firstAfter = scheduler.slaves.firstRevisionTimes(after: behindSince)
        let health = slaves.keys.sorted().map { slave in
            SlaveHealth(
                name: slave, api: slaves[slave]!, reachable: answers[slave] == .some(nil), lastSeenAt: seen[slave],
                error: answers[slave] ?? nil, chain: Self.chain(of: slave, tiers: tiers, top: "master"))
        }
        let reachable = Dictionary(uniqueKeysWithValues: health.map { ($0.name, $0.reachable) })
        var projects: [String: SiteProject] = [:]
        for (name, state) in states {
            var copies: [String: SlaveCopy] = [:]
            for slave in state.spec.slaves {
                let report = reports[slave]?[name]
                let revision = report?.report.revision ?? 0
                let behind = max(0, state.status.revision - revision)
                var lag = 0.0
                if behind > 0, let since = firstAfter[name]?[revision] { lag = max(0, now.timeIntervalSince(since)) }
                copies[slave] = SlaveCopy(
                    revision: revision, result: report?.report.result, reportedAt: report?.at,
                    message: report?.report.message, behind: behind, lagSeconds: lag,
                    reachable: reachable[slave] ?? false, lastSeenAt: seen[slave], sizeBytes: report?.report.bytesTotal,
                    reason: report?.report.reason)
            }
            projects[name] = SiteProject(
                revision: state.status.revision, activity: state.status.activity, lastRun: state.status.lastRun,
                lastSuccessAt: state.status.lastSuccessAt, nextRunAt: state.status.nextRunAt, slaves: copies,
                sizeBytes: state.status.sizeBytes, stuck: state.status.stuck, retry: state.status.retry)
        }
        return SiteStatus(
            name: name, generatedAt: now, rsyncd: await supervisor.status, slaves: health, projects: projects)
    }

    /// The hops above a slave in a tier, `top` first: `["master", "ftp1"]` for ftp3 that pulls from ftp1; nil for a
    /// slave that pulls from this agent itself.
    static func chain(of slave: String, tiers: [String: String], top: String) -> [String]? {
        let hops = TierChain(of: slave) { tiers[$0] }.hops
        return hops.isEmpty ? nil : [top] + hops.reversed()
    }
}
