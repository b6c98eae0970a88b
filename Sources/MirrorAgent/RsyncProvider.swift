import Foundation
import Logging
import MirrorCore
import MirrorProcess
import Subprocess
import Synchronization

/// Brings trees with the real rsync, from an rsync upstream or, on a slave, from the master's module: through
/// swift-subprocess (an argv array, never a shell), its output streamed and drained as it comes, written through to
/// the run's log (`RunActivity`) and read for its progress, keeping in memory only the statistics and the last lines
/// of standard error; the whole process group ended (SIGTERM, then SIGKILL) when a run is cancelled or times out.
///
/// In place, a sync is rsync's two passes (`RsyncArguments`): the first counts deletions and the cap is checked
/// between them. A revision is built in one pass with `--link-dest`.
public struct RsyncProvider: SyncProvider {
    public var executable: String
    public var stderrTailLines: Int
    /// How long rsync gets to end after SIGTERM before SIGKILL.
    public var terminationGrace: Duration
    /// Where the site's credential comes from, for jobs whose source is the master's module (a slave's).
    public var siteCredentials: (any SiteCredentials)?
    /// Where a slave's pulls get the master's change lists (RsyncProvider+Listed.swift); nil walks every time.
    public var changeFeed: (any ChangeFeed)?

    public init(
        executable: String = "rsync", stderrTailLines: Int = 20, terminationGrace: Duration = .seconds(5),
        siteCredentials: (any SiteCredentials)? = nil, changeFeed: (any ChangeFeed)? = nil
    ) {
        self.executable = executable
        self.stderrTailLines = stderrTailLines
        self.terminationGrace = terminationGrace
        self.siteCredentials = siteCredentials
        self.changeFeed = changeFeed
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
        /// The kernel stopped it at the job's memory limit.
        var memoryFailure: SyncOutcome?
    }

    public func accepts(_ source: SyncSource) -> Bool {
        switch source {
        case .rsync, .masterModule: true
        case .command: false
        }
    }

    public func transfer(_ job: SyncJob, into mode: TransferMode, context: TransferContext) async -> SyncOutcome {
        let logger = context.logger
        // A spec stored before the policy narrowed (`--copy-links` was once allowed) is held to today's policy.
        for option in job.rsyncOptions {
            do throws(ValueError) { try RsyncPolicy.checkOption(option) } catch {
                return SyncOutcome(
                    result: .failed, reason: "forbidden-option", message: "nothing was synced: \(error.message)")
            }
        }
        let resolved: (job: SyncJob, password: String?)
        switch await resolve(job, context: context) {
        case .failure(let failure): return failure.outcome
        case .success(let value): resolved = value
        }
        let (job, password) = resolved
        var waited: UpstreamWait?
        if let busy = job.upstreamBusy {
            switch await waitForUpstream(job, busy, password: password, context: context) {
            case .failure(let failure): return failure.outcome
            case .success(let wait): waited = wait
            }
        }
        var outcome: SyncOutcome
        if case .masterModule(_, let masterAPI?) = job.source, let changeFeed {
            outcome = await pull(job, into: mode, password: password, masterAPI: masterAPI, feed: changeFeed, context)
        } else {
            outcome = await walk(job, into: mode, password: password, context)
        }
        // The master's daemon refused the site's credential: say so, and ask the master again before the next pull.
        if case .masterModule = job.source, outcome.result == .failed,
            let refusal = outcome.stderrTail.last(where: { $0.contains("auth failed") })
        {
            await siteCredentials?.forget()
            outcome.reason = "credential-refused"
            outcome.message =
                "the master's rsync daemon refused this slave's credential (\(refusal)); the slave fetches it "
                + "again from the master before its next pull"
            outcome.retryable = false
        }
        if let waited, waited.retries > 0 { outcome.message += "; " + waited.summary }
        return outcome
    }

    /// The whole tree: in place, rsync's passes; building, one pass against the served revision.
    func walk(_ job: SyncJob, into mode: TransferMode, password: String?, _ context: TransferContext) async
        -> SyncOutcome
    {
        switch mode {
        case .inPlace:
            return await passes(job, password: password, activity: context.activity, logger: context.logger)
        case .build(let linkDest):
            return await build(
                job, linkDest: linkDest, password: password, activity: context.activity, logger: context.logger)
        }
    }

    /// One pass into the new revision's empty directory, the unchanged files hard-linked from `linkDest`.
    func build(_ job: SyncJob, linkDest: String?, password: String?, activity: RunActivity?, logger: Logger) async
        -> SyncOutcome
    {
        let pass = await invoke(
            RsyncArguments.arguments(for: job, pass: .build(linkDest: linkDest)), password: password,
            activity: activity, pass: 1, limits: job, logger: logger)
        if let failure = failure(of: pass, pass: "build", allowing: [0, 24]) { return failure }
        let warnings = pass.exitCode == 24 ? ["files vanished on the upstream while they were copied"] : []
        return outcome(job, first: pass, second: nil, warnings: warnings)
    }

    /// The first pass, the checks between the passes, and the second pass when there is one.
    func passes(_ job: SyncJob, password: String?, activity: RunActivity? = nil, logger: Logger) async -> SyncOutcome {
        if case .second(let limit) = job.stage {
            return await secondPass(
                job, .second(maxDelete: limit), limit: limit, after: nil, warnings: [], password: password,
                activity: activity, logger: logger)
        }
        let first = await invoke(
            RsyncArguments.arguments(for: job, pass: .first), password: password, activity: activity, pass: 1,
            limits: job, logger: logger)
        // A directory the upstream changed into a file or a link is replaced by deleting what it holds, which the first
        // pass may not do: rsync counts those deletions and ends with 23. The second pass, held to the cap, makes the
        // change, as it makes every other deletion; anything else that went wrong fails that pass in turn.
        let typeChanges = first.report.heldForTheCap(exitCode: first.exitCode)
        if let failure = failure(of: first, pass: "first", allowing: typeChanges ? [0, 23, 24, 25] : [0, 24, 25]) {
            return failure
        }
        let report = first.report
        let warnings = first.exitCode == 24 ? ["files vanished on the upstream while they were copied"] : []
        let pending = first.exitCode == 25 || typeChanges ? (report.deletionsSkipped ?? 0) : 0

        // An upstream that suddenly lists no files is broken, not emptied on purpose: keep every file.
        if let regular = report.regularFiles, regular == 0, let previous = job.previousFiles, previous > 1 {
            return SyncOutcome(
                result: .failed, exitCode: first.exitCode, reason: "empty-upstream",
                message: "the upstream lists no files where the tree held \(previous); nothing was deleted",
                filesTransferred: report.filesTransferred, bytesTransferred: report.bytesTransferred, filesDeleted: 0,
                filesTotal: report.filesTotal, stderrTail: first.stderrTail)
        }
        let current = (report.filesTotal ?? 0) + pending
        let limit = job.deletionLimit(currentFiles: current)
        if pending > limit {
            let base =
                job.previousFiles.map { "of the \($0) files it held after its last sync" }
                ?? "of about \(current) files"
            return SyncOutcome(
                result: .failed, exitCode: first.exitCode, reason: "deletion-cap",
                message:
                    "the upstream would delete \(pending) files \(base), more than maxDelete \(job.maxDelete) allows (\(limit)); nothing was deleted",
                filesTransferred: report.filesTransferred, bytesTransferred: report.bytesTransferred, filesDeleted: 0,
                filesTotal: report.filesTotal, stderrTail: first.stderrTail)
        }
        // A first stage ends here, whatever it found: the master says when the second runs.
        if job.stage == .first {
            var staged = outcome(job, first: first, second: nil, warnings: warnings)
            staged.message =
                "stage 1 of 2: " + staged.message + "; \(pending) to delete and the index files wait for stage 2"
            staged.deletionLimit = limit
            return staged
        }
        guard let pass = RsyncArguments.secondPass(for: job, pendingDeletions: pending, limit: limit) else {
            return outcome(job, first: first, second: nil, warnings: warnings)
        }
        if Task.isCancelled {
            return SyncOutcome(result: .cancelled, reason: "cancelled", message: "the run was stopped")
        }
        return await secondPass(
            job, pass, limit: limit, after: first, warnings: warnings, password: password, activity: activity,
            logger: logger)
    }

    /// The second pass, held to `limit` deletions: after `first` in the same run, or alone as a slave's second stage
    /// (the whole tree then: the tree's totals need a pass that listed all of it).
    func secondPass(
        _ job: SyncJob, _ pass: RsyncArguments.Pass, limit: Int, after first: Invocation?, warnings: [String],
        password: String?,
        activity: RunActivity?, logger: Logger
    ) async -> SyncOutcome {
        var warnings = warnings
        // Held to the limit again, in case the upstream changed between the passes.
        let second = await invoke(
            RsyncArguments.arguments(for: job, pass: pass), password: password,
            activity: activity, pass: first == nil ? 1 : 2, limits: job, logger: logger)
        if second.exitCode == 25 || second.report.heldForTheCap(exitCode: second.exitCode) {
            return SyncOutcome(
                result: .failed, exitCode: second.exitCode, reason: "deletion-cap",
                message:
                    "the upstream changed between the passes and would delete more than maxDelete \(job.maxDelete) allows (\(limit)); \(second.report.filesDeleted ?? 0) files were deleted, \(second.report.deletionsSkipped ?? 0) kept",
                filesDeleted: second.report.filesDeleted, filesTotal: second.report.filesTotal,
                stderrTail: second.stderrTail)
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
        let filesTotal = last.report.filesTotal
        let bytesTotal = last.report.bytesTotal
        var message = "\(transferred) files (\(bytes) bytes) copied, \(deleted) deleted, \(filesTotal ?? 0) in the tree"
        if !warnings.isEmpty { message += "; " + Set(warnings).sorted().joined(separator: "; ") }
        var outcome = SyncOutcome(
            result: warnings.isEmpty ? .success : .warning, exitCode: last.exitCode,
            reason: warnings.isEmpty ? nil : "vanished-files", message: message, filesTransferred: transferred,
            bytesTransferred: bytes, filesDeleted: deleted, filesTotal: filesTotal,
            bytesTotal: bytesTotal, stderrTail: last.stderrTail)
        outcome.passSeconds = passes.map(\.seconds)
        outcome.bytesReceived = passes.compactMap(\.report.bytesReceived).reduce(0, +)
        outcome.filesCreated = passes.compactMap(\.report.filesCreated).reduce(0, +)
        return outcome
    }

    /// A pass that did not end with one of `allowing` is a failure that says what rsync meant, and why.
    func failure(of invocation: Invocation, pass: String, allowing: Set<Int>) -> SyncOutcome? {
        if let spawnError = invocation.spawnError {
            return SyncOutcome(result: .failed, reason: "spawn", message: spawnError)
        }
        if let memory = invocation.memoryFailure { return memory }
        if Task.isCancelled {
            return SyncOutcome(
                result: .cancelled, reason: "cancelled", message: "the run was stopped",
                stderrTail: invocation.stderrTail)
        }
        guard let code = invocation.exitCode else {
            return SyncOutcome(
                result: .failed, reason: "signal",
                message: "rsync was killed by signal \(invocation.signal ?? 0) in the \(pass) pass",
                stderrTail: invocation.stderrTail, retryable: true)
        }
        if allowing.contains(code) { return nil }
        // rsync's own words name the cause: "@ERROR: auth failed", "failed to connect to ...: Connection refused (111)",
        // "[receiver] read error: Connection timed out (110)", "[generator] io timeout after 600 seconds -- exiting".
        // The first system error is the cause: what its sibling processes say after it ("connection unexpectedly closed",
        // "Broken pipe", "received SIGUSR1") is only them finding it gone.
        let said = invocation.stderrTail.filter { !$0.contains("received SIGUSR1") }
        let cause =
            said.last { $0.hasPrefix("@ERROR") } ?? said.first { $0.hasPrefix("rsync:") && Self.namesSystemError($0) }
            ?? said.last { $0.hasPrefix("rsync:") } ?? said.last { $0.hasPrefix("[") } ?? said.last
        var message = "rsync exited with \(code) (\(RsyncExit.meaning(code))) in the \(pass) pass"
        if let cause { message += ": \(cause)" }
        return SyncOutcome(
            result: .failed, exitCode: code, reason: "rsync-exit-\(code)", message: message,
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
    func invoke(
        _ arguments: [String], password: String?, activity: RunActivity? = nil, pass: Int = 1,
        limits job: SyncJob? = nil,
        logger: Logger
    ) async -> Invocation {
        var platform = PlatformOptions()
        // rsync and anything it starts get a process group of their own, so that a teardown reaches them all.
        platform.processGroupID = 0
        platform.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: terminationGrace)
        ]
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
        let confinement = job.flatMap { RunLimits.confine($0, activity: pass == 1 ? activity : nil) }
        let began = ContinuousClock.now
        let executable = self.executable
        do {
            var invocation = try await withTaskCancellationHandler {
                try await Task {
                    let result = try await Subprocess.run(
                        .name(executable), arguments: Arguments(arguments), environment: environment,
                        platformOptions: options,
                        input: .none, output: .sequence, error: .sequence
                    ) { execution in
                        group.started(execution.processIdentifier.value)
                        confinement?.adopt(execution.processIdentifier.value)
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
            invocation.memoryFailure = RunLimits.memoryFailure(
                confinement, program: "rsync", tail: invocation.stderrTail)
            await confinement?.release()
            invocation.seconds = (ContinuousClock.now - began).inSeconds
            logger.debug(
                "rsync ended",
                metadata: ["exit": "\(invocation.exitCode.map(String.init) ?? "signal \(invocation.signal ?? 0)")"])
            return invocation
        } catch {
            await group.waitForGroup()
            await confinement?.release()
            var invocation = Invocation()
            if Task.isCancelled { return invocation }
            invocation.spawnError = "cannot run \(executable): \(error)"
            return invocation
        }
    }
}
