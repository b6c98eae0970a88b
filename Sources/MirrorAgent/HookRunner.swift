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
public struct HookRunner: Sendable {
    /// This agent's name: `MIRRORSYNC_HOST`.
    public var host: String
    /// Where a project's `MIRRORSYNC_LOG` file is written (the run's message and rsync's last lines) when the run has
    /// no log of its own (the agent keeps none, or could not write it); nil: the variable is then empty.
    public var logDirectory: String?
    public var terminationGrace: Duration
    public var outputTailLines: Int

    public init(host: String, logDirectory: String? = nil, terminationGrace: Duration = .seconds(5), outputTailLines: Int = 20) {
        self.host = host
        self.logDirectory = logDirectory
        self.terminationGrace = terminationGrace
        self.outputTailLines = outputTailLines
    }

    /// Runs the hook `spec` names for how `run` ended, if any; returns its outcome. `log`: the run's own log, which
    /// `MIRRORSYNC_LOG` names when there is one.
    public func run(_ spec: HookSpec, after run: RunRecord, revision: Int, directory: String, log runLog: String? = nil, logger: Logger) async -> HookOutcome? {
        guard let result = run.result, let (event, argv) = spec.argv(after: result) else { return nil }
        let log = runLog ?? writeLog(run)
        let environment = HookSpec.environment(project: run.project, host: host, result: result, exitCode: run.exitCode,
                                               revision: revision, directory: directory, log: log ?? "")
        let timeout = spec.timeout ?? HookSpec.defaultTimeout
        let outcome = await execute(argv, environment: environment, timeout: .seconds(timeout.seconds))
        var hook = outcome
        hook.event = event
        let level: Logger.Level = hook.succeeded ? .info : .warning
        logger.log(level: level, "hook finished", metadata: [
            "event": "\(event)", "exit": "\(hook.exitCode.map(String.init) ?? "none")", "timedOut": "\(hook.timedOut)",
            "seconds": "\(String(format: "%.1f", hook.seconds))",
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
        let timedOut = Atomic<Bool>(false)
        let timer = Task {
            try await Task.sleep(for: timeout)
            timedOut.store(true, ordering: .sequentiallyConsistent)
            stopper.stop()
        }
        defer { timer.cancel() }
        let tailLimit = outputTailLines
        var outcome = HookOutcome(event: "", argv: argv)
        let updates = environment.reduce(into: [Environment.Key: String?]()) { $0[Environment.Key(stringLiteral: $1.key)] = $1.value }
        do {
            let (status, tail) = try await withTaskCancellationHandler {
                try await Task {
                    let result = try await Subprocess.run(
                        .path(FilePath(argv[0])), arguments: Arguments(Array(argv.dropFirst())),
                        environment: Environment.inherit.updating(updates), platformOptions: options,
                        input: .none, output: .sequence, error: .sequence
                    ) { execution in
                        stopper.started(execution.processIdentifier.value)
                        func drain<Lines: AsyncSequence>(_ lines: Lines) async throws -> [String] where Lines.Element == String {
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
        timer.cancel()
        await stopper.waitForGroup(endingStragglers: true)
        outcome.timedOut = timedOut.load(ordering: .sequentiallyConsistent)
        if outcome.timedOut { outcome.exitCode = nil }
        outcome.seconds = (ContinuousClock.now - started).inSeconds
        return outcome
    }
}

extension Duration {
    /// In seconds, with their fraction.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
