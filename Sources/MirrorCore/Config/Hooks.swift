import Foundation

/// Programs a project runs after each sync on the host that ran it: `onSuccess` after a success (or a warning),
/// `onFailure` after a failure. Each is an argv array, run directly (never through a shell), its first element an
/// absolute path that the agent's `--allow-exec` allows (`ExecAllowlist`); it is stopped at `timeout`. Its outcome is recorded with the run and never changes the run's result.
public struct HookSpec: Codable, Sendable, Hashable {
    /// How long a hook may run when its spec names no timeout.
    public static let defaultTimeout = TimeSpan(seconds: 300)

    public var onSuccess: [String]?
    public var onFailure: [String]?
    public var timeout: TimeSpan?

    public init(onSuccess: [String]? = nil, onFailure: [String]? = nil, timeout: TimeSpan? = nil) {
        self.onSuccess = onSuccess
        self.onFailure = onFailure
        self.timeout = timeout
    }

    /// The argv to run after a run that ended with `result`; nil when there is none (a cancelled or interrupted run,
    /// or one that found the upstream unchanged, runs no hook).
    public func argv(after result: RunResult) -> (event: String, argv: [String])? {
        switch result {
        case .success, .warning: onSuccess.map { ("onSuccess", $0) }
        case .failed: onFailure.map { ("onFailure", $0) }
        case .cancelled, .interrupted, .unchanged: nil
        }
    }

    /// An argv's rule: a program (an absolute path, so that no search path decides what runs) and its arguments.
    /// `what`: `hook`, or `command` for an upstream's program.
    public static func check(argv: [String], what: String = "hook") throws(ValueError) {
        guard let program = argv.first else { throw ValueError("a \(what) needs at least the program to run") }
        guard program.hasPrefix("/") else {
            throw ValueError(
                "'\(program)' is not an absolute path; a \(what)'s program is named by its full path (it is run directly, never through a shell)"
            )
        }
        if argv.contains(where: { $0.contains("\0") }) {
            throw ValueError("a \(what)'s argument holds a NUL character")
        }
    }

    /// The variables a hook gets besides a minimal PATH and LANG (nothing of the agent's own): what ran, where, and how
    /// it ended; and the same in tunasync's names, which its `exec_on_success`/`exec_on_failure` hooks get after a
    /// run of any provider, so that its hook scripts run unchanged (`TUNASYNC_JOB_EXIT_STATUS` is `success` after a
    /// success or a warning, `failure` after a failure). `upstream`: the upstream's address, when the caller knows it.
    public static func environment(
        project: String, host: String, result: RunResult, exitCode: Int?, revision: Int?,
        directory: String, log: String, upstream: String = ""
    ) -> [String: String] {
        [
            "MIRRORSYNC_PROJECT": project,
            "MIRRORSYNC_HOST": host,
            "MIRRORSYNC_RESULT": result.rawValue,
            "MIRRORSYNC_EXIT_CODE": exitCode.map(String.init) ?? "",
            "MIRRORSYNC_REVISION": revision.map(String.init) ?? "",
            "MIRRORSYNC_DIR": directory,
            "MIRRORSYNC_LOG": log,
            "TUNASYNC_MIRROR_NAME": project,
            "TUNASYNC_WORKING_DIR": directory,
            "TUNASYNC_UPSTREAM_URL": upstream,
            "TUNASYNC_LOG_DIR": log.isEmpty ? "" : (log as NSString).deletingLastPathComponent,
            "TUNASYNC_LOG_FILE": log.isEmpty ? "/dev/null" : log,
            "TUNASYNC_JOB_EXIT_STATUS": result == .failed ? "failure" : "success",
        ]
    }
}

/// How a hook ended, as the run's record keeps it.
public struct HookOutcome: Codable, Sendable, Hashable {
    /// `onSuccess` or `onFailure`.
    public var event: String
    public var argv: [String]
    /// Its exit code; nil when it was killed by a signal, timed out or could not start.
    public var exitCode: Int?
    public var timedOut: Bool
    public var seconds: Double
    /// The last lines of its standard output and error, merged.
    public var outputTail: [String]
    /// Why it could not start.
    public var error: String?

    public init(
        event: String, argv: [String], exitCode: Int? = nil, timedOut: Bool = false, seconds: Double = 0,
        outputTail: [String] = [], error: String? = nil
    ) {
        self.event = event
        self.argv = argv
        self.exitCode = exitCode
        self.timedOut = timedOut
        self.seconds = seconds
        self.outputTail = outputTail
        self.error = error
    }

    public var succeeded: Bool { exitCode == 0 && !timedOut && error == nil }
}
