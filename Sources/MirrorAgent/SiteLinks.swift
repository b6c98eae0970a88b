import Foundation
import Logging
import MirrorCore
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// How the master and its slaves work together: the master triggers the slaves that serve a project after each
// successful upstream sync; a slave pulls that revision from the master's rsync daemon, with the site's
// credential, and reports once the pull has finished; a slave that was away asks the master where it stands.

/// A trigger on its way to a slave.
public struct SlaveTrigger: Sendable, Hashable {
    public var api: String
    public var project: String
    public var revision: Int
}

/// The master's side: after each successful upstream sync, every slave that serves the project is told of the
/// new revision, all at once and each on its own (see `Courier`).
struct TriggerSlaves: RunObserver {
    let courier: Courier<SlaveTrigger>
    let logger: Logger

    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async {
        guard run.result?.isSuccess == true else { return }
        for slave in spec.slaves {
            guard let api = settings.slaves[slave] else {
                logger.warning("no API address for a slave that serves the project", metadata: ["project": "\(run.project)", "slave": "\(slave)"])
                continue
            }
            await courier.post(SlaveTrigger(api: api, project: run.project, revision: revision), to: slave, key: run.project)
        }
    }
}

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
        guard let master = settings.master, let result = run.result, result != .cancelled, result != .interrupted else { return }
        await courier.post(ReportDelivery(api: master, report: SlaveReport(slave: slave, run: run, revision: revision)), to: "master", key: run.project)
    }
}

/// The slave's copy of the site's credential for the master's rsync daemon, in a file of mode 0600 in its state
/// directory: fetched from the master when the slave has none, forgotten when the daemon refuses it.
actor MasterCredential {
    let file: String
    let peers: PeerClient

    init(file: String, peers: PeerClient) {
        self.file = file
        self.peers = peers
    }

    /// The password file for rsync, fetched first if missing.
    func passwordFile(from masterAPI: String) async throws(PeerError) -> String {
        if access(file, R_OK) == 0 { return file }
        let credential = try await peers.credential(masterAPI)
        do throws(AtomicFile.Failure) { try AtomicFile.write(Array(credential.password.utf8), to: file, mode: 0o600) } catch {
            throw PeerError(error.message)
        }
        return file
    }

    func forget() { unlink(file) }
}

/// A slave's runner: pulls from the master's daemon with the site's credential, and turns the daemon's refusal
/// of it into a message that says so (and a fresh credential for the next pull).
struct SlavePullRunner: SyncRunner {
    let inner: any SyncRunner
    let credential: MasterCredential

    func run(_ job: SyncJob, logger: Logger) async -> SyncOutcome {
        guard let master = job.masterAPI else { return await inner.run(job, logger: logger) }
        var job = job
        do throws(PeerError) { job.passwordFile = try await credential.passwordFile(from: master) } catch {
            return SyncOutcome(result: .failed, reason: "credential",
                               message: "cannot get the rsync credential from the master: \(error.message)", retryable: true)
        }
        var outcome = await inner.run(job, logger: logger)
        if outcome.result == .failed, let refusal = outcome.stderrTail.last(where: { $0.contains("auth failed") }) {
            await credential.forget()
            outcome.reason = "credential-refused"
            outcome.message = "the master's rsync daemon refused this slave's credential (\(refusal)); the slave fetches it "
                + "again from the master before its next pull"
            outcome.retryable = false
        }
        return outcome
    }
}

/// A slave asks the master for the latest revisions when it starts, when its projects change, and every
/// `interval` after; every project it is behind on is pulled. Until the master answers, it asks again with backoff.
struct CatchUpService: Service {
    let scheduler: SyncScheduler
    let peers: PeerClient
    let clock: any AgentClock
    let interval: TimeInterval
    let retryBase: TimeInterval
    let retryMax: TimeInterval
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await loop() }
    }

    func loop() async {
        var failures = 0
        while !Task.isCancelled {
            var wait = interval
            if let master = await scheduler.currentSettings().settings?.master {
                do throws(PeerError) {
                    let revisions = try await peers.revisions(master)
                    let queued = await scheduler.follow(revisions: revisions.projects)
                    if failures > 0 { logger.notice("the master answers again", metadata: ["master": "\(master)"]) }
                    failures = 0
                    if !queued.isEmpty {
                        logger.info("catching up with the master", metadata: ["projects": "\(queued.joined(separator: ","))"])
                    }
                } catch {
                    failures += 1
                    wait = Backoff.delay(after: failures, base: retryBase, max: retryMax)
                    logger.warning("cannot ask the master for its revisions; asking again", metadata: [
                        "error": "\(error.message)", "retryIn": "\(String(format: "%.1f", wait))s",
                    ])
                }
            }
            await WakeSignal.first(of: [scheduler.projectsChanged], orUntil: clock.now().addingTimeInterval(wait), on: clock)
        }
    }
}

/// The master's view of the whole site, for `GET /v1/status`.
final class SiteStatusSource: Sendable {
    let name: String
    let scheduler: SyncScheduler
    let supervisor: RsyncDaemonSupervisor
    /// With a short timeout: a slave that does not answer at once is marked unreachable.
    let prober: PeerClient
    let clock: any AgentClock
    /// The last answers, reused for a second: a status page polled often does not poll every slave as often.
    let lastProbe = Mutex<(at: Date, slaves: [String: String], answers: [String: String?])?>(nil)

    init(name: String, scheduler: SyncScheduler, supervisor: RsyncDaemonSupervisor, prober: PeerClient, clock: any AgentClock) {
        self.name = name
        self.scheduler = scheduler
        self.supervisor = supervisor
        self.prober = prober
        self.clock = clock
    }

    /// Each slave's answer to `GET /v1/health`: nil when it answered, else why not.
    func probe(_ slaves: [String: String]) async -> [String: String?] {
        if let last = lastProbe.withLock({ $0 }), last.slaves == slaves, clock.now().timeIntervalSince(last.at) < 1 { return last.answers }
        let prober = self.prober
        let answers = await withTaskGroup(of: (String, String?).self) { group in
            for (slave, api) in slaves {
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

    func status() async -> SiteStatus {
        let (settings, _) = await scheduler.currentSettings()
        let slaves = settings?.slaves ?? [:]
        let answers = await probe(slaves)
        let now = clock.now()
        let store = scheduler.store
        for (slave, error) in answers where error == nil { try? store.markSeen(slave, at: now) }
        let seen = (try? store.lastSeen()) ?? [:]
        let reports = (try? store.reports()) ?? [:]
        let health = slaves.keys.sorted().map { slave in
            SlaveHealth(name: slave, api: slaves[slave]!, reachable: answers[slave] == .some(nil), lastSeenAt: seen[slave],
                        error: answers[slave] ?? nil)
        }
        let reachable = Dictionary(uniqueKeysWithValues: health.map { ($0.name, $0.reachable) })
        var projects: [String: SiteProject] = [:]
        for (name, state) in await scheduler.projectStates() {
            var copies: [String: SlaveCopy] = [:]
            for slave in state.spec.slaves {
                let report = reports[slave]?[name]
                let revision = report?.report.revision ?? 0
                let behind = max(0, state.status.revision - revision)
                var lag = 0.0
                if behind > 0, let since = try? store.firstRevisionTime(name, after: revision) { lag = max(0, now.timeIntervalSince(since)) }
                copies[slave] = SlaveCopy(revision: revision, result: report?.report.result, reportedAt: report?.at,
                                          message: report?.report.message, behind: behind, lagSeconds: lag,
                                          reachable: reachable[slave] ?? false, lastSeenAt: seen[slave])
            }
            projects[name] = SiteProject(revision: state.status.revision, activity: state.status.activity, lastRun: state.status.lastRun,
                                         lastSuccessAt: state.status.lastSuccessAt, nextRunAt: state.status.nextRunAt, slaves: copies)
        }
        return SiteStatus(name: name, generatedAt: now, rsyncd: await supervisor.status, slaves: health, projects: projects)
    }
}
