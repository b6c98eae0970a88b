import Foundation
import Logging
import MirrorCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Why a reconcile ran; several triggers that arrive within one debounce window share one reconcile.
public enum WatchTrigger: String, Sendable, Hashable, CaseIterable, Comparable {
    case start
    case fileEvent = "file event"
    case overflow = "queue overflow"
    case directoryReplaced = "directory replaced"
    case sighup = "SIGHUP"
    case resync

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// How the watch loop paces itself.
public struct WatchOptions: Sendable {
    /// Quiet time after the last change before reconciling: a burst of changes becomes one reconcile.
    public var debounce: TimeInterval
    /// A burst that never pauses is reconciled this long after it began.
    public var maxDelay: TimeInterval
    /// A full reconcile this often, whatever changed, to repair drift on the agents.
    public var resync: TimeInterval
    /// How long one reconcile keeps retrying agents that do not answer.
    public var timeout: TimeInterval
    /// Whether SIGHUP asks for a reload (the command); tests call `reload()`.
    public var reloadOnSIGHUP: Bool

    public init(
        debounce: TimeInterval = 0.05, maxDelay: TimeInterval? = nil, resync: TimeInterval = 300,
        timeout: TimeInterval = 60,
        reloadOnSIGHUP: Bool = false
    ) {
        self.debounce = debounce
        self.maxDelay = maxDelay ?? max(0.5, debounce * 10)
        self.resync = resync
        self.timeout = timeout
        self.reloadOnSIGHUP = reloadOnSIGHUP
    }
}

/// One reconcile of the watch loop, as tests and the benchmark see it.
public struct WatchRun: Sendable {
    public var triggers: [WatchTrigger]
    /// When the first of the triggers arrived.
    public var firstTriggerAt: Date
    /// When the debounce window closed and loading began.
    public var startedAt: Date
    public var loadSeconds: Double
    public var endedAt: Date
    /// Nil when nothing was applied because mirrors.d was invalid or the agents' clients could not be made.
    public var report: ReconcileReport?
    /// The errors of an invalid mirrors.d, as `validate` prints them.
    public var diagnostics: [Diagnostic]
    public var conditions: [AgentConditions]
}

/// Makes the reconciler for a desired state: its clients reach the agents that state names.
public typealias ReconcilerFactory = @Sendable (DesiredState, [DesiredAgent]) throws(WatchError) -> Reconciler

/// `reconcile --watch`: reconciles at start, on every change of mirrors.d (debounced), on `reload()` or SIGHUP, and
/// every `resync`; never two reconciles at once, and changes during one lead to exactly one more. An invalid
/// mirrors.d applies nothing and keeps the last good state. Graceful shutdown lets the reconcile in progress end.
public final class WatchLoop: Service {
    public let directory: String
    let watcher: (any DirectoryWatcher)?
    let options: WatchOptions
    let clock: any AgentClock
    let loader: DesiredStateLoader
    let makeReconciler: ReconcilerFactory
    let logger: Logger
    let onRun: (@Sendable (WatchRun) -> Void)?
    /// What the reconciles read of the agents, so that a reconcile after an edit reads what changed; forgotten at
    /// each resync, which reads every agent in full and so repairs any drift a delta could miss.
    let memory = AgentMemory()

    private struct Pending {
        var triggers: Set<WatchTrigger> = []
        var first: Date?
        var last: Date?
        var stopping = false
    }

    private let pending = Mutex(Pending())
    // At most one wake-up waits: triggers that arrive while one waits are already in `pending`.
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    public init(
        directory: String, watcher: (any DirectoryWatcher)?, options: WatchOptions = .init(),
        clock: any AgentClock = SystemClock(),
        loader: DesiredStateLoader = .init(), logger: Logger, onRun: (@Sendable (WatchRun) -> Void)? = nil,
        makeReconciler: @escaping ReconcilerFactory
    ) {
        self.directory = directory
        self.watcher = watcher
        self.options = options
        self.clock = clock
        // After an edit of one file, one file is decoded again (the rest are read and compared).
        var loader = loader
        if loader.decodedFiles == nil { loader.decodedFiles = DecodedFiles() }
        self.loader = loader
        self.makeReconciler = makeReconciler
        self.logger = logger
        self.onRun = onRun
        (wake, wakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a reconcile, as SIGHUP does.
    public func reload(_ trigger: WatchTrigger = .sighup) {
        let now = clock.now()
        let accepted = pending.withLock { p in
            guard !p.stopping else { return false }
            p.triggers.insert(trigger)
            if p.first == nil { p.first = now }
            p.last = now
            return true
        }
        if accepted { wakeContinuation.yield() }
    }

    /// Whether graceful shutdown has begun: from then on reloads are refused and no other reconcile starts.
    var isStopping: Bool { pending.withLock { $0.stopping } }

    static func trigger(for change: DirectoryChange) -> WatchTrigger {
        change.overflow ? .overflow : change.directoryReplaced ? .directoryReplaced : .fileEvent
    }

    public func run() async throws {
        // Trapped before the first reconcile, so that a SIGHUP after its log line is never fatal.
        let signals: UnixSignalsSequence? = options.reloadOnSIGHUP ? await UnixSignalsSequence(trapping: .sighup) : nil
        reload(.start)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let watcher {
                    group.addTask { for await change in watcher.changes { self.reload(Self.trigger(for: change)) } }
                }
                if let signals {
                    group.addTask { for await _ in signals { self.reload(.sighup) } }
                }
                group.addTask {
                    while (try? await self.clock.sleep(for: self.options.resync)) != nil { self.reload(.resync) }
                }
                await loop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.pending.withLock { $0.stopping = true }
            self.wakeContinuation.finish()
        }
    }

    private func loop() async {
        var lastGood: [DesiredAgent]?
        var lastConditions: [AgentConditions] = []
        for await _ in wake {
            // Debounce: wait until the changes pause, or the burst has gone on for maxDelay.
            while let (first, last) = pending.withLock({ p in p.first.map { ($0, p.last ?? $0) } }) {
                let due = min(last.addingTimeInterval(options.debounce), first.addingTimeInterval(options.maxDelay))
                if clock.now() >= due || Task.isCancelled { break }
                try? await clock.sleep(until: due)
            }
            let taken = pending.withLock { p -> (Set<WatchTrigger>, Date?, Bool) in
                defer { (p.triggers, p.first, p.last) = ([], nil, nil) }
                return (p.triggers, p.first, p.stopping)
            }
            guard !taken.2, let first = taken.1, !taken.0.isEmpty else {
                if taken.2 { break } else { continue }
            }
            let run = await reconcile(
                taken.0.sorted(), since: first, lastGood: &lastGood, lastConditions: &lastConditions)
            onRun?(run)
        }
        logger.notice("watch stopped", metadata: ["directory": "\(directory)"])
    }

    private func reconcile(
        _ triggers: [WatchTrigger], since first: Date, lastGood: inout [DesiredAgent]?,
        lastConditions: inout [AgentConditions]
    ) async -> WatchRun {
        let started = clock.now()
        let timer = ContinuousClock.now
        var log = logger
        log[metadataKey: "trigger"] = "\(triggers.map(\.rawValue).joined(separator: ","))"
        var run = WatchRun(
            triggers: triggers, firstTriggerAt: first, startedAt: started, loadSeconds: 0, endedAt: started,
            report: nil,
            diagnostics: [], conditions: [])
        let loaded: LoadedConfig
        do {
            loaded = try loader.load(directory: directory)
        } catch {
            run.loadSeconds = (ContinuousClock.now - timer) / .seconds(1)
            run.diagnostics = error.diagnostics
            return stalled(
                run, log, reason: "InvalidConfig",
                "mirrors.d is invalid (\(error.errors.count) error\(error.errors.count == 1 ? "" : "s")): nothing applied, the last good state kept",
                lastGood: lastGood, lastConditions: &lastConditions)
        }
        run.loadSeconds = (ContinuousClock.now - timer) / .seconds(1)
        // Warnings say the same on every resync; they are worth a line when something asked for a reload.
        if triggers != [.resync] { for warning in loaded.warnings { log.warning("\(warning.description)") } }
        let agents = DesiredAgent.all(from: loaded.state)
        var reconciler: Reconciler
        do throws(WatchError) { reconciler = try makeReconciler(loaded.state, agents) } catch {
            return stalled(
                run, log, reason: "SetupFailed", error.message, lastGood: lastGood, lastConditions: &lastConditions)
        }
        reconciler.logger[metadataKey: "trigger"] = log[metadataKey: "trigger"]
        if triggers.contains(.resync) || triggers.contains(.start) { memory.forget() }
        reconciler.memory = memory
        let report = await reconciler.reconcile(agents, timeout: options.timeout)
        lastGood = agents
        lastConditions = report.conditions
        run.report = report
        run.conditions = report.conditions
        run.endedAt = clock.now()
        return run
    }

    /// Nothing applied: every agent of the last good state is Stalled for `reason`, its projects as they were.
    private func stalled(
        _ run: WatchRun, _ log: Logger, reason: String, _ message: String, lastGood: [DesiredAgent]?,
        lastConditions: inout [AgentConditions]
    ) -> WatchRun {
        var run = run
        for diagnostic in run.diagnostics { log.error("\(diagnostic.description)") }
        let first = run.diagnostics.first { $0.severity == .error }?.description
        let known = Dictionary(lastConditions.map { ($0.agent, $0) }, uniquingKeysWith: { a, _ in a })
        lastConditions = (lastGood ?? []).map { agent in
            AgentConditions(
                agent: agent.name, role: agent.role, condition: Condition(.stalled, reason, first ?? message),
                projects: known[agent.name]?.projects ?? [:])
        }
        run.conditions = lastConditions
        run.endedAt = clock.now()
        log.error(
            "reconcile finished",
            metadata: [
                "configDigest": "\(lastGood.map { DesiredAgent.digest($0) } ?? "none")",
                "outcome": "\(reason == "InvalidConfig" ? "invalid config" : "setup failed")",
                "errors": "\(run.diagnostics.filter { $0.severity == .error }.count)", "message": "\(message)",
            ])
        return run
    }
}
