import Foundation
import Logging
import MirrorCore
import MirrorProcess
import ServiceLifecycle
import Subprocess
#if canImport(Glibc)
    import Glibc
#endif

/// Runs the master's rsync daemon for its slaves: writes `rsyncd.conf` from the settings and projects (atomically;
/// the daemon reads it anew at every connection, so a new module needs no restart), runs
/// `rsync --daemon --no-detach` as a child in a process group of its own, restarts it with backoff when it dies,
/// restarts it when its address or port change, and stops it on shutdown. Why it is not running is in `status`.
public actor RsyncDaemonSupervisor {
    struct Child {
        var id: Int
        var task: Task<Void, Never>
        var stopper: ProcessGroupStopper
        var address: String
        var port: Int
        var startedAt: Date
        /// Where the log ended when this daemon started: its own lines come after.
        var logOffset: UInt64
        var stopping = false
    }

    public nonisolated let directory: String
    public nonisolated let configFile: String
    public nonisolated let secretsFile: String
    public nonisolated let logFile: String
    /// The shared token's rsync user, `mirrorsync`: for a site whose agents share one token.
    let credential: RsyncCredential
    /// Each slave's own rsync user is derived from this key and the slave's credential (`SlaveRsyncUsers`).
    let users: SlaveRsyncUsers
    let credentials: AgentCredentials
    var writtenSecrets: String?
    let scheduler: SyncScheduler
    let executable: String
    let clock: any AgentClock
    let logger: Logger
    let retryBase: TimeInterval
    let retryMax: TimeInterval
    public private(set) var status = RsyncdStatus(state: .disabled)
    var child: Child?
    var nextChildID = 0
    var writtenConfig: String?
    var failures = 0
    var retryAt: Date?
    let exited = WakeSignal()

    /// Makes the directory and the site's credential if they are missing; stops a daemon that an agent killed
    /// outright left behind, which would hold the port.
    public init(
        stateDirectory: String, scheduler: SyncScheduler, credentials: AgentCredentials, executable: String = "rsync",
        clock: any AgentClock = SystemClock(),
        retryBase: TimeInterval = 1, retryMax: TimeInterval = 60, logger: Logger
    ) throws(AgentStartError) {
        directory = stateDirectory + "/rsyncd"
        configFile = directory + "/rsyncd.conf"
        secretsFile = directory + "/rsyncd.secrets"
        logFile = directory + "/rsyncd.log"
        self.scheduler = scheduler
        self.executable = executable
        self.clock = clock
        self.retryBase = retryBase
        self.retryMax = retryMax
        self.logger = logger
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw AgentStartError("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        self.credentials = credentials
        do throws(AtomicFile.Failure) {
            credential = try SiteCredential.loadOrCreate(secretsFile: secretsFile)
            users = try SlaveRsyncUsers(keyFile: directory + "/rsyncd.key")
        } catch {
            throw AgentStartError(error.message)
        }
        let config = configFile
        for pid in OrphanedRsync.stop(matching: { $0.contains("--config=\(config)") }) {
            logger.warning("stopped an rsync daemon left by the previous agent", metadata: ["pid": "\(pid)"])
        }
    }

    /// `GET /v1/rsyncd/credential`: a slave's own rsync user, for that slave's credential; the shared user for the
    /// shared token; 403 for any other.
    nonisolated func credential(for caller: CredentialRole?) throws(APIError) -> RsyncCredential {
        switch caller {
        case .shared: return credential
        case .slave(let name):
            guard
                let own = users.credentials(credentials.accepted).first(where: { $0.user == SlaveRsyncUsers.user(name) }
                )
            else {
                throw APIError.outsideRole(
                    .slave(name), "fetch an rsync credential: the master's accept file has no line for it")
            }
            return own
        case .operator, .master, nil:
            throw APIError.outsideRole(
                caller ?? .operator, "fetch an rsync credential: it is a slave's, for that slave's own credential")
        }
    }

    /// The rsync users the daemon takes as of the accept file now: each slave's own, and `mirrorsync` while a
    /// shared token is accepted.
    nonisolated func allowedUsers() -> [RsyncCredential] {
        let accepted = credentials.accepted
        return (accepted.acceptsShared ? [credential] : []) + users.credentials(accepted)
    }

    /// Until cancelled; then stops the daemon.
    public func run() async {
        while !Task.isCancelled {
            await reconcile()
            await waitForChange()
        }
        await stopChild()
        status.state = status.state == .disabled ? .disabled : .stopped
        status.pid = nil
    }

    /// Brings the daemon in line with the settings and projects.
    func reconcile() async {
        let (settings, modules) = await scheduler.rsyncdModules()
        guard let settings, let rsyncd = settings.rsyncd else {
            await stopChild()
            status = RsyncdStatus(state: .disabled)
            return
        }
        let allowed = allowedUsers()
        let secrets = allowed.map { "\($0.user):\($0.password)\n" }.joined()
        let config = RsyncdConfig.render(
            modules: modules, users: allowed.map(\.user), secretsFile: secretsFile, logFile: logFile,
            hostsAllow: rsyncd.slavesOnly ? RsyncdConfig.hosts(ofSlaves: settings.slaves) : nil,
            maxConnections: rsyncd.maxConnections.map { ($0, directory + "/rsyncd.lock") })
        if config != writtenConfig || secrets != writtenSecrets {
            do throws(AtomicFile.Failure) {
                // The secrets first: a config naming a user the secrets do not have yet would refuse that user.
                try AtomicFile.write(Array(secrets.utf8), to: secretsFile, mode: 0o600)
                writtenSecrets = secrets
                try AtomicFile.write(Array(config.utf8), to: configFile, mode: 0o600)
                writtenConfig = config
                logger.info("rsyncd.conf written", metadata: ["modules": "\(modules.count)", "file": "\(configFile)"])
            } catch {
                status.state = .failed
                status.message = error.message
                return
            }
        }
        status.modules = modules.count
        if let child, child.address != rsyncd.address || child.port != rsyncd.port {
            logger.notice(
                "the rsync daemon's address changed; restarting it",
                metadata: ["listen": "\(rsyncd.address):\(rsyncd.port)"])
            await stopChild()
            failures = 0
            retryAt = nil
        }
        if child == nil, retryAt.map({ clock.now() >= $0 }) ?? true {
            start(address: rsyncd.address, port: rsyncd.port)
        }
    }

    /// Until the projects change, the daemon exits, or the accept file's verifiers do. With an accept file, it is
    /// read every few seconds meanwhile, so that a slave's line removed on the master revokes its rsync user even
    /// when no call comes.
    func waitForChange() async {
        let (credentials, clock) = (self.credentials, self.clock)
        let poll =
            credentials.file == nil
            ? nil
            : Task {
                while !Task.isCancelled {
                    try? await clock.sleep(until: clock.now().addingTimeInterval(3))
                    _ = credentials.accepted
                }
            }
        defer { poll?.cancel() }
        await WakeSignal.first(
            of: [scheduler.modulesChanged, exited, credentials.changed], orUntil: child == nil ? retryAt : nil,
            on: clock)
    }

    func start(address: String, port: Int) {
        rotateLog()
        nextChildID += 1
        let id = nextChildID
        let stopper = ProcessGroupStopper(grace: .seconds(5))
        let arguments = ["--daemon", "--no-detach", "--config=\(configFile)", "--port=\(port)", "--address=\(address)"]
        let executable = self.executable
        let task = Task {
            let (code, error) = await Self.runDaemon(executable, arguments, stopper: stopper) { pid in
                await self.started(id, pid: pid)
            }
            self.ended(id, code: code, spawnError: error)
        }
        let logOffset =
            ((try? FileManager.default.attributesOfItem(atPath: logFile))?[.size] as? NSNumber)?.uint64Value ?? 0
        child = Child(
            id: id, task: task, stopper: stopper, address: address, port: port, startedAt: clock.now(),
            logOffset: logOffset)
        status = RsyncdStatus(
            state: .starting, address: address, port: port, since: clock.now(), modules: status.modules,
            restarts: status.restarts + (nextChildID > 1 ? 1 : 0))
        logger.info("rsync daemon starting", metadata: ["listen": "\(address):\(port)", "config": "\(configFile)"])
    }

    func started(_ id: Int, pid: Int32) {
        guard child?.id == id else { return }
        status.state = .running
        status.pid = pid
        status.message = nil
        status.retryAt = nil
    }

    func ended(_ id: Int, code: Int?, spawnError: String?) {
        guard let ended = child, ended.id == id else { return }
        child = nil
        status.pid = nil
        defer { exited.signal() }
        if ended.stopping {
            status.state = .stopped
            return
        }
        // A daemon that served for a while before it died starts again at once; one that cannot start backs off.
        if clock.now().timeIntervalSince(ended.startedAt) > retryMax { failures = 0 }
        failures += 1
        let delay = failures == 1 ? 0 : Backoff.delay(after: failures - 1, base: retryBase, max: retryMax)
        retryAt = clock.now().addingTimeInterval(delay)
        var message =
            spawnError
            ?? "the rsync daemon exited with \(code.map { "\($0) (\(RsyncExit.meaning($0)))" } ?? "a signal")"
        if let cause = lastLogError(after: ended.logOffset) { message += ": \(cause)" }
        if message.contains("Address already in use") {
            message =
                "the rsync daemon cannot listen on \(ended.address):\(ended.port): the address is already in use (\(message))"
        }
        status.state = .failed
        status.message = message
        status.retryAt = retryAt
        logger.error(
            "rsync daemon stopped",
            metadata: ["message": "\(message)", "restartIn": "\(String(format: "%.1f", delay))s"])
    }

    /// Stops the daemon, if one runs, and waits for its whole process group.
    func stopChild() async {
        guard var current = child else { return }
        current.stopping = true
        child = current
        current.stopper.stop()
        await current.task.value
    }

    /// The daemon's last error from its log: `bind() failed: Address already in use`, without date and pid.
    func lastLogError(after offset: UInt64) -> String? {
        guard let handle = FileHandle(forReadingAtPath: logFile) else { return nil }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: max(offset <= size ? offset : 0, size > 4096 ? size - 4096 : 0))
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(separator: "\n").map { line -> Substring in
            // "2026/11/26 08:55:17 [1833] bind() failed: ..."
            guard let close = line.firstIndex(of: "]"), line.first?.isNumber == true else { return line }
            return line[line.index(after: close)...].drop { $0 == " " }
        }
        // The system's reason first ("bind() failed: Address already in use"), then rsync's summary of it.
        return
            (lines.last { $0.contains("() failed") } ?? lines.last { $0.contains("failed") || $0.contains("unable") }
            ?? lines.last { $0.hasPrefix("rsync error") }).map(String.init)
    }

    /// Keeps the daemon's log to two files of at most 10 MiB.
    func rotateLog() {
        if let size = (try? FileManager.default.attributesOfItem(atPath: logFile))?[.size] as? Int, size > 10 << 20 {
            rename(logFile, logFile + ".1")
        }
    }

    /// Runs the daemon until it exits or `stopper` ends its process group.
    static func runDaemon(
        _ executable: String, _ arguments: [String], stopper: ProcessGroupStopper,
        started: @escaping @Sendable (Int32) async -> Void
    ) async -> (code: Int?, error: String?) {
        var platform = PlatformOptions()
        platform.processGroupID = 0
        let options = platform
        // The subprocess's own task is never cancelled (see RsyncProvider.invoke): the stopper's signals end the daemon.
        let result: (Int?, String?) = await Task {
            do {
                let result = try await Subprocess.run(
                    .name(executable), arguments: Arguments(arguments), environment: .inherit.updating(["LC_ALL": "C"]),
                    platformOptions: options, input: .none, output: .discarded, error: .discarded
                ) { execution in
                    stopper.started(execution.processIdentifier.value)
                    await started(execution.processIdentifier.value)
                }
                switch result.terminationStatus {
                case .exited(let code): return (Int(code), nil)
                case .signaled: return (nil, nil)
                }
            } catch {
                return (nil, "cannot run \(executable): \(error)")
            }
        }.value
        await stopper.waitForGroup()
        return result
    }
}

/// The master's rsync daemon as a service: stopped on graceful shutdown.
struct RsyncDaemonService: Service {
    let supervisor: RsyncDaemonSupervisor

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await supervisor.run()
        }
    }
}
