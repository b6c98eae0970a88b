import Foundation
import Logging
import MirrorCore
import Synchronization

/// What an agent does when a run has ended and been recorded: the master triggers its slaves, a slave reports
/// to the master.
public protocol RunObserver: Sendable {
    /// `revision`: the project's revision after the run (the master's count, or the one a slave serves).
    func runFinished(_ run: RunRecord, revision: Int, spec: AgentProjectSpec, settings: AgentSettings) async
}

/// What the scheduler refuses, with the HTTP status that says so.
public struct SchedulerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, conflict, store, storeFull }
    public var kind: Kind
    public var message: String

    public var description: String { message }

    static func notFound(_ project: String) -> SchedulerError {
        SchedulerError(kind: .notFound, message: "no project '\(project)' on this agent")
    }
}

extension SchedulerError {
    /// A store that could not write: full, or failing for another reason.
    init(_ error: StoreError) {
        self.init(kind: error.isFull ? .storeFull : .store, message: error.message)
    }
}

/// The agent's engine: it holds every project, decides when each one runs, runs it and records what happened.
///
/// Rules: a project that has never run runs at once; afterwards its next run counts from the persisted start of
/// its last one, so a restart neither starts a storm of syncs nor runs a project twice; one run of a project at a
/// time, and at most `maxConcurrentSyncs` in all, the rest queued first come, first served; suspended projects never
/// run; a spec changed during a run takes effect on the next run; a project removed during a run has it stopped.
/// Failed runs are retried with exponential backoff and jitter before they are recorded as failed.
public actor SyncScheduler {
    public struct Policy: Sendable {
        /// Attempts per run, the first included.
        public var maxAttempts: Int
        /// The wait before the second attempt; it doubles with each further attempt, up to `retryMax`.
        public var retryBase: TimeInterval
        public var retryMax: TimeInterval
        /// The least time between the starts of two runs an upstream's pushes start: pushes closer together wait,
        /// and coalesce into one run.
        public var pushGap: TimeInterval
        /// On the master, how long a `stage: site` project's slaves may take over their first stage before the ones
        /// that finished go on to the second without the rest.
        public var stageTimeout: TimeInterval

        public init(
            maxAttempts: Int = 3, retryBase: TimeInterval = 30, retryMax: TimeInterval = 600,
            pushGap: TimeInterval = 30,
            stageTimeout: TimeInterval = StagedRollouts.defaultTimeout
        ) {
            self.maxAttempts = maxAttempts
            self.retryBase = retryBase
            self.retryMax = retryMax
            self.pushGap = pushGap
            self.stageTimeout = stageTimeout
        }

        /// The wait after `attempt` failed attempts: exponential, capped, and spread by ±50%.
        func backoff(after attempt: Int) -> TimeInterval {
            Backoff.delay(after: attempt, base: retryBase, max: retryMax)
        }
    }

    struct Running {
        var record: RunRecord
        var task: Task<Void, Never>
        /// On a slave, the master's revision this pull brings.
        var pulling: Int?
    }

    struct Entry {
        var spec: AgentProjectSpec
        var generation: String
        var revision: Int
        /// On a slave, the master's latest revision as far as the slave knows; nil until it has heard of one,
        /// and until then it does not pull (there is nothing on the master to pull).
        var wantedRevision: Int?
        var lastStartAt: Date?
        var lastSuccessAt: Date?
        var syncedFiles: Int?
        /// The tree's size in bytes after the last success.
        var syncedBytes: Int64?
        /// When the last run that succeeded or failed ended.
        var lastEndAt: Date?
        var addedAt: Date?
        var managed = false
        /// The last run was cut short by a stop of the agent: run again at once.
        var resume = false
        var running: Running?
        var queued: RunRecord?
        var lastRun: RunRecord?
        /// The failed runs in a row with one cause, up to the last.
        var failures: FailureStreak?
        /// The upstream pushed and no run has started since: one starts once the run in progress (if any) ends and
        /// `pushGap` has passed since the last push started one.
        var pushPending = false
        /// When the last run a push asked for started.
        var lastPushStartAt: Date?
        /// A slave's `stage: site` pull between its stages (SyncScheduler+Stages.swift).
        var staged: StagedPull?
        /// On the master, a `stage: site` project's slaves are between their stages: its next upstream sync waits
        /// until they are done or this time has passed, so that their second stage pulls the revision of their first.
        var heldUntil: Date?
    }

    /// The agent's store: the scheduler is its one owner; the API and the site's status go through its methods.
    private let store: AgentStore
    /// The master counts revisions; a slave takes them from the master.
    public nonisolated let role: AgentRole
    let runner: any SyncRunner
    let observer: (any RunObserver)?
    /// Runs the projects' hooks after their runs; nil runs none.
    let hooks: HookRunner?
    /// Hooks running now, by run: stopped with the agent.
    var hookTasks: [Int64: Task<HookOutcome?, Never>] = [:]
    /// Where each run's log is written; nil keeps none.
    let logs: RunLogs?
    /// Runs queued or running, by id: their logs, progress and readers (`SyncScheduler+Activity.swift`).
    var activities: [Int64: RunActivity] = [:]
    /// Runs an operator asked to cancel (`POST /v1/projects/{name}/cancel`): recorded as cancelled by request when they end.
    var cancelRequests: Set<Int64> = []
    let clock: any AgentClock
    let metrics: AgentMetrics
    let logger: Logger
    let policy: Policy
    /// Every project's next run depends on the settings (a slave's master): a change stamps every project.
    private(set) var settings: AgentSettings? { didSet { entries.touchAll() } }
    private(set) var settingsGeneration: String?
    var entries = ProjectEntries<Entry>()
    /// Changes whenever anything `GET /v1/state` shows changes, so that an unchanged state is served as it was.
    var stateVersion: UInt64 { entries.version }
    /// Projects with a queued run, first come first served.
    var ready: [String] = []
    var stopping = false
    var waiting = false
    let wake = WakeSignal()
    /// Signalled when the settings or the set of projects change: the master's rsync daemon rewrites its modules,
    /// a slave asks the master where its new projects are.
    nonisolated let projectsChanged = WakeSignal()

    /// Loads what the store holds; runs left open by a crash are recorded as interrupted and will run again.
    public init(
        store: AgentStore, role: AgentRole = .master, runner: any SyncRunner, observer: (any RunObserver)? = nil,
        hooks: HookRunner? = nil, clock: any AgentClock = SystemClock(), metrics: AgentMetrics = AgentMetrics(),
        policy: Policy = Policy(),
        logs: RunLogs? = nil, logger: Logger
    ) throws(StoreError) {
        self.store = store
        self.logs = logs
        self.role = role
        self.runner = runner
        self.observer = observer
        self.hooks = hooks
        self.clock = clock
        self.metrics = metrics
        self.policy = policy
        self.logger = logger
        if let (settings, generation) = try store.settings() {
            self.settings = settings
            self.settingsGeneration = generation
        }
        let interrupted = try store.interruptOpenRuns(at: clock.now())
        let lastRuns = try store.lastFinishedRuns()
        var loaded: [String: Entry] = [:]
        for project in try store.projects() {
            loaded[project.name] = Entry(
                spec: project.spec, generation: project.generation, revision: project.revision,
                lastStartAt: project.lastStartAt,
                lastSuccessAt: project.lastSuccessAt, syncedFiles: project.syncedFiles,
                syncedBytes: project.syncedBytes,
                lastEndAt: project.lastEndAt, addedAt: project.createdAt, managed: project.managed,
                resume: interrupted.contains { $0.project == project.name && $0.state == .running },
                lastRun: lastRuns[project.name],
                failures: lastRuns[project.name]?.result == .failed
                    ? FailureStreak.of(try store.runs(project: project.name, limit: 50)) : nil)
        }
        entries.replaceAll(loaded)
        for (name, entry) in loaded { if let bytes = entry.syncedBytes { metrics.record(size: bytes, of: name) } }
        for run in interrupted {
            logger.warning(
                "run interrupted by a stop of the agent", metadata: ["project": "\(run.project)", "run": "\(run.id)"])
        }
        // An agent killed outright leaves its rsyncs running; they must end before a new run writes the same tree.
        if let root = self.settings?.root {
            let trees = Set(
                interrupted.compactMap { run in loaded[run.project].map { root + "/" + $0.spec.path + "/" } })
            // A revision being built (publish: atomic) is written beside the tree, in its revisions' store.
            let stores = trees.map { RevisionTree(destination: $0).store + "/" }
            for pid in OrphanedRsync.stop(matching: { argv in
                guard let destination = argv.last(where: { !$0.isEmpty }) else { return false }
                return trees.contains(destination) || stores.contains { destination.hasPrefix($0) }
            }) {
                logger.warning("stopped an rsync left by the previous agent", metadata: ["pid": "\(pid)"])
            }
            // No sync runs yet: an in-progress marker at the top of a tree is a stopped or killed agent's.
            for entry in loaded.values {
                for marker in TraceFiles.removeStaleMarkers(in: root + "/" + entry.spec.path) {
                    logger.notice("removed a stale in-progress marker", metadata: ["marker": "\(marker)"])
                }
            }
        }
    }

    // MARK: - The loop

    /// Runs until `stop()`; then ends every run in progress, recording it as interrupted.
    public func run() async {
        while !stopping && !Task.isCancelled {
            let now = clock.now()
            queueDue(now)
            startReady(now)
            metrics.set(running: entries.values.filter { $0.running != nil }.count, projects: entries.count)
            await wait(until: earliestDue())
        }
        await endRuns()
    }

    /// Asks the loop to end; `run()` returns once every run in progress has stopped and been recorded.
    public func stop() {
        stopping = true
        wake.signal()
    }

    /// Whether the loop is asleep with nothing to start: for tests that drive the clock.
    public func isIdle() -> Bool { waiting && !wake.isPending }

    func wait(until deadline: Date?) async {
        waiting = true
        defer { waiting = false }
        await WakeSignal.first(of: [wake], orUntil: deadline, on: clock)
    }

    func due(_ name: String, _ entry: Entry) -> Date? {
        guard !entry.spec.suspended, entry.running == nil, entry.queued == nil else { return nil }
        // A slave of a master pulls once it knows the master has a revision (0: nothing synced yet); a slave
        // without a master, on its interval.
        guard role == .master || settings?.master == nil || (entry.wantedRevision ?? 0) > 0 else { return nil }
        var scheduled: Date? = .distantPast
        if !entry.resume, let last = entry.lastStartAt {
            scheduled = entry.spec.interval.nextRun(after: last, seed: name)
        }
        guard entry.pushPending else { return held(scheduled, entry) }
        let push = pushAllowed(entry)
        return held(scheduled.map { min($0, push) } ?? push, entry)
    }

    func earliestDue() -> Date? {
        entries.compactMap { due($0.key, $0.value) }.min()
    }

    func queueDue(_ now: Date) {
        // Oldest due first, then by name: the queue is first come, first served.
        let due = entries.compactMap { name, entry in self.due(name, entry).map { (name, $0) } }
            .filter { $0.1 <= now }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        for (name, _) in due { _ = try? queue(name, trigger: entries[name]?.pushPending == true ? .push : .schedule) }
    }

    @discardableResult
    func queue(_ name: String, trigger: RunTrigger) throws(SchedulerError) -> RunRecord {
        guard var entry = entries[name] else { throw .notFound(name) }
        if let queued = entry.queued { return queued }
        let record: RunRecord
        do { record = try store.queueRun(project: name, trigger: trigger, at: clock.now()) } catch {
            logger.error("cannot queue a run", metadata: ["project": "\(name)", "error": "\(error)"])
            throw SchedulerError(error)
        }
        entry.queued = record
        entries[name] = entry
        ready.append(name)
        activities[record.id] = RunActivity(
            project: name, run: record.id, logPath: logs?.path(project: name, run: record.id), logger: logger)
        logger.info(
            "run queued", metadata: ["project": "\(name)", "run": "\(record.id)", "trigger": "\(trigger.rawValue)"])
        wake.signal()
        return record
    }

    func startReady(_ now: Date) {
        guard let settings else { return }
        var running = entries.values.filter { $0.running != nil }.count
        var waiting: [String] = []
        while running < settings.maxConcurrentSyncs, !ready.isEmpty {
            let name = ready.removeFirst()
            guard var entry = entries[name], let queued = entry.queued else { continue }
            // One run of a project at a time: a run queued while one is in progress waits its turn.
            guard entry.running == nil else {
                waiting.append(name)
                continue
            }
            do { try store.startRun(queued.id, project: name, at: now) } catch {
                logger.error("cannot record the start of a run", metadata: ["project": "\(name)", "error": "\(error)"])
                waiting.append(name)
                continue
            }
            var record = queued
            record.state = .running
            record.startedAt = now
            var job = SyncJob(
                project: name, spec: entry.spec, root: settings.root, previousFiles: entry.syncedFiles,
                masterAPI: settings.master)
            job.stage = stage(of: record, entry)
            let activity = activities[record.id]
            activity?.touch()
            let task = Task { await self.execute(record, job: job, activity: activity) }
            entry.running = Running(
                record: record, task: task, pulling: role == .slave ? entry.wantedRevision ?? entry.revision : nil)
            entry.queued = nil
            entry.lastStartAt = now
            entry.resume = false
            // Whatever started it, this run lists the upstream after its push.
            if entry.pushPending || record.trigger == .push { entry.lastPushStartAt = now }
            entry.pushPending = false
            entries[name] = entry
            running += 1
            logger.info("run started", metadata: ["project": "\(name)", "run": "\(record.id)"])
        }
        ready.insert(contentsOf: waiting, at: 0)
    }

    /// One run, over every attempt it is allowed; off the actor, so that runs proceed side by side.
    nonisolated func execute(_ record: RunRecord, job: SyncJob, activity: RunActivity? = nil) async {
        var runLogger = logger
        runLogger[metadataKey: "project"] = "\(record.project)"
        runLogger[metadataKey: "run"] = "\(record.id)"
        var attempts = 0
        var outcome: SyncOutcome
        while true {
            attempts += 1
            outcome = await runner.run(job, activity: activity, logger: runLogger)
            if outcome.result.isSuccess || outcome.result == .cancelled || !outcome.retryable
                || attempts >= policy.maxAttempts
            {
                break
            }
            let delay = policy.backoff(after: attempts)
            runLogger.warning(
                "attempt failed; retrying",
                metadata: [
                    "attempt": "\(attempts)", "retryIn": "\(Int(delay))s", "reason": "\(outcome.message)",
                ])
            await attemptFailed(record, outcome: outcome, attempts: attempts)
            do { try await clock.sleep(for: delay) } catch {
                outcome = SyncOutcome(
                    result: .cancelled, reason: "cancelled",
                    message: "stopped while waiting to retry: \(outcome.message)")
                break
            }
        }
        let (run, project, settings) = await finished(record, outcome: outcome, attempts: attempts)
        if let observer, let project, let settings {
            await observer.runFinished(run, revision: project.revision, spec: project.spec, settings: settings)
        }
        // After the run is recorded and the observer told (the master's triggers are on their way): the next run of
        // the project may start while the hook runs, and the hook's outcome is added to the run's record.
        // A first stage is half a sync: the hooks run after the second.
        if let hooks, let project, let settings, let spec = project.spec.hooks, run.trigger != .firstStage {
            let directory = settings.root + "/" + project.spec.path
            let log = activity?.logPath.flatMap {
                activity?.logFailure == nil && FileManager.default.fileExists(atPath: $0) ? $0 : nil
            }
            let task = Task {
                await hooks.run(
                    spec, after: run, revision: project.revision, directory: directory, log: log, logger: runLogger)
            }
            await startHook(task, run: run.id)
            await endHook(await task.value, run: run)
        }
    }

    /// Keeps a hook's task so that a stop of the agent stops it.
    func startHook(_ task: Task<HookOutcome?, Never>, run: Int64) {
        if stopping { task.cancel() }
        hookTasks[run] = task
    }

    func endHook(_ outcome: HookOutcome?, run: RunRecord) {
        hookTasks[run.id] = nil
        guard let outcome else { return }
        do { try store.recordHook(outcome, run: run.id) } catch {
            logger.error(
                "cannot record the hook of a run",
                metadata: ["project": "\(run.project)", "run": "\(run.id)", "error": "\(error)"])
        }
        if entries[run.project]?.lastRun?.id == run.id { entries[run.project]?.lastRun?.hook = outcome }
    }

    /// A failed attempt that will be retried: while the run waits, its record (`GET .../runs/{id}`) shows the attempts so
    /// far and the last one's exit code, reason, message and rsync's last lines, so that it says why it is not done yet.
    func attemptFailed(_ record: RunRecord, outcome: SyncOutcome, attempts: Int) {
        guard var entry = entries[record.project], var running = entry.running, running.record.id == record.id else {
            return
        }
        running.record.attempts = attempts
        running.record.exitCode = outcome.exitCode
        running.record.reason = outcome.reason
        running.record.message = outcome.message
        running.record.stderrTail = outcome.stderrTail
        entry.running = running
        entries[record.project] = entry
        activities[record.id]?.note("attempt \(attempts) failed: \(outcome.message); it is tried again")
    }

    /// Records the end of a run; returns it as stored, with the project's spec and revision now, and the settings.
    func finished(_ record: RunRecord, outcome: SyncOutcome, attempts: Int) -> (
        RunRecord, (spec: AgentProjectSpec, revision: Int)?, AgentSettings?
    ) {
        var run = record
        run.result = outcome.result
        run.endedAt = clock.now()
        run.attempts = attempts
        run.exitCode = outcome.exitCode
        run.reason = outcome.reason
        run.message = outcome.message
        run.filesTransferred = outcome.filesTransferred
        run.bytesTransferred = outcome.bytesTransferred
        run.filesDeleted = outcome.filesDeleted
        run.filesTotal = outcome.filesTotal
        run.bytesTotal = outcome.bytesTotal
        run.stderrTail = outcome.stderrTail
        if outcome.result == .cancelled, cancelRequests.remove(run.id) != nil { Self.markCancelledByRequest(&run) }
        if outcome.result == .cancelled && stopping {
            run.result = .interrupted
            run.reason = "agent-stopped"
            run.message = "the agent stopped while the run was in progress"
        }
        let pulled = entries[run.project]?.running.flatMap { $0.record.id == run.id ? $0.pulling : nil }
        // A first stage leaves the tree at the revision before: the run is recorded, the project is not advanced.
        let firstStage = run.trigger == .firstStage
        do { run = try store.finishRun(run, pulled: pulled, advances: !firstStage) } catch {
            logger.error(
                "cannot record the end of a run",
                metadata: ["project": "\(run.project)", "run": "\(run.id)", "error": "\(error)"])
        }
        metrics.record(run)
        let level: Logger.Level = run.result?.isSuccess == true ? .info : (run.result == .failed ? .error : .notice)
        logger.log(
            level: level, "run finished",
            metadata: [
                "project": "\(run.project)", "run": "\(run.id)", "result": "\(run.result?.rawValue ?? "?")",
                "attempts": "\(attempts)", "message": "\(run.message ?? "")",
            ])
        if var entry = entries[run.project], entry.running?.record.id == run.id {
            entry.running = nil
            entry.lastRun = run
            entry.failures = FailureStreak.after(run, previous: entry.failures)
            entry.staged = staged(after: run, pulled: pulled, outcome: outcome, entry: entry)
            if run.result?.isSuccess == true, !firstStage {
                entry.revision = run.revision ?? pulled ?? entry.revision + 1
                entry.lastSuccessAt = run.endedAt
                entry.syncedFiles = run.filesTotal ?? entry.syncedFiles
                entry.syncedBytes = run.bytesTotal ?? entry.syncedBytes
            }
            if run.result?.isSuccess == true || run.result == .failed { entry.lastEndAt = run.endedAt }
            if run.result == .interrupted { entry.resume = true }
            entries[run.project] = entry
        }
        endActivity(of: run)
        wake.signal()
        // A first stage's report names the revision it pulled, which the slave does not serve yet.
        return (run, entries[run.project].map { ($0.spec, firstStage ? pulled ?? $0.revision : $0.revision) }, settings)
    }

    func endRuns() async {
        stopping = true
        let tasks = entries.values.compactMap { $0.running?.task }
        for task in tasks { task.cancel() }
        for task in hookTasks.values { task.cancel() }
        for task in tasks { await task.value }
        for task in hookTasks.values { _ = await task.value }
        // Runs still queued end with the agent, for whoever follows them.
        for activity in activities.values { activity.end() }
        activities = [:]
    }

    // MARK: - What the API asks

    /// Stores and applies new settings; the same settings twice is one change.
    public func putSettings(_ new: AgentSettings) throws(SchedulerError) -> PutResponse {
        let change: PutResponse.Change
        do { change = try store.putSettings(new, at: clock.now()) } catch { throw SchedulerError(error) }
        settings = new
        settingsGeneration = Generation.of(new)
        wake.signal()
        if change != .unchanged { projectsChanged.signal() }
        return PutResponse(name: "settings", generation: settingsGeneration!, change: change)
    }

    /// Stores a project's spec and schedules it; the same spec twice is one change.
    public func putProject(_ name: String, spec: AgentProjectSpec, managed: Bool = false) throws(SchedulerError)
        -> PutResponse
    {
        let response: PutResponse
        // One moment for the store and the entry, so that the project's addedAt reads the same after a restart.
        let now = clock.now()
        do { response = try store.putProject(name, spec: spec, managed: managed, at: now) } catch {
            throw SchedulerError(error)
        }
        if entries[name]?.managed != managed { entries[name]?.managed = managed }
        guard response.change != .unchanged else { return response }
        if var entry = entries[name] {
            entry.spec = spec
            entry.generation = response.generation
            entries[name] = entry
            if spec.suspended, let queued = entry.queued {
                dropQueued(name, queued, because: "the project was suspended")
            }
        } else {
            entries[name] = Entry(
                spec: spec, generation: response.generation, revision: 0, addedAt: now, managed: managed)
        }
        logger.info(
            "project \(response.change.rawValue)",
            metadata: ["project": "\(name)", "generation": "\(response.generation)"])
        wake.signal()
        projectsChanged.signal()
        return response
    }

    /// Forgets a project: a run in progress is stopped; its files are kept unless `purge`.
    public func removeProject(_ name: String, purge: Bool) async throws(SchedulerError) {
        guard let entry = entries.removeValue(forKey: name) else { throw .notFound(name) }
        ready.removeAll { $0 == name }
        do { _ = try store.deleteProject(name) } catch {
            entries[name] = entry
            throw SchedulerError(error)
        }
        if let running = entry.running {
            running.task.cancel()
            await running.task.value
        }
        if let queued = entry.queued { activities.removeValue(forKey: queued.id)?.end() }
        if purge, let root = settings?.root {
            // Out of the way at once (a rename, so that a project put again under the name starts afresh), then
            // deleted off the actor: a mirror's tree can take minutes to delete.
            let tree = root + "/" + entry.spec.path
            // A tree published by revisions is a link; its revisions go with it, and its run logs.
            let targets = [tree, RevisionTree(destination: tree).store].map { path in
                let doomed = root + "/.mirrorsync-purge-" + UUID().uuidString.lowercased()
                return rename(path, doomed) == 0 ? doomed : path
            }
            let logFolder = logs.map { $0.directory + "/" + name }
            let failure = await Task.detached { () -> String? in
                do {
                    for target in targets + [logFolder].compactMap({ $0 })
                    where FileManager.default.fileExists(atPath: target) {
                        try FileManager.default.removeItem(atPath: target)
                    }
                    return nil
                } catch {
                    return "\(error)"
                }
            }.value
            if let failure {
                logger.error(
                    "cannot delete the project's files", metadata: ["project": "\(name)", "error": "\(failure)"])
            }
        }
        logger.info("project removed", metadata: ["project": "\(name)", "purge": "\(purge)"])
        wake.signal()
        projectsChanged.signal()
    }

    /// Ends a queued run before it started; returns it as recorded.
    @discardableResult
    func dropQueued(_ name: String, _ queued: RunRecord, because reason: String) -> RunRecord {
        var run = queued
        run.result = .cancelled
        run.endedAt = clock.now()
        run.message = reason
        run = (try? store.finishRun(run)) ?? run
        entries[name]?.queued = nil
        ready.removeAll { $0 == name }
        activities.removeValue(forKey: queued.id)?.end()
        return run
    }

    /// Queues a run now (or returns the one already queued). On a slave, `revision` is the master's revision that
    /// the run is to bring; a run already in progress brings an older one, so one more is queued behind it.
    public func requestRun(_ name: String, trigger: RunTrigger = .request, revision: Int? = nil) throws(SchedulerError)
        -> RunRecord
    {
        guard let entry = entries[name] else { throw .notFound(name) }
        if entry.spec.suspended {
            throw SchedulerError(
                kind: .conflict, message: "project '\(name)' is suspended; set suspended: false to sync it")
        }
        if let revision { entries[name]?.wantedRevision = revision }
        return try queue(name, trigger: trigger)
    }

    /// On a slave: the master's revisions, as it answered a catch-up. Every project whose revision differs from the
    /// one this slave serves, and that is not already running or queued, is queued; returns their names.
    @discardableResult
    public func follow(revisions: [String: Int]) -> [String] {
        var queued: [String] = []
        for name in entries.keys.sorted() {
            guard let revision = revisions[name], var entry = entries[name] else { continue }
            if entry.wantedRevision != revision {
                entry.wantedRevision = revision
                entries[name] = entry
            }
            guard revision != entry.revision, !entry.spec.suspended, entry.running == nil, entry.queued == nil,
                !isWaitingForSecondStage(entry, of: revision)
            else { continue }
            if (try? queue(name, trigger: .catchUp)) != nil { queued.append(name) }
        }
        return queued
    }

    /// What the master's rsync daemon serves: the settings, and a module per project at its tree.
    public func rsyncdModules() -> (settings: AgentSettings?, modules: [RsyncdConfig.Module]) {
        guard let settings else { return (nil, []) }
        return (
            settings, entries.map { RsyncdConfig.Module(name: $0.key, path: settings.root + "/" + $0.value.spec.path) }
        )
    }

    public func projectSpec(_ name: String) -> AgentProjectSpec? { entries[name]?.spec }

    /// The master's revision of every project it holds.
    public func revisions() -> [String: Int] { entries.mapValues(\.revision) }

    public func run(_ id: Int64) throws(SchedulerError) -> RunRecord? {
        for entry in entries.values {
            if let running = entry.running, running.record.id == id {
                var record = running.record
                record.progress = activities[id]?.progress
                return record
            }
            if let queued = entry.queued, queued.id == id { return queued }
        }
        do { return try store.run(id) } catch { throw SchedulerError(error) }
    }

    /// A project's newest runs, newest first, the one in progress as it stands now (for the status page).
    public func runs(_ name: String, limit: Int) throws(SchedulerError) -> [RunRecord] {
        var runs: [RunRecord]
        do { runs = try store.runs(project: name, limit: limit) } catch { throw SchedulerError(error) }
        if let live = entries[name]?.running?.record, let index = runs.firstIndex(where: { $0.id == live.id }) {
            runs[index] = live
        }
        return runs
    }

    public func projectStates() -> [String: ProjectState] {
        entries.reduce(into: [:]) { out, item in out[item.key] = projectState(item.key, item.value) }
    }

    /// A project's state as `GET /v1/state` shows it.
    func projectState(_ name: String, _ entry: Entry) -> ProjectState {
        let activity: ProjectStatus.Activity =
            entry.running != nil
            ? .running
            : entry.queued != nil ? .queued : entry.spec.suspended ? .suspended : .idle
        let status = ProjectStatus(
            activity: activity, revision: entry.revision, lastRun: entry.lastRun,
            lastSuccessAt: entry.lastSuccessAt, nextRunAt: due(name, entry).flatMap { $0 == .distantPast ? nil : $0 },
            currentRunID: entry.running?.record.id ?? entry.queued?.id, lastStartedAt: entry.lastStartAt,
            lastEndedAt: entry.lastEndAt, sizeBytes: entry.syncedBytes, addedAt: entry.addedAt,
            stuck: entry.failures.flatMap { $0.isStuck ? $0 : nil })
        return ProjectState(spec: entry.spec, generation: entry.generation, status: status, managed: entry.managed)
    }

    /// The state's version, and the states of the projects that changed since `version`: nil for one removed since.
    /// What a reader that holds every state as of `version` needs to hold them as of now.
    public func projectStates(changedSince version: UInt64) -> (version: UInt64, changed: [String: ProjectState?]) {
        // The idle case, at every `GET /v1/state`: nothing to look through.
        guard version != stateVersion else { return (stateVersion, [:]) }
        var changed: [String: ProjectState?] = [:]
        for name in entries.changed(since: version) {
            changed[name] = .some(entries[name].map { projectState(name, $0) })
        }
        return (stateVersion, changed)
    }

    public func currentSettings() -> (settings: AgentSettings?, generation: String?) {
        (settings, settingsGeneration)
    }

    // MARK: - The slaves, on the master

    /// Keeps a slave's report on a project (and marks the slave seen).
    public func putReport(_ report: SlaveReport) throws(SchedulerError) {
        do { try store.putReport(report, at: clock.now()) } catch { throw SchedulerError(error) }
    }

    /// Marks slaves as seen now: they answered the master.
    public func markSeen(_ slaves: [String]) {
        let now = clock.now()
        for slave in slaves {
            do { try store.markSeen(slave, at: now) } catch {
                logger.error(
                    "cannot record that a slave was seen", metadata: ["slave": "\(slave)", "error": "\(error)"])
            }
        }
    }

    /// What the master knows of its slaves: when each last answered, and each one's last report on each project.
    public func slaveRecords() -> (seen: [String: Date], reports: [String: [String: (report: SlaveReport, at: Date)]]) {
        ((try? store.lastSeen()) ?? [:], (try? store.reports()) ?? [:])
    }

    /// For each project and revision, when the master made the first revision after it: how long a slave at that
    /// revision has been behind.
    public func firstRevisionTimes(after wanted: [String: Set<Int>]) -> [String: [Int: Date]] {
        guard !wanted.isEmpty else { return [:] }
        return (try? store.firstRevisionTimes(after: wanted)) ?? [:]
    }
}
