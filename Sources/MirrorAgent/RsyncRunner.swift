import Foundation
import Logging
import MirrorCore
import MirrorProcess
import Subprocess
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs jobs with the real rsync, through swift-subprocess: an argv array, never a shell; output streamed and
/// drained as it comes, written through to the run's log (`RunActivity`) and read for its progress, keeping in memory
/// only the statistics and the last lines of standard error; the whole process group ended (SIGTERM, then SIGKILL)
/// when a run is cancelled or times out.
public struct RsyncRunner: SyncRunner {
    public var executable: String
    public var clock: any AgentClock
    public var stderrTailLines: Int
    /// How long rsync gets to end after SIGTERM before SIGKILL.
    public var terminationGrace: Duration
    /// Where the site's credential comes from, for jobs whose source is the master's module (a slave's).
    public var siteCredentials: (any SiteCredentials)?
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

    public init(executable: String = "rsync", clock: any AgentClock = SystemClock(), stderrTailLines: Int = 20,
                terminationGrace: Duration = .seconds(5), siteCredentials: (any SiteCredentials)? = nil, host: String = "this host",
                bounds: PathBounds? = nil, traceHost: String? = nil, creator: String = "mirrorsync") {
        self.bounds = bounds
        self.traceHost = traceHost ?? TraceFiles.machineName()
        self.creator = creator
        self.executable = executable
        self.clock = clock
        self.stderrTailLines = stderrTailLines
        self.terminationGrace = terminationGrace
        self.siteCredentials = siteCredentials
        self.host = host
    }

    /// One rsync process, as it ended.
    struct Invocation {
        var exitCode: Int?
        var signal: Int32?
        var report = RsyncReport()
        var stderrTail: [String] = []
        var spawnError: String?
        /// How long the process ran.
        var seconds: Double = 0
    }

    enum Stop: Error { case timedOut }

    /// Runs `job`, writing rsync's output to `activity`'s log and its progress to `activity`.
    public func run(_ job: SyncJob, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        var projectLogger = logger
        projectLogger[metadataKey: "project"] = "\(job.project)"
        let logger = projectLogger
        if let refusal = bounds?.check(job) {
            return SyncOutcome(result: .failed, reason: "forbidden-path", message: "nothing was synced: \(refusal.message)")
        }
        // A spec stored before the policy narrowed (`--copy-links` was once allowed) is held to today's policy.
        for option in job.rsyncOptions {
            do throws(ValueError) { try RsyncPolicy.checkOption(option) } catch {
                return SyncOutcome(result: .failed, reason: "forbidden-option", message: "nothing was synced: \(error.message)")
            }
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
        let directory = job.publish == .atomic ? (revisions.link as NSString).deletingLastPathComponent : job.destination
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return SyncOutcome(result: .failed, reason: "destination", message: "cannot create \(directory): \(error.localizedDescription)")
        }
        var job = job
        var password: String?
        switch job.credential {
        case .none: break
        case .passwordFile(let file):
            do throws(SecretRefusal) {
                password = try (bounds?.secrets(root: job.root) ?? SecretFileRules()).read(file, field: "passwordFile")
            } catch {
                // The run's message is read through the API: what the file system said goes to the log alone.
                logger.error("the passwordFile is refused", metadata: ["file": "\(file)", "why": "\(error.detail ?? error.reason)"])
                return SyncOutcome(result: .failed, reason: "password-file", message: "nothing was synced: \(error.message)")
            }
        case .site(let masterAPI):
            guard let masterAPI, let siteCredentials else {
                return SyncOutcome(result: .failed, reason: "credential",
                                   message: "the project is pulled with the site's credential, but this agent has no master to get it from")
            }
            do throws(PeerError) {
                let credential = try await siteCredentials.credential(from: masterAPI)
                password = credential.password
                job.source = RsyncArguments.source(job.source, user: credential.user)
            } catch {
                return SyncOutcome(result: .failed, reason: "credential",
                                   message: "cannot get the rsync credential from the master: \(error.message)", retryable: true)
            }
        }
        var outcome = job.publish == .atomic ? await atomic(job, in: revisions, password: password, activity: activity, logger: logger)
            : await inPlace(job, password: password, activity: activity, logger: logger)
        // The master's daemon refused the site's credential: say so, and ask the master again before the next pull.
        if case .site = job.credential, outcome.result == .failed,
           let refusal = outcome.stderrTail.last(where: { $0.contains("auth failed") }) {
            await siteCredentials?.forget()
            outcome.reason = "credential-refused"
            outcome.message = "the master's rsync daemon refused this slave's credential (\(refusal)); the slave fetches it "
                + "again from the master before its next pull"
            outcome.retryable = false
        }
        // A full disk does not empty itself in the minutes a retry waits: fail now, and take back the space rsync's
        // unfinished files hold, or they would fill the disk for the next try.
        if outcome.result == .failed, let full = outcome.stderrTail.last(where: { $0.contains("No space left on device") }) {
            let freed = await Self.removeHoldingDirectories(under: job.destination)
            outcome.reason = "no-space"
            let tree = job.destination.hasSuffix("/") && job.destination.count > 1 ? String(job.destination.dropLast()) : job.destination
            outcome.message = "no space left on device in \(host)'s tree \(tree) (\(full)); every file it served is kept"
                + (freed > 0 ? ", and rsync's \(freed) unfinished holding director\(freed == 1 ? "y was" : "ies were") removed" : "")
            outcome.retryable = false
        }
        return outcome
    }

    /// A sync into the served tree, where it stands.
    func inPlace(_ job: SyncJob, password: String?, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        var job = job
        // A traced tree: rsync leaves this host's trace files and every in-progress marker alone, and the marker says a
        // sync runs until the trace is written (or the run has ended some other way).
        let trace = TraceFiles(tree: job.destination, host: traceHost, setting: job.trace)
        if job.trace != false { job.exclude += DebianTrace.protectedPatterns(host: traceHost) }
        trace.markStart(logger: logger)
        defer { trace.markEnd(logger: logger) }
        let started = clock.now()
        let synced = job
        var outcome = await timed(job) { await self.passes(synced, password: password, activity: activity, logger: logger) }
        // A first stage leaves the tree at the revision before, index files and all: its trace is written by the second.
        if outcome.result.isSuccess, job.stage != .first { writeTrace(trace, job: job, started: started, into: &outcome, logger: logger) }
        return outcome
    }

    func writeTrace(_ trace: TraceFiles, job: SyncJob, started: Date, into outcome: inout SyncOutcome, logger: Logger) {
        let upstream = DebianTrace.upstreamHost(of: job.source) ?? traceHost
        if let failure = trace.write(started: started, ended: clock.now(), creator: creator, upstream: upstream, outcome: outcome) {
            logger.warning("cannot write the trace file", metadata: ["error": "\(failure)"])
            outcome.message += "; the trace file was not written: \(failure)"
        }
    }

    /// A sync that builds a new revision beside the served one and publishes it whole (`publish: atomic`). A build
    /// that fails, is stopped, or would delete more than the cap allows is removed and nothing is published; no
    /// in-progress marker is needed, since the served tree never changes under a reader.
    func atomic(_ job: SyncJob, in tree: RevisionTree, password: String?, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        for leftover in tree.removeLeftovers() { logger.notice("removed an unfinished revision", metadata: ["path": "\(leftover)"]) }
        let base = tree.linkBase()
        let build: (serial: Int, directory: String)
        do throws(PublicationError) { build = try tree.startBuild() } catch {
            return SyncOutcome(result: .failed, reason: "publish", message: error.message)
        }
        var buildJob = job
        buildJob.destination = build.directory + "/"
        let trace = TraceFiles(tree: buildJob.destination, host: traceHost, setting: job.trace)
        if job.trace != false { buildJob.exclude += DebianTrace.protectedPatterns(host: traceHost) }
        let started = clock.now()
        let building = buildJob
        var outcome = await timed(job) { await self.build(building, linkDest: base, password: password, activity: activity, logger: logger) }
        if outcome.result.isSuccess {
            writeTrace(trace, job: buildJob, started: started, into: &outcome, logger: logger)
            if let base { outcome = await held(outcome, job: job, base: base, build: build.directory) }
        }
        guard outcome.result.isSuccess else {
            await Self.remove(build.directory)
            outcome.message += base == nil ? "; nothing was published" : "; nothing was published: the served revision is as it was"
            return outcome
        }
        let revision: RevisionTree.Revision
        let switching = ContinuousClock.now
        do throws(PublicationError) { revision = try tree.publish(build.directory, serial: build.serial, at: clock.now()) } catch {
            await Self.remove(build.directory)
            return SyncOutcome(result: .failed, reason: "publish", message: error.message + "; the served revision is as it was")
        }
        // How long the switch took, for those who measure it (the atomic publication benchmark reads this line).
        logger.debug("published a revision", metadata: ["revision": "\(revision.serial)", "seconds": "\((ContinuousClock.now - switching).inSeconds)"])
        outcome.message += "; published as revision \(revision.serial)"
        let pruning = ContinuousClock.now
        let pruned = tree.prune(keep: keepRevisions, grace: revisionGrace, now: clock.now())
        if !pruned.isEmpty {
            logger.info("removed old revisions", metadata: ["revisions": "\(pruned.joined(separator: ","))",
                                                            "seconds": "\((ContinuousClock.now - pruning).inSeconds)"])
        }
        return outcome
    }

    /// One pass into the new revision's empty directory, the unchanged files hard-linked from `linkDest`.
    func build(_ job: SyncJob, linkDest: String?, password: String?, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        let pass = await invoke(RsyncArguments.arguments(for: job, pass: .build(linkDest: linkDest)), password: password, activity: activity, pass: 1, logger: logger)
        if let failure = failure(of: pass, pass: "build", allowing: [0, 24]) { return failure }
        let warnings = pass.exitCode == 24 ? ["files vanished on the upstream while they were copied"] : []
        return outcome(job, first: pass, second: nil, warnings: warnings)
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
            return SyncOutcome(result: .failed, reason: "empty-upstream", message: "the upstream lists no files where the tree held \(previous)",
                               filesTransferred: built.filesTransferred, bytesTransferred: built.bytesTransferred, filesDeleted: 0,
                               filesTotal: built.filesTotal, stderrTail: built.stderrTail)
        }
        let limit = job.deletionLimit(currentFiles: current)
        if missing > limit {
            let basis = job.previousFiles.map { "of the \($0) files it held after its last sync" } ?? "of the \(current) files it holds"
            return SyncOutcome(result: .failed, reason: "deletion-cap",
                               message: "the upstream would delete \(missing) files \(basis), more than maxDelete \(job.maxDelete) allows (\(limit))",
                               filesTransferred: built.filesTransferred, bytesTransferred: built.bytesTransferred, filesDeleted: 0,
                               filesTotal: built.filesTotal, stderrTail: built.stderrTail)
        }
        return outcome
    }

    /// How many entries other than directories `old` holds, and how many of them `new` lacks.
    static func compare(_ old: String, _ new: String) -> (files: Int, missing: Int) {
        guard let walker = FileManager.default.enumerator(atPath: old) else { return (0, 0) }
        var files = 0, missing = 0
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

    /// `work` (the passes, or a revision's build), within the job's timeout.
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
            return SyncOutcome(result: .failed, reason: "timeout",
                               message: "the run took longer than its timeout of \(job.timeout); rsync was stopped")
        } catch {
            return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped")
        }
    }

    /// The first pass, the checks between the passes, and the second pass when there is one.
    func passes(_ job: SyncJob, password: String?, activity: RunActivity? = nil, logger: Logger) async -> SyncOutcome {
        if case .second(let limit) = job.stage {
            return await secondPass(job, .second(maxDelete: limit), limit: limit, after: nil, warnings: [], password: password,
                                    activity: activity, logger: logger)
        }
        let first = await invoke(RsyncArguments.arguments(for: job, pass: .first), password: password, activity: activity, pass: 1, logger: logger)
        // A directory the upstream changed into a file or a link is replaced by deleting what it holds, which the first
        // pass may not do: rsync counts those deletions and ends with 23. The second pass, held to the cap, makes the
        // change, as it makes every other deletion; anything else that went wrong fails that pass in turn.
        let typeChanges = first.report.heldForTheCap(exitCode: first.exitCode)
        if let failure = failure(of: first, pass: "first", allowing: typeChanges ? [0, 23, 24, 25] : [0, 24, 25]) { return failure }
        let report = first.report
        let warnings = first.exitCode == 24 ? ["files vanished on the upstream while they were copied"] : []
        let pending = first.exitCode == 25 || typeChanges ? (report.deletionsSkipped ?? 0) : 0

        // An upstream that suddenly lists no files is broken, not emptied on purpose: keep every file.
        if let regular = report.regularFiles, regular == 0, let previous = job.previousFiles, previous > 1 {
            return SyncOutcome(result: .failed, exitCode: first.exitCode, reason: "empty-upstream",
                               message: "the upstream lists no files where the tree held \(previous); nothing was deleted",
                               filesTransferred: report.filesTransferred, bytesTransferred: report.bytesTransferred, filesDeleted: 0,
                               filesTotal: report.filesTotal, stderrTail: first.stderrTail)
        }
        let current = (report.filesTotal ?? 0) + pending
        let limit = job.deletionLimit(currentFiles: current)
        if pending > limit {
            let base = job.previousFiles.map { "of the \($0) files it held after its last sync" } ?? "of about \(current) files"
            return SyncOutcome(result: .failed, exitCode: first.exitCode, reason: "deletion-cap",
                               message: "the upstream would delete \(pending) files \(base), more than maxDelete \(job.maxDelete) allows (\(limit)); nothing was deleted",
                               filesTransferred: report.filesTransferred, bytesTransferred: report.bytesTransferred, filesDeleted: 0,
                               filesTotal: report.filesTotal, stderrTail: first.stderrTail)
        }
        // A first stage ends here, whatever it found: the master says when the second runs.
        if job.stage == .first {
            var staged = outcome(job, first: first, second: nil, warnings: warnings)
            staged.message = "stage 1 of 2: " + staged.message + "; \(pending) to delete and the index files wait for stage 2"
            staged.deletionLimit = limit
            return staged
        }
        guard let pass = RsyncArguments.secondPass(for: job, pendingDeletions: pending, limit: limit) else {
            return outcome(job, first: first, second: nil, warnings: warnings)
        }
        if Task.isCancelled { return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped") }
        return await secondPass(job, pass, limit: limit, after: first, warnings: warnings, password: password, activity: activity, logger: logger)
    }

    /// The second pass, held to `limit` deletions: after `first` in the same run, or alone as a slave's second stage
    /// (the whole tree then: the tree's totals need a pass that listed all of it).
    func secondPass(_ job: SyncJob, _ pass: RsyncArguments.Pass, limit: Int, after first: Invocation?, warnings: [String], password: String?,
                    activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        var warnings = warnings
        // Held to the limit again, in case the upstream changed between the passes.
        let second = await invoke(RsyncArguments.arguments(for: job, pass: pass), password: password,
                                  activity: activity, pass: first == nil ? 1 : 2, logger: logger)
        if second.exitCode == 25 || second.report.heldForTheCap(exitCode: second.exitCode) {
            return SyncOutcome(result: .failed, exitCode: second.exitCode, reason: "deletion-cap",
                               message: "the upstream changed between the passes and would delete more than maxDelete \(job.maxDelete) allows (\(limit)); \(second.report.filesDeleted ?? 0) files were deleted, \(second.report.deletionsSkipped ?? 0) kept",
                               filesDeleted: second.report.filesDeleted, filesTotal: second.report.filesTotal, stderrTail: second.stderrTail)
        }
        if let failure = failure(of: second, pass: "second", allowing: [0, 24]) { return failure }
        if second.exitCode == 24 { warnings.append("files vanished on the upstream while they were copied") }
        var outcome = outcome(job, first: first, second: second, warnings: warnings)
        if first == nil { outcome.message = "stage 2 of 2: " + outcome.message }
        return outcome
    }

    /// A run's outcome from its passes: `first` is absent in a slave's second stage, `second` when one pass sufficed.
    func outcome(_ job: SyncJob, first: Invocation?, second: Invocation?, warnings: [String]) -> SyncOutcome {
        let passes = [first, second].compactMap { $0 }
        let last = passes[passes.count - 1]
        let transferred = passes.map { $0.report.filesTransferred ?? 0 }.reduce(0, +)
        let bytes = passes.map { $0.report.bytesTransferred ?? 0 }.reduce(0, +)
        let deleted = second?.report.filesDeleted ?? 0
        let filesTotal = last.report.filesTotal, bytesTotal = last.report.bytesTotal
        var message = "\(transferred) files (\(bytes) bytes) copied, \(deleted) deleted, \(filesTotal ?? 0) in the tree"
        if !warnings.isEmpty { message += "; " + Set(warnings).sorted().joined(separator: "; ") }
        var outcome = SyncOutcome(result: warnings.isEmpty ? .success : .warning, exitCode: last.exitCode,
                           reason: warnings.isEmpty ? nil : "vanished-files", message: message, filesTransferred: transferred,
                           bytesTransferred: bytes, filesDeleted: deleted, filesTotal: filesTotal,
                           bytesTotal: bytesTotal, stderrTail: last.stderrTail)
        outcome.passSeconds = passes.map(\.seconds)
        outcome.bytesReceived = passes.compactMap(\.report.bytesReceived).reduce(0, +)
        return outcome
    }

    /// A pass that did not end with one of `allowing` is a failure that says what rsync meant, and why.
    func failure(of invocation: Invocation, pass: String, allowing: Set<Int>) -> SyncOutcome? {
        if let spawnError = invocation.spawnError {
            return SyncOutcome(result: .failed, reason: "spawn", message: spawnError)
        }
        if Task.isCancelled {
            return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped", stderrTail: invocation.stderrTail)
        }
        guard let code = invocation.exitCode else {
            return SyncOutcome(result: .failed, reason: "signal", message: "rsync was killed by signal \(invocation.signal ?? 0) in the \(pass) pass",
                               stderrTail: invocation.stderrTail, retryable: true)
        }
        if allowing.contains(code) { return nil }
        // rsync's own words name the cause: "@ERROR: auth failed", "failed to connect to ...: Connection refused (111)",
        // "[receiver] read error: Connection timed out (110)", "[generator] io timeout after 600 seconds -- exiting".
        // The first system error is the cause: what its sibling processes say after it ("connection unexpectedly closed",
        // "Broken pipe", "received SIGUSR1") is only them finding it gone.
        let said = invocation.stderrTail.filter { !$0.contains("received SIGUSR1") }
        let cause = said.last { $0.hasPrefix("@ERROR") } ?? said.first { $0.hasPrefix("rsync:") && Self.namesSystemError($0) }
            ?? said.last { $0.hasPrefix("rsync:") } ?? said.last { $0.hasPrefix("[") } ?? said.last
        var message = "rsync exited with \(code) (\(RsyncExit.meaning(code))) in the \(pass) pass"
        if let cause { message += ": \(cause)" }
        return SyncOutcome(result: .failed, exitCode: code, reason: "rsync-exit-\(code)", message: message,
                           filesTransferred: invocation.report.filesTransferred, bytesTransferred: invocation.report.bytesTransferred,
                           filesTotal: invocation.report.filesTotal, stderrTail: invocation.stderrTail,
                           retryable: RsyncExit.isRetryable(code))
    }

    /// Whether one of rsync's lines ends with a system error's number, as in `...: Connection timed out (110)`.
    static func namesSystemError(_ line: String) -> Bool {
        guard line.hasSuffix(")"), let open = line.lastIndex(of: "(") else { return false }
        let number = line[line.index(after: open)..<line.index(before: line.endIndex)]
        return !number.isEmpty && number.allSatisfy(\.isNumber)
    }

    /// Runs rsync once, draining both of its outputs as they come, through to `activity`'s log.
    func invoke(_ arguments: [String], password: String?, activity: RunActivity? = nil, pass: Int = 1, logger: Logger) async -> Invocation {
        var platform = PlatformOptions()
        // rsync and anything it starts get a process group of their own, so that a teardown reaches them all.
        platform.processGroupID = 0
        platform.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: terminationGrace)]
        let options = platform
        // The password goes to this process alone, never through state that concurrent runs share.
        let environment = Environment.inherit.updating(["RSYNC_PASSWORD": password, "LC_ALL": "C"])
        logger.debug("rsync starts", metadata: ["arguments": "\(arguments.joined(separator: " "))"])
        activity?.note("pass \(pass): \(self.executable) \(arguments.joined(separator: " "))")
        let tailLimit = stderrTailLines
        // Cancellation reaches rsync as signals to its process group (SIGTERM, then SIGKILL after the grace),
        // sent by this runner, which always knows the pid: the subprocess's own task is never cancelled, because
        // swift-subprocess can lose a cancellation that arrives while rsync is being spawned.
        let group = ProcessGroupStopper(grace: terminationGrace)
        guard !Task.isCancelled else { return Invocation() }
        let began = ContinuousClock.now
        let executable = self.executable
        do {
            var invocation = try await withTaskCancellationHandler {
                try await Task {
                    let result = try await Subprocess.run(
                        .name(executable), arguments: Arguments(arguments), environment: environment, platformOptions: options,
                        input: .none, output: .sequence, error: .sequence
                    ) { execution in
                        group.started(execution.processIdentifier.value)
                        // Standard output (a line per file with --itemize-changes, the progress, the statistics) is drained
                        // in whole buffers, written through to the log a buffer at a time, and read for its progress and
                        // statistics; nothing of it is kept.
                        async let stdout: RsyncReport = {
                            var output = RsyncOutput(pass: pass)
                            func hand(_ taken: (log: [UInt8], progressed: Bool)) {
                                activity?.write(taken.log)
                                if taken.progressed, let progress = output.progress { activity?.update(progress) }
                            }
                            for try await buffer in execution.standardOutput {
                                hand(buffer.withUnsafeBytes { output.take($0) })
                            }
                            hand(output.finish())
                            return output.report
                        }()
                        async let stderr: (RsyncReport, [String]) = {
                            var report = RsyncReport()
                            var tail: [String] = []
                            for try await line in execution.standardError.strings() {
                                activity?.write(Array((line + "\n").utf8))
                                report.read(Substring(line))
                                tail.append(line)
                                if tail.count > tailLimit { tail.removeFirst(tail.count - tailLimit) }
                            }
                            return (report, tail)
                        }()
                        return try await (stdout, stderr)
                    }
                    var invocation = Invocation()
                    let (out, (err, tail)) = result.closureResult
                    invocation.report = out
                    if let skipped = err.deletionsSkipped { invocation.report.deletionsSkipped = skipped }
                    invocation.report.typeChangesHeld += err.typeChangesHeld
                    invocation.stderrTail = tail
                    switch result.terminationStatus {
                    case .exited(let code): invocation.exitCode = Int(code)
                    case .signaled(let signal): invocation.signal = Int32(signal)
                    }
                    return invocation
                }.value
            } onCancel: {
                group.stop()
            }
            await group.waitForGroup()
            invocation.seconds = (ContinuousClock.now - began).inSeconds
            logger.debug("rsync ended", metadata: ["exit": "\(invocation.exitCode.map(String.init) ?? "signal \(invocation.signal ?? 0)")"])
            return invocation
        } catch {
            await group.waitForGroup()
            var invocation = Invocation()
            if Task.isCancelled { return invocation }
            invocation.spawnError = "cannot run \(executable): \(error)"
            return invocation
        }
    }
}
