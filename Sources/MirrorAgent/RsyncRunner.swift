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
public struct RsyncRunner: ReportingSyncRunner {
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

    public func run(_ job: SyncJob, logger: Logger) async -> SyncOutcome {
        await run(job, activity: nil, logger: logger)
    }

    /// Runs `job`, writing rsync's output to `activity`'s log and its progress to `activity`.
    public func run(_ job: SyncJob, activity: RunActivity?, logger: Logger) async -> SyncOutcome {
        var projectLogger = logger
        projectLogger[metadataKey: "project"] = "\(job.project)"
        let logger = projectLogger
        if let refusal = bounds?.check(job) {
            return SyncOutcome(result: .failed, reason: "forbidden-path", message: "nothing was synced: \(refusal.message)")
        }
        do {
            try FileManager.default.createDirectory(atPath: job.destination, withIntermediateDirectories: true)
        } catch {
            return SyncOutcome(result: .failed, reason: "destination", message: "cannot create \(job.destination): \(error.localizedDescription)")
        }
        var job = job
        var password: String?
        switch job.credential {
        case .none: break
        case .passwordFile(let file):
            do throws(ValueError) {
                let bytes = try DesiredStateLoader.readFile(file)
                password = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
            } catch {
                return SyncOutcome(result: .failed, reason: "password-file", message: "cannot read the passwordFile \(file): \(error.message)")
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
        // A traced tree: rsync leaves this host's trace files and every in-progress marker alone, and the marker says a
        // sync runs until the trace is written (or the run has ended some other way).
        let trace = TraceFiles(tree: job.destination, host: traceHost, setting: job.trace)
        if job.trace != false { job.exclude += DebianTrace.protectedPatterns(host: traceHost) }
        trace.markStart(logger: logger)
        defer { trace.markEnd(logger: logger) }
        let started = clock.now()
        var outcome = await timed(job, password: password, activity: activity, logger: logger)
        if outcome.result.isSuccess {
            let upstream = DebianTrace.upstreamHost(of: job.source) ?? traceHost
            if let failure = trace.write(started: started, ended: clock.now(), creator: creator, upstream: upstream, outcome: outcome) {
                logger.warning("cannot write the trace file", metadata: ["error": "\(failure)"])
                outcome.message += "; the trace file was not written: \(failure)"
            }
        }
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

    /// Both passes, within the job's timeout.
    func timed(_ job: SyncJob, password: String?, activity: RunActivity? = nil, logger: Logger) async -> SyncOutcome {
        let deadline = clock.now().addingTimeInterval(TimeInterval(job.timeout.seconds))
        let secret = password
        do {
            return try await withThrowingTaskGroup(of: SyncOutcome.self) { group in
                group.addTask { await self.passes(job, password: secret, activity: activity, logger: logger) }
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
        let first = await invoke(RsyncArguments.arguments(for: job, pass: .first), password: password, activity: activity, pass: 1, logger: logger)
        if let failure = failure(of: first, pass: "first", allowing: [0, 24, 25]) { return failure }
        let report = first.report
        var warnings = first.exitCode == 24 ? ["files vanished on the upstream while they were copied"] : []
        let pending = first.exitCode == 25 ? (report.deletionsSkipped ?? 0) : 0

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
        guard pending > 0 || !job.twoStage.isEmpty else {
            return outcome(job, first: first, second: nil, warnings: warnings)
        }
        if Task.isCancelled { return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped") }
        // Held to the limit again, in case the upstream changed between the passes.
        let second = await invoke(RsyncArguments.arguments(for: job, pass: .second(maxDelete: limit)), password: password,
                                  activity: activity, pass: 2, logger: logger)
        if second.exitCode == 25 {
            return SyncOutcome(result: .failed, exitCode: 25, reason: "deletion-cap",
                               message: "the upstream changed between the passes and would delete more than maxDelete \(job.maxDelete) allows (\(limit)); \(second.report.filesDeleted ?? 0) files were deleted, \(second.report.deletionsSkipped ?? 0) kept",
                               filesDeleted: second.report.filesDeleted, filesTotal: second.report.filesTotal, stderrTail: second.stderrTail)
        }
        if let failure = failure(of: second, pass: "second", allowing: [0, 24]) { return failure }
        if second.exitCode == 24 { warnings.append("files vanished on the upstream while they were copied") }
        return outcome(job, first: first, second: second, warnings: warnings)
    }

    func outcome(_ job: SyncJob, first: Invocation, second: Invocation?, warnings: [String]) -> SyncOutcome {
        let last = second ?? first
        let transferred = (first.report.filesTransferred ?? 0) + (second?.report.filesTransferred ?? 0)
        let bytes = (first.report.bytesTransferred ?? 0) + (second?.report.bytesTransferred ?? 0)
        let deleted = second?.report.filesDeleted ?? 0
        var message = "\(transferred) files (\(bytes) bytes) copied, \(deleted) deleted, \(last.report.filesTotal ?? 0) in the tree"
        if !warnings.isEmpty { message += "; " + Set(warnings).sorted().joined(separator: "; ") }
        var outcome = SyncOutcome(result: warnings.isEmpty ? .success : .warning, exitCode: last.exitCode,
                           reason: warnings.isEmpty ? nil : "vanished-files", message: message, filesTransferred: transferred,
                           bytesTransferred: bytes, filesDeleted: deleted, filesTotal: last.report.filesTotal,
                           bytesTotal: last.report.bytesTotal, stderrTail: last.stderrTail)
        let passes = [first] + (second.map { [$0] } ?? [])
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
