import Foundation
import Logging
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// The run mechanics every provider shares: the bounds a run is held to, the timeout and cancelling, in-place or
/// atomic publication (a revision built beside the served one, held to the deletion cap, published whole), Debian
/// trace files and their in-progress marker, and a full disk. What brings the tree is the provider that accepts the
/// job's source (`SyncProvider`): rsync's passes (`RsyncProvider`), and the next kinds of upstream.
public struct TreeRunner: SyncRunner {
    public var providers: [any SyncProvider]
    public var clock: any AgentClock
    /// This host as its messages name it: `master`, `slave ftp1`.
    public var host: String
    /// What a run may read and write, checked again as it starts (the API checked the settings and the spec when
    /// they came, but settings stored before the agent's flags narrowed, or a link made since, are caught here).
    public var bounds: PathBounds?
    /// This host as its Debian trace files name it (`project/trace/<traceHost>`, `Running on host`): by default the
    /// machine's fully qualified name, as Debian's ftpsync uses.
    public var traceHost: String
    /// The trace file's `Creator`.
    public var creator: String
    /// With `publish: atomic`: how many revisions are kept, the served one included, and how long one is kept at
    /// least after it stopped being served, so that readers inside it can finish.
    public var keepRevisions = 2
    public var revisionGrace: TimeInterval = 300

    public init(
        providers: [any SyncProvider], clock: any AgentClock = SystemClock(), host: String = "this host",
        bounds: PathBounds? = nil, traceHost: String? = nil, creator: String = "mirrorsync"
    ) {
        self.providers = providers
        self.clock = clock
        self.host = host
        self.bounds = bounds
        self.traceHost = traceHost ?? TraceFiles.machineName()
        self.creator = creator
    }

    /// The runner an agent uses: rsync for every rsync source, with the options `RsyncProvider` takes.
    public static func rsync(
        executable: String = "rsync", clock: any AgentClock = SystemClock(), stderrTailLines: Int = 20,
        terminationGrace: Duration = .seconds(5), siteCredentials: (any SiteCredentials)? = nil,
        host: String = "this host", bounds: PathBounds? = nil, traceHost: String? = nil,
        creator: String = "mirrorsync", changeFeed: (any ChangeFeed)? = nil
    ) -> TreeRunner {
        let rsync = RsyncProvider(
            executable: executable, stderrTailLines: stderrTailLines, terminationGrace: terminationGrace,
            siteCredentials: siteCredentials, changeFeed: changeFeed)
        return TreeRunner(
            providers: [rsync], clock: clock, host: host, bounds: bounds, traceHost: traceHost, creator: creator)
    }

    enum Stop: Error { case timedOut }

    /// Runs `job` with the provider that accepts its source, its output to `activity`'s log and its progress.
    public func run(_ job: SyncJob, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        var projectLogger = logger
        projectLogger[metadataKey: "project"] = "\(job.project)"
        let logger = projectLogger
        guard let provider = providers.first(where: { $0.accepts(job.source) }) else {
            return SyncOutcome(
                result: .failed, reason: "no-provider",
                message: "nothing was synced: this agent has no way to sync from \(job.source)")
        }
        if let refusal = bounds?.check(job) {
            return SyncOutcome(
                result: .failed, reason: "forbidden-path", message: "nothing was synced: \(refusal.message)")
        }
        let revisions = RevisionTree(destination: job.destination)
        // Back to in place: the served revision takes the link's place, with nothing copied.
        if job.publish == .inPlace, case .revision = revisions.served() {
            do throws(PublicationError) { try revisions.unpublish() } catch {
                return SyncOutcome(result: .failed, reason: "publish", message: error.message)
            }
            logger.notice("the tree is synced in place again; its other revisions were removed")
        }
        // Published by revisions, the path itself is a link that publishing makes: only its directory must exist.
        let directory =
            job.publish == .atomic ? (revisions.link as NSString).deletingLastPathComponent : job.destination
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return SyncOutcome(
                result: .failed, reason: "destination",
                message: "cannot create \(directory): \(error.localizedDescription)")
        }
        let context = TransferContext(
            activity: activity, logger: logger, secrets: bounds?.secrets(root: job.root) ?? SecretFileRules(),
            clock: clock)
        var outcome =
            job.publish == .atomic
            ? await atomic(job, in: revisions, provider: provider, context: context)
            : await inPlace(job, provider: provider, context: context)
        // A full disk does not empty itself in the minutes a retry waits: fail now, and take back the space rsync's
        // unfinished files hold, or they would fill the disk for the next try.
        if outcome.result == .failed,
            let full = outcome.stderrTail.last(where: { $0.contains("No space left on device") })
        {
            let freed = await Self.removeHoldingDirectories(under: job.destination)
            outcome.reason = "no-space"
            let tree =
                job.destination.hasSuffix("/") && job.destination.count > 1
                ? String(job.destination.dropLast()) : job.destination
            outcome.message =
                "no space left on device in \(host)'s tree \(tree) (\(full)); every file it served is kept"
                + (freed > 0
                    ? ", and rsync's \(freed) unfinished holding director\(freed == 1 ? "y was" : "ies were") removed"
                    : "")
            outcome.retryable = false
        }
        return outcome
    }

    /// A sync into the served tree, where it stands.
    func inPlace(_ job: SyncJob, provider: any SyncProvider, context: TransferContext) async -> SyncOutcome {
        let logger = context.logger
        var job = job
        // A traced tree: rsync leaves this host's trace files and every in-progress marker alone, and the marker says a
        // sync runs until the trace is written (or the run has ended some other way).
        let trace = traceFiles(job.destination, job)
        let unfiltered = job.exclude.isEmpty
        traced(&job, trace)
        trace.markStart(logger: logger)
        defer { trace.markEnd(logger: logger) }
        let started = clock.now()
        let synced = job
        var outcome = await timed(job) { await provider.transfer(synced, into: .inPlace, context: context) }
        if outcome.result.isSuccess {
            writeTrace(trace, job: job, unfiltered: unfiltered, started: started, into: &outcome, logger: logger)
        }
        return outcome
    }

    public func markUpdateRequired(_ job: SyncJob, logger: Logger) {
        traceFiles(job.destination, job).markRequired(logger: logger)
    }

    /// A tree's trace files, named after this host's public name: its settings' `trace.host`, else `traceHost`.
    func traceFiles(_ tree: String, _ job: SyncJob) -> TraceFiles {
        TraceFiles(tree: tree, host: job.traceInfo?.host ?? traceHost, machine: traceHost, setting: job.trace)
    }

    /// What a traced job leaves alone, and, in a tree traced already, the wait for an upstream that is updating.
    func traced(_ job: inout SyncJob, _ trace: TraceFiles) {
        guard job.trace != false else { return }
        job.exclude += DebianTrace.protectedPatterns(host: trace.host)
        job.protect += DebianTrace.protectedOnly()
        // A slave's pull of the master's module needs no look: the master triggers it, or it asks the master's
        // revision, only once a sync has ended, and the look would cost every slave one more connection.
        if trace.enabled, case .rsync = job.source {
            job.upstreamBusy = UpstreamBusy(
                wait: job.traceInfo?.upstreamWait ?? TraceSettings.defaultUpstreamWait,
                retries: job.traceInfo?.upstreamRetries ?? TraceSettings.defaultUpstreamRetries,
                ownMarker: DebianTrace.markerName(host: trace.host))
        }
    }

    func writeTrace(
        _ trace: TraceFiles, job: SyncJob, unfiltered: Bool, started: Date, into outcome: inout SyncOutcome,
        logger: Logger
    ) {
        let context = TraceFiles.Context(
            creator: creator, upstream: job.source.host ?? traceHost, info: job.traceInfo,
            trigger: job.trigger.map(DebianTrace.trigger), architecturesConfiguration: unfiltered ? "ALL" : nil,
            stage: job.stage)
        if let failure = trace.write(started: started, ended: clock.now(), outcome: outcome, context: context) {
            logger.warning("cannot write the trace file", metadata: ["error": "\(failure)"])
            outcome.message += "; the trace file was not written: \(failure)"
        }
    }

    /// A sync that builds a new revision beside the served one and publishes it whole (`publish: atomic`). A build
    /// that fails, is stopped, or would delete more than the cap allows is removed and nothing is published; no
    /// in-progress marker is needed, since the served tree never changes under a reader.
    func atomic(_ job: SyncJob, in tree: RevisionTree, provider: any SyncProvider, context: TransferContext) async
        -> SyncOutcome
    {
        let logger = context.logger
        for leftover in tree.removeLeftovers() {
            logger.notice("removed an unfinished revision", metadata: ["path": "\(leftover)"])
        }
        let base = tree.linkBase()
        let build: (serial: Int, directory: String)
        do throws(PublicationError) { build = try tree.startBuild() } catch {
            return SyncOutcome(result: .failed, reason: "publish", message: error.message)
        }
        var buildJob = job
        buildJob.destination = build.directory + "/"
        // The served tree says whether the tree is traced before the build has its trace directory.
        let unfiltered = job.exclude.isEmpty
        traced(&buildJob, traceFiles(job.destination, job))
        let trace = traceFiles(buildJob.destination, job)
        let started = clock.now()
        let building = buildJob
        var outcome = await timed(job) {
            await provider.transfer(building, into: .build(linkDest: base), context: context)
        }
        if outcome.result.isSuccess {
            writeTrace(trace, job: buildJob, unfiltered: unfiltered, started: started, into: &outcome, logger: logger)
            if let base { outcome = await held(outcome, job: job, base: base, build: build.directory) }
        }
        guard outcome.result.isSuccess else {
            await Self.remove(build.directory)
            outcome.message +=
                base == nil ? "; nothing was published" : "; nothing was published: the served revision is as it was"
            return outcome
        }
        let revision: RevisionTree.Revision
        let switching = ContinuousClock.now
        do throws(PublicationError) {
            revision = try tree.publish(build.directory, serial: build.serial, at: clock.now())
        } catch {
            await Self.remove(build.directory)
            return SyncOutcome(
                result: .failed, reason: "publish", message: error.message + "; the served revision is as it was")
        }
        // How long the switch took, for those who measure it (the atomic publication benchmark reads this line).
        logger.debug(
            "published a revision",
            metadata: ["revision": "\(revision.serial)", "seconds": "\((ContinuousClock.now - switching).inSeconds)"])
        outcome.message += "; published as revision \(revision.serial)"
        let pruning = ContinuousClock.now
        let pruned = tree.prune(keep: keepRevisions, grace: revisionGrace, now: clock.now())
        if !pruned.isEmpty {
            logger.info(
                "removed old revisions",
                metadata: [
                    "revisions": "\(pruned.joined(separator: ","))",
                    "seconds": "\((ContinuousClock.now - pruning).inSeconds)",
                ])
        }
        return outcome
    }

    /// The checks a sync in place makes between its passes, made on the built revision against the served one: an
    /// upstream that suddenly lists nothing, and the deletion cap. The files deleted are those of the served revision
    /// that the new one lacks.
    func held(_ built: SyncOutcome, job: SyncJob, base: String, build: String) async -> SyncOutcome {
        var outcome = built
        let (current, missing) = await Task.detached { Self.compare(base, build) }.value
        outcome.filesDeleted = missing
        outcome.message = outcome.message.replacingOccurrences(of: ", 0 deleted,", with: ", \(missing) deleted,")
        if (outcome.filesTotal ?? 0) <= 1, current > 1, let previous = job.previousFiles, previous > 1 {
            return SyncOutcome(
                result: .failed, reason: "empty-upstream",
                message: "the upstream lists no files where the tree held \(previous)",
                filesTransferred: built.filesTransferred, bytesTransferred: built.bytesTransferred, filesDeleted: 0,
                filesTotal: built.filesTotal, stderrTail: built.stderrTail)
        }
        let limit = job.deletionLimit(currentFiles: current)
        if missing > limit {
            let basis =
                job.previousFiles.map { "of the \($0) files it held after its last sync" }
                ?? "of the \(current) files it holds"
            return SyncOutcome(
                result: .failed, reason: "deletion-cap",
                message:
                    "the upstream would delete \(missing) files \(basis), more than maxDelete \(job.maxDelete) allows (\(limit))",
                filesTransferred: built.filesTransferred, bytesTransferred: built.bytesTransferred, filesDeleted: 0,
                filesTotal: built.filesTotal, stderrTail: built.stderrTail)
        }
        return outcome
    }

    /// How many entries other than directories `old` holds, and how many of them `new` lacks.
    static func compare(_ old: String, _ new: String) -> (files: Int, missing: Int) {
        guard let walker = FileManager.default.enumerator(atPath: old) else { return (0, 0) }
        var files = 0
        var missing = 0
        var info = stat()
        while let relative = walker.nextObject() as? String {
            guard lstat(old + "/" + relative, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
            files += 1
            if lstat(new + "/" + relative, &info) != 0 { missing += 1 }
        }
        return (files, missing)
    }

    /// Deletes a directory tree off the caller's executor.
    static func remove(_ directory: String) async {
        await Task.detached { _ = try? FileManager.default.removeItem(atPath: directory) }.value
    }

    /// Removes the `.~tmp~` directories in which `--delay-updates` holds files until the end of a run; returns how many.
    /// Off the caller's executor: a large tree takes a while to walk.
    static func removeHoldingDirectories(under root: String) async -> Int {
        await Task.detached {
            guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
            var found: [String] = []
            while let relative = walker.nextObject() as? String {
                guard (relative as NSString).lastPathComponent == ".~tmp~" else { continue }
                found.append(root + "/" + relative)
                walker.skipDescendants()
            }
            return found.filter { (try? FileManager.default.removeItem(atPath: $0)) != nil }.count
        }.value
    }

    /// `work` (the transfer in place, or a revision's build), within the job's timeout.
    func timed(_ job: SyncJob, _ work: @escaping @Sendable () async -> SyncOutcome) async -> SyncOutcome {
        let deadline = clock.now().addingTimeInterval(TimeInterval(job.timeout.seconds))
        do {
            return try await withThrowingTaskGroup(of: SyncOutcome.self) { group in
                group.addTask { await work() }
                group.addTask {
                    try await self.clock.sleep(until: deadline)
                    throw Stop.timedOut
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch Stop.timedOut {
            return SyncOutcome(
                result: .failed, reason: "timeout",
                message: "the run took longer than its timeout of \(job.timeout); the transfer was stopped")
        } catch {
            return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped")
        }
    }
}
