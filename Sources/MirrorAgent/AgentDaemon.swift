import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MirrorCore
import MirrorHTTP
import NIOCore
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// The scheduler, once it is made, for what is made before it.
final class SchedulerSlot: Sendable {
    private let slot = Mutex<SyncScheduler?>(nil)
    var scheduler: SyncScheduler? { slot.withLock { $0 } }
    func set(_ scheduler: SyncScheduler) { slot.withLock { $0 = scheduler } }
}

/// The master's staged pulls, made after the triggers' courier that tells them of a slave it cannot reach.
final class RolloutSlot: Sendable {
    private let slot = Mutex<StagedRollouts?>(nil)
    var rollouts: StagedRollouts? { slot.withLock { $0 } }
    func set(_ rollouts: StagedRollouts) { slot.withLock { $0 = rollouts } }
}

/// Runs the scheduler's loop as a service; a graceful shutdown ends it, recording runs in progress as interrupted,
/// and then drops the triggers or reports still waiting for a peer.
struct SchedulerService: Service {
    let scheduler: SyncScheduler
    let afterwards: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await scheduler.run()
        }
        await afterwards()
    }
}

/// A master or slave agent: its store, scheduler and HTTP API, run by a ServiceGroup that stops them in
/// reverse order on SIGTERM: first the API stops taking work, then the runs in progress end and are recorded.
public final class AgentDaemon: Sendable {
    public let options: AgentOptions
    public let scheduler: SyncScheduler
    public let metrics: AgentMetrics
    let api: AgentAPI
    let logger: Logger
    /// The rsync daemon: the master's, or a slave's for the slaves that pull from it (disabled on most slaves).
    public let rsyncd: RsyncDaemonSupervisor?
    let extraServices: [any Service]
    let stopPeers: @Sendable () async -> Void
    /// The API's TLS, when it serves https://.
    let tls: TLSConfiguration?
    private let group = Mutex<ServiceGroup?>(nil)
    private let listening = Mutex<(port: Int?, waiters: [CheckedContinuation<Int?, Never>])>((nil, []))

    public init(
        options: AgentOptions, runner: (any SyncRunner)? = nil, clock: any AgentClock = SystemClock(), logger: Logger
    ) throws(AgentStartError) {
        self.options = options
        self.logger = logger
        let tokenText: String
        do throws(ValueError) { tokenText = try TokenFile.read(options.tokenFile) } catch {
            throw AgentStartError(error.message)
        }
        tls = try Self.serverTLS(options, logger: logger)
        try Self.prepareStateDirectory(options.stateDirectory)
        var bounds = try Self.bounds(options)
        bounds.credentialFiles = ([options.tokenFile] + [options.tlsKeyFile, options.acceptFile].compactMap { $0 })
            .flatMap { [$0, PathBounds.resolve($0)] }
        let credentials: AgentCredentials
        do throws(ValueError) {
            credentials = try AgentCredentials(acceptFile: options.acceptFile, sharedToken: tokenText, logger: logger)
        } catch {
            throw AgentStartError(error.message)
        }
        if credentials.accepted.acceptsShared {
            logger.warning(
                "this agent accepts a token shared by every role: whoever holds any host's token may change every agent; give each role its own credential (docs/security.md)"
            )
        }
        let store: AgentStore
        do { store = try AgentStore(directory: options.stateDirectory) } catch { throw AgentStartError(error.message) }
        // The root stored before this start: a program there would be one an upstream wrote.
        if let root = (try? store.settings())?.settings.root {
            for (given, directory) in zip(bounds.exec.given, bounds.exec.directories) {
                guard let overlap = PathBounds.overlap(directory, PathBounds.resolve(root), "the agent's root") else {
                    continue
                }
                throw AgentStartError(
                    "\(ExecAllowlist.flag) \(given) is refused: \(overlap), where files arrive from upstream")
            }
        }
        let metrics = AgentMetrics()
        self.metrics = metrics
        // The scheduler, once it is made, holds the settings that say how each peer is reached (its CA, or insecure).
        let made = SchedulerSlot()
        let transport: @Sendable (String) async -> AgentTransport = { api in
            await made.scheduler?.currentSettings().settings?.transport(to: api) ?? AgentTransport()
        }
        let peers = PeerClient(token: tokenText, transport: transport)
        // A slave's pulls name the site's credential, which it gets from the master.
        let siteCredentials =
            options.role == .slave
            ? MasterCredential(file: options.stateDirectory + "/master-rsync.secret", peers: peers, token: tokenText)
            : nil
        // A slave pulls by the master's change lists where they pay (RsyncProvider+Listed.swift).
        let changeFeed =
            options.role == .slave
            ? MasterChangeFeed(
                peers: peers, directory: options.stateDirectory + "/pulls", metrics: metrics, clock: clock,
                logger: logger)
            : nil
        var treeRunner = TreeRunner.rsync(
            clock: clock, siteCredentials: siteCredentials,
            host: options.role == .master ? "master" : "slave \(options.name)", bounds: bounds,
            traceHost: options.traceHost, creator: "mirrorsync \(options.version)", changeFeed: changeFeed)
        // The master also runs upstreams that are programs, each inside --allow-exec; a slave pulls by rsync alone.
        if options.role == .master {
            treeRunner.providers.append(
                CommandProvider(host: options.name, allowlist: bounds.exec, stateDirectory: options.stateDirectory))
        }
        let runner = runner ?? treeRunner
        let hooks = HookRunner(
            host: options.name, logDirectory: options.stateDirectory + "/hook-logs", allowlist: bounds.exec,
            stateDirectory: options.stateDirectory)
        let logs = RunLogs(directory: options.stateDirectory + "/logs")
        let bootID = UUID().uuidString.lowercased()
        do {
            switch options.role {
            case .master:
                // The triggers' courier is made before the scheduler, which owns the store: a delivered trigger marks
                // its slave seen through the scheduler, once there is one.
                let unreachable = RolloutSlot()
                let triggers = Courier<SlaveTrigger>(
                    clock: clock, retryBase: options.peerRetryBase, logger: logger,
                    outcome: { slave, error in
                        if error == nil, let scheduler = made.scheduler { scheduler.slaves.markSeen([slave]) }
                        if error != nil { await unreachable.rollouts?.unreachable(slave) }
                    },
                    send: { _, trigger throws(PeerError) in
                        try await peers.trigger(
                            trigger.api, project: trigger.project, revision: trigger.revision, stage: trigger.stage,
                            stageTimeout: trigger.stageTimeout)
                    })
                let stages = StagedRollouts(
                    courier: triggers, clock: clock, timeout: options.policy.stageTimeout, logger: logger
                ) { project, until in
                    await made.scheduler?.holdRuns(of: project, until: until)
                }
                unreachable.set(stages)
                let notifyChanged = WakeSignal()
                // What each revision changed, for the slaves' incremental pulls (ChangeLog.swift).
                let changes = ChangeLog(directory: options.stateDirectory + "/changes", logger: logger)
                scheduler = try SyncScheduler(
                    store: store, role: .master, runner: runner,
                    observer: NotifyingObserver(
                        inner: TriggerSlaves(courier: triggers, stages: stages, logger: logger), changed: notifyChanged),
                    hooks: hooks,
                    prober: UpstreamProber(
                        rsync: RsyncProvider(), scratchDirectory: options.stateDirectory + "/probes", bounds: bounds),
                    clock: clock, metrics: metrics, policy: options.policy, logs: logs, changes: changes, logger: logger
                )
                made.set(scheduler)
                let supervisor = try RsyncDaemonSupervisor(
                    stateDirectory: options.stateDirectory, scheduler: scheduler,
                    credentials: credentials, executable: options.rsyncExecutable, clock: clock, logger: logger)
                rsyncd = supervisor
                stopPeers = {
                    await stages.stop()
                    await triggers.stop()
                }
                let site = SiteStatusSource(
                    name: options.name, scheduler: scheduler, supervisor: supervisor,
                    prober: PeerClient(token: tokenText, timeout: 2, transport: transport), clock: clock)
                let secretBounds = bounds
                let notifier = Notifier(
                    scheduler: scheduler, site: site,
                    senders: NotificationSenders(
                        sendmail: options.sendmail, spool: options.stateDirectory, sendmailTimeout: .seconds(60),
                        secrets: { root in secretBounds.secrets(root: root) }),
                    clock: clock, retryBase: options.peerRetryBase, name: options.name, changed: notifyChanged,
                    logger: logger)
                extraServices = [RsyncDaemonService(supervisor: supervisor), NotificationService(notifier: notifier)]
                api = AgentAPI(
                    role: .master, name: options.name, bootID: bootID, version: options.version, scheduler: scheduler,
                    metrics: metrics, credentials: credentials, bounds: bounds, site: site, stages: stages,
                    changes: changes, maxLongPolls: options.limits.maxLongPolls)
            case .slave:
                let reports = Courier<ReportDelivery>(clock: clock, retryBase: options.peerRetryBase, logger: logger) {
                    _, delivery throws(PeerError) in
                    try await peers.report(delivery.api, delivery.report)
                }
                // A slave that others pull from (a tier, TierHop.swift) triggers them after its own pulls.
                let triggers = Courier<SlaveTrigger>(
                    clock: clock, retryBase: options.peerRetryBase, logger: logger
                ) { _, trigger throws(PeerError) in
                    try await peers.trigger(trigger.api, project: trigger.project, revision: trigger.revision)
                }
                // What each revision changed, for the slaves below it, when it is a tier (kept for the projects it
                // serves to others only: `SyncScheduler.listing`).
                let changes = ChangeLog(directory: options.stateDirectory + "/changes", logger: logger)
                scheduler = try SyncScheduler(
                    store: store, role: .slave, runner: runner,
                    observer: ReportAndTrigger(
                        report: ReportToMaster(slave: options.name, courier: reports),
                        trigger: TriggerDownstream(courier: triggers, logger: logger)),
                    hooks: hooks, clock: clock, metrics: metrics, policy: options.policy, logs: logs,
                    changes: changes, logger: logger)
                made.set(scheduler)
                // Its rsync daemon for them: disabled while its settings have no `rsyncd`, as on most slaves.
                let supervisor = try RsyncDaemonSupervisor(
                    stateDirectory: options.stateDirectory, scheduler: scheduler,
                    credentials: credentials, executable: options.rsyncExecutable, clock: clock, logger: logger)
                rsyncd = supervisor
                extraServices = [
                    CatchUpService(
                        scheduler: scheduler, peers: peers, clock: clock, interval: options.catchUpInterval,
                        retryBase: options.peerRetryBase, retryMax: 60, logger: logger),
                    RsyncDaemonService(supervisor: supervisor),
                ]
                stopPeers = {
                    await triggers.stop()
                    await reports.stop()
                }
                api = AgentAPI(
                    role: .slave, name: options.name, bootID: bootID, version: options.version, scheduler: scheduler,
                    metrics: metrics, credentials: credentials, bounds: bounds, changes: changes,
                    maxLongPolls: options.limits.maxLongPolls, hop: TierHop(supervisor: supervisor, reports: reports))
            }
        } catch let error as AgentStartError {
            throw error
        } catch let error as StoreError {
            throw AgentStartError(error.message)
        } catch {
            throw AgentStartError("\(error)")
        }
    }

    /// The agent's bounds from its flags. The `--allow-exec` directories may not overlap the state directory; they
    /// and their programs may not be owned by this agent's user unless it is root.
    static func bounds(_ options: AgentOptions) throws(AgentStartError) -> PathBounds {
        let trees = [(PathBounds.resolve(options.stateDirectory), "the agent's state directory")]
        do {
            let exec = try ExecAllowlist(directories: options.allowExec, user: geteuid(), trees: trees)
            return try PathBounds(
                allowRoots: options.allowRoots, allowLocalUpstreams: options.allowLocalUpstreams,
                stateDirectory: options.stateDirectory, exec: exec)
        } catch let error as ExecAllowlistError {
            throw AgentStartError(error.message)
        } catch let error as PathBoundsError {
            throw AgentStartError(error.message)
        } catch {
            throw AgentStartError("\(error)")
        }
    }

    /// The API's TLS from `--tls-cert` and `--tls-key`: both or neither, each readable, the key the certificate's.
    static func serverTLS(_ options: AgentOptions, logger: Logger) throws(AgentStartError) -> TLSConfiguration? {
        switch (options.tlsCertificateFile, options.tlsKeyFile) {
        case (nil, nil): return nil
        case (.some, nil): throw AgentStartError("--tls-cert needs --tls-key: the certificate's private key")
        case (nil, .some): throw AgentStartError("--tls-key needs --tls-cert: the certificate the key belongs to")
        case (.some(let certificate), .some(let key)):
            let configuration: TLSConfiguration
            do throws(TLSFileError) {
                configuration = try AgentTLS.serverConfiguration(certificateFile: certificate, keyFile: key)
            } catch {
                throw AgentStartError(error.message)
            }
            // An expired certificate is served (the clients refuse it, saying so), and said here first.
            if let expiry = AgentTLS.expiry(of: certificate), expiry < Date() {
                logger.warning(
                    "the TLS certificate has expired: clients will refuse it",
                    metadata: ["certificate": "\(certificate)", "expired": "\(expiry)"])
            }
            return configuration
        }
    }

    static func prepareStateDirectory(_ path: String) throws(AgentStartError) {
        // mkdir -p, one level at a time, so that a failure names the system's reason.
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0 && errno != EEXIST {
                throw AgentStartError(
                    "cannot create the state directory \(path): \(String(cString: strerror(errno))) (at \(partial))")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw AgentStartError("cannot write in the state directory \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Serves until SIGTERM or `shutdown()`.
    public func run() async throws(AgentStartError) {
        let server: HTTPServerBuilder
        let limits = options.limits
        let open = HeldCount(limit: limits.maxConnections)
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(
                additionalChannelHandlers: [ConnectionGuard(open: open, requestTimeout: limits.requestTimeout)],
                idleTimeout: TimeAmount(limits.idleTimeout)))
        do { server = try tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1 } catch {
            throw AgentStartError("cannot serve TLS: \(error)")
        }
        let app = Application(
            router: api.router(),
            server: server,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { [self] channel in self.listened(on: channel.localAddress?.port) },
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                // Stopped in reverse: the API first, then the rsync daemon or the catch-up, then the runs.
                services: [.init(service: SchedulerService(scheduler: scheduler, afterwards: stopPeers))]
                    + extraServices.map { .init(service: $0) } + [.init(service: app)],
                gracefulShutdownSignals: options.handleSignals ? [.sigterm, .sigint] : [],
                logger: logger))
        self.group.withLock { $0 = group }
        logger.info(
            "agent starting",
            metadata: [
                "role": "\(options.role.rawValue)", "name": "\(options.name)",
                "listen": "\(options.host):\(options.port)", "state": "\(options.stateDirectory)",
                "api": "\(tls == nil ? "http" : "https")",
            ])
        defer { listened(on: nil) }
        do {
            try await group.run()
        } catch {
            throw AgentStartError.stopped(by: error, listening: "\(options.host):\(options.port)")
        }
        logger.info("agent stopped", metadata: ["name": "\(options.name)"])
    }

    /// Stops the agent as SIGTERM would.
    public func shutdown() async {
        let group = self.group.withLock { $0 }
        await group?.triggerGracefulShutdown()
    }

    /// The port the API listens on, once it does; nil if the agent stopped first.
    public func listeningPort() async -> Int? {
        await withCheckedContinuation { continuation in
            let known = listening.withLock { state -> Int?? in
                if let port = state.port { return .some(port) }
                state.waiters.append(continuation)
                return .none
            }
            if let known { continuation.resume(returning: known) }
        }
    }

    private func listened(on port: Int?) {
        let waiters = listening.withLock { state -> [CheckedContinuation<Int?, Never>] in
            if port != nil { state.port = port }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }
}
