import Foundation
import Logging
import MirrorCore
import MirrorProcess
import Subprocess
import Synchronization
#if canImport(System)
    import System
#else
    import SystemPackage
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Runs a project's hooks after its syncs: the argv directly (never a shell), in a process group of its own that is
/// stopped (SIGTERM, then SIGKILL after the grace) at the hook's timeout or when the agent stops; its output drained
/// as it comes and only its last lines kept. Whatever the hook does, the run's result stays as it was.
///
/// A hook runs only if its program passes `allowlist` as it starts (a hook stored before the agent's `--allow-exec`
/// narrowed, or a link changed since, is refused and its error recorded), with a clean environment: nothing of the
/// agent's own (its token, its variables) but a minimal `PATH` and `LANG`, and the run's `MIRRORSYNC_*`.
public struct HookRunner: Sendable {
    /// The environment every program the agent runs starts from.
    public static let baseEnvironment = [
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
    ]

    /// This agent's name: `MIRRORSYNC_HOST`.
    public var host: String
    /// Where a hook's program may come from; nothing by default.
    public var allowlist: ExecAllowlist
    /// The agent's state directory, where no program it runs may lie.
    public var stateDirectory: String?
    /// Where a project's `MIRRORSYNC_LOG` file is written (the run's message and rsync's last lines) when the run has
    /// no log of its own (the agent keeps none, or could not write it); nil: the variable is then empty.
    public var logDirectory: String?
    public var terminationGrace: Duration
    public var outputTailLines: Int

    public init(
        host: String, logDirectory: String? = nil, allowlist: ExecAllowlist = .none, stateDirectory: String? = nil,
        terminationGrace: Duration = .seconds(5), outputTailLines: Int = 20
    ) {
        self.host = host
        self.allowlist = allowlist
        self.stateDirectory = stateDirectory
        self.logDirectory = logDirectory
        self.terminationGrace = terminationGrace
        self.outputTailLines = outputTailLines
    }

    /// Runs the hook `spec` names for how `run` ended, if any; returns its outcome. `log`: the run's own log, which
    /// `MIRRORSYNC_LOG` names when there is one.
    public func run(
        _ spec: HookSpec, after run: RunRecord, revision: Int, directory: String, log runLog: String? = nil,
        upstream: String = "", logger: Logger
    ) async -> HookOutcome? {
        guard let result = run.result, let (event, argv) = spec.argv(after: result) else { return nil }
        let log = runLog ?? writeLog(run)
        let environment = HookSpec.environment(
            project: run.project, host: host, result: result, exitCode: run.exitCode,
            revision: revision, directory: directory, log: log ?? "", upstream: upstream)
        let timeout = spec.timeout ?? HookSpec.defaultTimeout
        var hook: HookOutcome
        do throws(ExecRefusal) {
            let trees =
                [(PathBounds.resolve(directory), "the project's tree")]
                + (stateDirectory.map { [(PathBounds.resolve($0), "the agent's state directory")] } ?? [])
            // The file checked is the file run: a link changed between the two would otherwise choose it.
            let program = try allowlist.resolve(argv[0], trees: trees)
            hook = await execute(
                [program] + argv.dropFirst(), environment: environment, timeout: .seconds(timeout.seconds))
            hook.argv = argv
        } catch {
            hook = HookOutcome(event: event, argv: argv, error: "not run: \(error.message)")
        }
        hook.event = event
        let level: Logger.Level = hook.succeeded ? .info : .warning
        logger.log(
            level: level, "hook finished",
            metadata: [
                "event": "\(event)", "exit": "\(hook.exitCode.map(String.init) ?? "none")",
                "timedOut": "\(hook.timedOut)",
                "seconds": "\(String(format: "%.1f", hook.seconds))", "error": "\(hook.error ?? "")",
            ])
        return hook
    }

    /// The file `MIRRORSYNC_LOG` names: what the run said and rsync's last lines of standard error.
    func writeLog(_ run: RunRecord) -> String? {
        guard let logDirectory else { return nil }
        let path = logDirectory + "/" + run.project + ".log"
        let text = ([run.message ?? ""] + run.stderrTail).joined(separator: "\n") + "\n"
        do {
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            try AtomicFile.write(Array(text.utf8), to: path, mode: 0o644)
            return path
        } catch {
            return nil
        }
    }

    /// Runs `argv` to its end or its timeout.
    func execute(_ argv: [String], environment: [String: String], timeout: Duration) async -> HookOutcome {
        var platform = PlatformOptions()
        platform.processGroupID = 0
        let options = platform
        let started = ContinuousClock.now
        let stopper = ProcessGroupStopper(grace: terminationGrace)
        let deadline = stopper.stop(after: timeout)
        defer { deadline.cancel() }
        let tailLimit = outputTailLines
        var outcome = HookOutcome(event: "", argv: argv)
        let updates = Self.baseEnvironment.merging(environment) { $1 }
            .reduce(into: [Environment.Key: String]()) { $0[Environment.Key(stringLiteral: $1.key)] = $1.value }
        do {
            let (status, tail) = try await withTaskCancellationHandler {
                try await Task {
                    let result = try await Subprocess.run(
                        .path(FilePath(argv[0])), arguments: Arguments(Array(argv.dropFirst())),
                        environment: .custom(updates), platformOptions: options,
                        input: .none, output: .sequence, error: .sequence
                    ) { execution in
                        stopper.started(execution.processIdentifier.value)
                        func drain<Lines: AsyncSequence>(_ lines: Lines) async throws -> [String]
                        where Lines.Element == String {
                            var tail: [String] = []
                            for try await line in lines {
                                tail.append(line)
                                if tail.count > tailLimit { tail.removeFirst(tail.count - tailLimit) }
                            }
                            return tail
                        }
                        async let out = drain(execution.standardOutput.strings())
                        async let err = drain(execution.standardError.strings())
                        return try await (out + err).suffix(tailLimit)
                    }
                    return (result.terminationStatus, Array(result.closureResult))
                }.value
            } onCancel: {
                stopper.stop()
            }
            if case .exited(let code) = status { outcome.exitCode = Int(code) }
            outcome.outputTail = tail
        } catch {
            outcome.error = "cannot run \(argv[0]): \(error)"
        }
        deadline.cancel()
        await stopper.waitForGroup(endingStragglers: true)
        outcome.timedOut = deadline.fired
        if outcome.timedOut { outcome.exitCode = nil }
        outcome.seconds = (ContinuousClock.now - started).inSeconds
        return outcome
    }
}

extension Duration {
    /// In seconds, with their fraction.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
