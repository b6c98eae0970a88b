import Foundation
import Hummingbird
import Logging
import MirrorCore
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An agent that cannot start, and why, in one line.
public struct AgentStartError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What an agent needs to start; everything else arrives through its API.
public struct AgentOptions: Sendable {
    public var role: AgentRole
    public var name: String
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int
    public var tokenFile: String
    public var stateDirectory: String
    public var version: String
    public var policy: SyncScheduler.Policy
    /// Whether SIGTERM and SIGINT stop the agent; an agent inside tests is stopped with `shutdown()`.
    public var handleSignals: Bool

    public init(role: AgentRole, name: String, host: String, port: Int, tokenFile: String, stateDirectory: String,
                version: String = "0.1.0", policy: SyncScheduler.Policy = .init(), handleSignals: Bool = true) {
        self.role = role
        self.name = name
        self.host = host
        self.port = port
        self.tokenFile = tokenFile
        self.stateDirectory = stateDirectory
        self.version = version
        self.policy = policy
        self.handleSignals = handleSignals
    }
}

/// Runs the scheduler's loop as a service; a graceful shutdown ends it, recording runs in progress as interrupted.
struct SchedulerService: Service {
    let scheduler: SyncScheduler

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await scheduler.run()
        }
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
    private let group = Mutex<ServiceGroup?>(nil)
    private let listening = Mutex<(port: Int?, waiters: [CheckedContinuation<Int?, Never>])>((nil, []))

    public init(options: AgentOptions, runner: (any SyncRunner)? = nil, clock: any AgentClock = SystemClock(), logger: Logger) throws(AgentStartError) {
        self.options = options
        self.logger = logger
        let token = try Self.readToken(options.tokenFile)
        try Self.prepareStateDirectory(options.stateDirectory)
        let store: AgentStore
        do { store = try AgentStore(directory: options.stateDirectory) } catch { throw AgentStartError(error.message) }
        metrics = AgentMetrics()
        do {
            scheduler = try SyncScheduler(store: store, runner: runner ?? RsyncRunner(clock: clock), clock: clock, metrics: metrics,
                                          policy: options.policy, logger: logger)
        } catch { throw AgentStartError(error.message) }
        api = AgentAPI(role: options.role, name: options.name, bootID: UUID().uuidString.lowercased(), version: options.version,
                       scheduler: scheduler, metrics: metrics, token: token)
    }

    /// Reads the bearer token; a missing, empty or world-readable file is refused.
    public static func readToken(_ path: String) throws(AgentStartError) -> BearerToken {
        do throws(ValueError) { return BearerToken(try TokenFile.read(path)) } catch { throw AgentStartError(error.message) }
    }

    static func prepareStateDirectory(_ path: String) throws(AgentStartError) {
        // mkdir -p, one level at a time, so that a failure names the system's reason.
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0 && errno != EEXIST {
                throw AgentStartError("cannot create the state directory \(path): \(String(cString: strerror(errno))) (at \(partial))")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw AgentStartError("cannot write in the state directory \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Serves until SIGTERM or `shutdown()`.
    public func run() async throws(AgentStartError) {
        let app = Application(
            router: api.router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { [self] channel in self.listened(on: channel.localAddress?.port) },
            logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: SchedulerService(scheduler: scheduler)),
                .init(service: app),
            ],
            gracefulShutdownSignals: options.handleSignals ? [.sigterm, .sigint] : [],
            logger: logger))
        self.group.withLock { $0 = group }
        logger.info("agent starting", metadata: ["role": "\(options.role.rawValue)", "name": "\(options.name)",
                                                 "listen": "\(options.host):\(options.port)", "state": "\(options.stateDirectory)"])
        defer { listened(on: nil) }
        do {
            try await group.run()
        } catch {
            let text = "\(error)"
            if text.contains("Address already in use") || text.contains("errno: 98") {
                throw AgentStartError("cannot listen on \(options.host):\(options.port): the address is already in use")
            }
            if text.contains("bind") || text.contains("Cannot assign requested address") {
                throw AgentStartError("cannot listen on \(options.host):\(options.port): \(text)")
            }
            throw AgentStartError("the agent stopped: \(text)")
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
