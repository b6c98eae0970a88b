import Foundation
import Logging
import MirrorCore
import MirrorProcess
import Subprocess
#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Brings trees with a program (a command upstream, `SyncSource.command`): its argv run directly (never through a
/// shell), once its program passes the agent's `--allow-exec`, in the project's tree (the served tree in place; with
/// `publish: atomic`, the new revision, a hard-linked copy of the served one: `CommandBuildTree`), in a process group
/// of its own that a cancel or the timeout stops whole, held to the job's `limits`. It gets the environment of
/// tunasync's command provider, so that tunasync's scripts run unchanged (`environment`; `docs/providers.md`). Its
/// standard output and error, merged, are the run's log, read line by line for `failOnMatch` and `sizePattern`; its
/// exit status, held to `successExitCodes`, is the result.
///
/// In place, nothing can hold a program to the deletion cap; in a build, the run mechanics (`TreeRunner.held`) count
/// what the new revision lacks and hold it to the cap before anything is published.
public struct CommandProvider: SyncProvider {
    /// This agent's name: `MIRRORSYNC_HOST`.
    public var host: String
    /// Where a program may come from.
    public var allowlist: ExecAllowlist
    /// The agent's state directory, where no program it runs may lie.
    public var stateDirectory: String?
    /// `TUNASYNC_LOG_DIR` when the agent keeps no run logs.
    public var scratchLogDirectory: String
    /// How long the program gets to end after SIGTERM before SIGKILL.
    public var terminationGrace: Duration
    /// How many of the output's last lines the run's record keeps.
    public var outputTailLines: Int
    /// Files that programs rewrite in place rather than replace (shell patterns over the path from the tree's root,
    /// `*` crossing '/'), which a build holds as real copies, not links into the served revision: git's `FETCH_HEAD`
    /// (truncated and rewritten by every fetch), `ORIG_HEAD` and its reflogs (appended).
    public var copiedInPlace: [String]

    /// `copiedInPlace` unless told otherwise: what git rewrites in place.
    public static let defaultCopiedInPlace = [
        "FETCH_HEAD", "*/FETCH_HEAD", "ORIG_HEAD", "*/ORIG_HEAD", "logs/*", "*/logs/*",
    ]

    public init(
        host: String, allowlist: ExecAllowlist, stateDirectory: String? = nil, scratchLogDirectory: String = "/tmp",
        terminationGrace: Duration = .seconds(5), outputTailLines: Int = 20,
        copiedInPlace: [String] = CommandProvider.defaultCopiedInPlace
    ) {
        self.host = host
        self.allowlist = allowlist
        self.stateDirectory = stateDirectory
        self.scratchLogDirectory = scratchLogDirectory
        self.terminationGrace = terminationGrace
        self.outputTailLines = outputTailLines
        self.copiedInPlace = copiedInPlace
    }

    public func accepts(_ source: SyncSource) -> Bool {
        if case .command = source { return true }
        return false
    }

    /// The program's whole environment: a minimal `PATH` and `LANG` (nothing of the agent's own), tunasync's
    /// variables, mirrorsync's, and the upstream's `env`. `tree`: where it runs; `served`: the revision a build
    /// started from; `logFile`: the run's log (`/dev/null` when there is none, as tunasync).
    public static func environment(
        project: String, host: String, upstream: CommandUpstream, tree: String, served: String?, logFile: String,
        logDirectory: String
    ) -> [String: String] {
        HookRunner.baseEnvironment.merging(
            [
                "TUNASYNC_MIRROR_NAME": project,
                "TUNASYNC_WORKING_DIR": tree,
                "TUNASYNC_UPSTREAM_URL": upstream.url ?? "",
                "TUNASYNC_LOG_DIR": logDirectory,
                "TUNASYNC_LOG_FILE": logFile,
                "MIRRORSYNC_PROJECT": project,
                "MIRRORSYNC_HOST": host,
                "MIRRORSYNC_DIR": tree,
                "MIRRORSYNC_SERVED_DIR": served ?? "",
                "MIRRORSYNC_LOG": logFile,
            ]
        ) { $1 }.merging(upstream.env) { $1 }
    }

    public func transfer(_ job: SyncJob, into mode: TransferMode, context: TransferContext) async -> SyncOutcome {
        guard case .command(let upstream) = job.source else {
            return SyncOutcome(result: .failed, reason: "no-provider", message: "nothing was synced: not a command")
        }
        do throws(ValueError) { try upstream.check() } catch {
            return SyncOutcome(result: .failed, reason: "command", message: "nothing was synced: \(error.message)")
        }
        let tree =
            job.destination.count > 1 && job.destination.hasSuffix("/")
            ? String(job.destination.dropLast()) : job.destination
        let program: String
        do throws(ExecRefusal) {
            let trees =
                [(PathBounds.resolve(tree), "the project's tree")]
                + (stateDirectory.map { [(PathBounds.resolve($0), "the agent's state directory")] } ?? [])
            // The file checked is the file run: a link changed between the two would otherwise choose it.
            program = try allowlist.resolve(upstream.command[0], trees: trees)
        } catch {
            return SyncOutcome(result: .failed, reason: "exec-refused", message: "nothing was synced: \(error.message)")
        }
        var build: CommandBuildTree?
        if case .build(let base?) = mode {
            switch await CommandBuildTree.prepare(base: base, build: tree, copying: copiedInPlace) {
            case .success(let prepared): build = prepared
            case .failure(let error): return SyncOutcome(result: .failed, reason: "build", message: error.message)
            }
        }
        let logFile = context.activity?.logPath ?? "/dev/null"
        let environment = Self.environment(
            project: job.project, host: host, upstream: upstream, tree: tree, served: build?.base, logFile: logFile,
            logDirectory: context.activity?.logPath.map { ($0 as NSString).deletingLastPathComponent }
                ?? scratchLogDirectory)
        let name = (upstream.command[0] as NSString).lastPathComponent
        context.activity?.note("command: \(upstream.command.joined(separator: " ")) in \(tree)")
        let confinement = RunLimits.confine(job, activity: context.activity)
        let ran = await execute(
            [program] + upstream.command.dropFirst(), environment: environment, directory: tree, upstream: upstream,
            confinement: confinement, activity: context.activity)
        // Read before the cgroup is removed: its counters go with it.
        let memory = RunLimits.memoryFailure(confinement, program: name, tail: ran.scanner.tail)
        await confinement?.release()
        context.logger.debug(
            "command ended", metadata: ["exit": "\(ran.exitCode.map(String.init) ?? "signal \(ran.signal ?? 0)")"])
        if let failure = failure(of: ran, name: name, upstream: upstream, memory: memory) { return failure }
        if let build {
            let rewritten = await build.rewrittenInPlace()
            if !rewritten.isEmpty {
                let named = rewritten.prefix(5).joined(separator: ", ") + (rewritten.count > 5 ? ", ..." : "")
                return SyncOutcome(
                    result: .failed, exitCode: ran.exitCode, reason: "in-place-rewrite",
                    message:
                        "\(name) wrote \(rewritten.count) file\(rewritten.count == 1 ? "" : "s") of the served revision in place through \(rewritten.count == 1 ? "its hard link" : "their hard links") (\(named)), which readers of the served revision see; a provider must write a new file and rename it",
                    stderrTail: ran.scanner.tail)
            }
        }
        let (files, bytes) = await CommandBuildTree.measure(tree)
        var size = bytes
        if let text = ran.scanner.size {
            if let parsed = CommandUpstream.bytes(ofSize: text) {
                size = parsed
            } else {
                context.activity?.note("sizePattern caught '\(text)', which is not a size; the tree's own is shown")
            }
        }
        let deleted = build == nil ? "" : ", 0 deleted,"
        return SyncOutcome(
            result: .success, exitCode: ran.exitCode,
            message: "\(name) exited with \(ran.exitCode ?? 0)\(deleted) \(files) files in the tree",
            filesDeleted: build == nil ? nil : 0, filesTotal: files, bytesTotal: size, stderrTail: ran.scanner.tail)
    }

    /// A run that did not succeed, in the words its record keeps; nil when it did.
    func failure(of ran: Execution, name: String, upstream: CommandUpstream, memory: SyncOutcome?)
        -> SyncOutcome?
    {
        if Task.isCancelled {
            return SyncOutcome(
                result: .cancelled, reason: "cancelled", message: "the run was stopped", stderrTail: ran.scanner.tail)
        }
        if let spawnError = ran.spawnError {
            return SyncOutcome(result: .failed, reason: "spawn", message: spawnError)
        }
        if let memory { return memory }
        let last = ran.scanner.tail.last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard let code = ran.exitCode else {
            return SyncOutcome(
                result: .failed, reason: "signal", message: "\(name) was killed by signal \(ran.signal ?? 0)",
                stderrTail: ran.scanner.tail, retryable: true)
        }
        if !upstream.successExitCodes.contains(code) {
            return SyncOutcome(
                result: .failed, exitCode: code, reason: "exit-\(code)",
                message: "\(name) exited with \(code)" + (last.map { ": \($0)" } ?? ""), stderrTail: ran.scanner.tail,
                retryable: true)
        }
        if let line = ran.scanner.failedOn, let pattern = upstream.failOnMatch {
            return SyncOutcome(
                result: .failed, exitCode: code, reason: "fail-on-match",
                message: "\(name) exited with \(code), but its output matched failOnMatch '\(pattern)': \(line)",
                stderrTail: ran.scanner.tail, retryable: true)
        }
        return nil
    }

    /// How one run of the program ended.
    struct Execution: Sendable {
        var exitCode: Int?
        var signal: Int32?
        var spawnError: String?
        var scanner: CommandOutput
    }

    /// Runs `argv` to its end, its output through to `activity`'s log and read by `CommandOutput`.
    func execute(
        _ argv: [String], environment: [String: String], directory: String, upstream: CommandUpstream,
        confinement: RunConfinement?, activity: RunActivity?
    ) async -> Execution {
        var platform = PlatformOptions()
        // The program and everything it starts get a process group of their own, so that a stop reaches them all.
        platform.processGroupID = 0
        let options = platform
        let stopper = ProcessGroupStopper(grace: terminationGrace)
        let empty = CommandOutput(upstream: upstream, tailLines: outputTailLines)
        guard !Task.isCancelled else { return Execution(scanner: empty) }
        let updates = environment.reduce(into: [Environment.Key: String]()) {
            $0[Environment.Key(stringLiteral: $1.key)] = $1.value
        }
        do {
            // As rsync's: the stop reaches the group through signals sent here, never by cancelling the subprocess's
            // own task, which could lose a cancellation that arrives while the program is spawned.
            let (status, scanner) = try await withTaskCancellationHandler {
                try await Task {
                    let result = try await Subprocess.run(
                        .path(FilePath(argv[0])), arguments: Arguments(Array(argv.dropFirst())),
                        environment: .custom(updates), workingDirectory: FilePath(directory),
                        platformOptions: options, input: .none, output: .sequence, error: .combinedWithOutput
                    ) { execution in
                        stopper.started(execution.processIdentifier.value)
                        confinement?.adopt(execution.processIdentifier.value)
                        var scanner = empty
                        for try await buffer in execution.standardOutput {
                            buffer.withUnsafeBytes { bytes in
                                activity?.write(bytes)
                                scanner.take(bytes)
                            }
                        }
                        scanner.finish()
                        return scanner
                    }
                    return (result.terminationStatus, result.closureResult)
                }.value
            } onCancel: {
                stopper.stop()
            }
            // What the program left running in its group ends with it: nothing may write into a tree once it is
            // published.
            await stopper.waitForGroup(endingStragglers: true)
            var ran = Execution(scanner: scanner)
            switch status {
            case .exited(let code): ran.exitCode = Int(code)
            case .signaled(let signal): ran.signal = Int32(signal)
            }
            return ran
        } catch {
            await stopper.waitForGroup(endingStragglers: true)
            var ran = Execution(scanner: empty)
            if !Task.isCancelled { ran.spawnError = "cannot run \(argv[0]): \(error)" }
            return ran
        }
    }
}
