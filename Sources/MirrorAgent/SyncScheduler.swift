import Foundation
import Logging
import MirrorCore
import Synchronization

/// The agent's engine: it holds every project, decides when each one runs, runs it and records what happened.
///
/// Rules: a project that has never run runs at once; afterwards its next run counts from the persisted start of
/// its last one, so a restart neither starts a storm of syncs nor runs a project twice; one run of a project at a
/// time, and at most `maxConcurrentSyncs` in all, the rest queued first come, first served; suspended projects never
/// run; a spec changed during a run takes effect on the next run; a project removed during a run has it stopped.
/// Failed runs are retried with exponential backoff and jitter before they are recorded as failed.
public actor SyncScheduler {
    /// The agent's store. The scheduler is its one owner: only the scheduler's own files (SyncScheduler*.swift) and
    /// the `slaves` it hands out touch it; the API and the site's status go through their methods.
    let store: AgentStore
    /// The master counts revisions; a slave takes them from the master.
    public nonisolated let role: AgentRole
    /// Runs each project's sync when it starts: the runner, its retries, the observer and the hook (`RunExecution`).
    let execution: RunExecution
    /// What the master keeps of its slaves, in the same store; it touches no project or run of the scheduler's, so it
    /// is reached without waiting for the scheduler.
    public nonisolated let slaves: SlaveRecords
    /// The master's notifications' conditions and outbox, in the same store; like `slaves`, none of the scheduler's.
    public nonisolated let notifications: NotificationRecords
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
    /// Every project's next run depends on the settings (a slave's master): a change stamps every project. Set by
    /// `putSettings` alone (SyncScheduler+Projects.swift).
    var settings: AgentSettings? { didSet { entries.touchAll() } }
    var settingsGeneration: String?
    var entries = ProjectEntries<Entry>()
    /// Changes whenever anything `GET /v1/state` shows changes, so that an unchanged state is served as it was.
    var stateVersion: UInt64 { entries.version }
    /// Projects with a queued run, first come first served.
    var ready: [String] = []
    var stopping = false
    var waiting = false
    let wake = WakeSignal()
    /// Signalled when the settings or the set of projects change: a slave asks the master where its new projects are.
    nonisolated let projectsChanged = WakeSignal()
    /// The same, for the rsync daemon, which rewrites its modules: a signal of its own, since a `WakeSignal` has one
    /// waiter, and a slave that others pull from (a tier) waits on both.
    nonisolated let modulesChanged = WakeSignal()

    /// Tells both waiters that the settings or the set of projects changed.
    func projectsDidChange() {
        projectsChanged.signal()
        modulesChanged.signal()
    }

    /// Loads what the store holds; runs left open by a crash are recorded as interrupted and will run again.
    public init(
        store: AgentStore, role: AgentRole = .master, runner: any SyncRunner, observer: (any RunObserver)? = nil,
        hooks: HookRunner? = nil, prober: (any UpstreamProbing)? = nil, clock: any AgentClock = SystemClock(),
        metrics: AgentMetrics = AgentMetrics(),
        policy: Policy = Policy(),
        logs: RunLogs? = nil, changes: ChangeLog? = nil, logger: Logger
    ) throws(StoreError) {
        self.store = store
        self.logs = logs
        self.role = role
        self.execution = RunExecution(
            runner: runner, observer: observer, hooks: hooks, prober: prober, clock: clock, policy: policy,
            logger: logger, changes: changes)
        self.slaves = SlaveRecords(store: store, clock: clock, logger: logger)
        self.notifications = NotificationRecords(store: store)
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
        let probes = try store.probeMarks()
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
                    ? FailureStreak.of(try store.runs(project: project.name, limit: 50)) : nil,
                probe: probes[project.name])
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
            job.traceInfo = settings.trace
            job.trigger = record.trigger
            if role == .slave {
                job.servedRevision = entry.revision
                job.pullingRevision = entry.wantedRevision
                job.walkWhole = record.trigger == .request
            }
            let probe = probePlan(entry, trigger: record.trigger, now: now)
            let activity = activities[record.id]
            activity?.touch()
            let started = job
            let task = Task {
                await self.execution.perform(record, job: started, probe: probe, activity: activity, for: self)
            }
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
}
