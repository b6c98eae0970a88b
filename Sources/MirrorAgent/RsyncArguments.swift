import MirrorCore

/// rsync's command line for a job, as an argv array: nothing here passes through a shell.
///
/// A sync is one or two passes. The first pass copies and deletes nothing: `--max-delete=0` makes rsync count
/// the files it would delete (and exit 25 if there are any, or 23 when a directory that changed type holds them)
/// instead of deleting them. When the project has second-stage patterns, the first pass also leaves those files
/// alone. The second pass, needed only when there is something to delete or a second stage, walks the whole tree again
/// and deletes at most as many files as the first pass counted and the cap allows: so a cap is all or nothing, and a
/// re-sync with nothing to change and no second stage is a single file-list walk. The second pass lists the whole tree,
/// not the second stage alone, because rsync keeps files hard-linked only among those one pass lists: a second-stage
/// file that is a hard link of a pool file would otherwise land as a copy of its own.
public enum RsyncArguments {
    public enum Pass: Sendable, Hashable {
        /// Copies, counts deletions, deletes nothing.
        case first
        /// Copies everything and deletes, up to `maxDelete` files.
        case second(maxDelete: Int)
        /// Builds a new revision in an empty directory (`publish: atomic`): everything in one pass, the files
        /// unchanged since `linkDest` (the served revision) hard-linked from it rather than copied.
        case build(linkDest: String?)
        /// A slave's incremental pull: only the paths in `filesFrom` (NUL-separated, relative to the source's top), each
        /// read whole whatever its size and time (`--ignore-times`: a file rewritten with its old size and time is
        /// still brought), directories without what they hold; with `delayUpdates`, all land together at the end.
        case listed(filesFrom: String, delayUpdates: Bool)
    }

    /// What every pass uses: archive mode with hard links, never following links out of the tree, whole
    /// files renamed into place, the statistics mirrorsync reads, and the progress of the whole transfer
    /// (`--info=progress2`: a line per change, ended by a carriage return, that the runner reads and leaves out of the
    /// run's log). No list of files: a project that wants one in its logs asks for `--itemize-changes` or `--verbose`,
    /// and the runner drains it whatever its size. The whole file list before the transfer (`--no-inc-recursive`, as
    /// ftpsync has it): with rsync's incremental recursion and `--hard-links`, a pass that may not delete a directory
    /// the upstream turned into a file hard-linked to one listed before it (a first pass) hangs until the run's
    /// timeout (rsync 3.5.0; `TypeChangeTests`); a pass with `--delay-updates` implies it anyway.
    static let defaults = [
        "--recursive", "--links", "--perms", "--times", "--group", "--owner", "--devices", "--specials",
        "--hard-links", "--safe-links", "--stats", "--no-motd", "--info=progress2", "--no-inc-recursive",
    ]

    /// The second pass after a first pass that counted `pendingDeletions`: with deletions counted or a second stage to
    /// bring, the whole tree; otherwise none.
    public static func secondPass(for job: SyncJob, pendingDeletions: Int, limit: Int) -> Pass? {
        pendingDeletions > 0 || !job.twoStage.isEmpty ? .second(maxDelete: limit) : nil
    }

    public static func arguments(for job: SyncJob, pass: Pass) -> [String] {
        var args = defaults
        args.append("--timeout=\(job.ioTimeout.seconds)")
        switch pass {
        case .first:
            args += ["--delete-delay", "--max-delete=0"]
            // With a second stage, nothing points at a new file until that stage, so the first pass may rename
            // files into place as it goes (as Debian's ftpsync does); without one, all land together at the end.
            if job.twoStage.isEmpty { args.append("--delay-updates") }
        case .second(let maxDelete):
            args += ["--delete-delay", "--delay-updates", "--max-delete=\(max(0, maxDelete))"]
        case .build(let linkDest):
            // Nothing reads the directory until it is published: no deletions (it starts empty), no delayed updates.
            if let linkDest { args.append("--link-dest=\(linkDest)") }
        case .listed(let filesFrom, let delayUpdates):
            // --files-from with --recursive would walk every directory listed: the list says what to bring.
            args.removeAll { $0 == "--recursive" }
            args += ["--files-from=\(filesFrom)", "--from0", "--ignore-times"]
            if delayUpdates { args.append("--delay-updates") }
        }
        if job.source.isDaemon && !job.rsyncOptions.contains(where: { $0.hasPrefix("--contimeout=") }) {
            args.append("--contimeout=60")
        }
        // rsync's protocol trades many small messages over a daemon's socket, and with Nagle's algorithm each one that
        // waits for the ACK of the one before waits out the peer's delayed ACK (40 ms on Linux): a pull of a small
        // change took 0.2 s where the work is 0.01-0.05 s. Only this side's sends; the master's daemon sets its own.
        if job.source.isDaemon { args.append("--sockopts=TCP_NODELAY") }
        if let limit = job.bandwidthLimit {
            // rsync's --bwlimit counts in KiB per second.
            args.append("--bwlimit=\(max(1, (limit.bytes + 1023) / 1024))")
        }
        args += job.protect.map { "--filter=P \($0)" }
        args += job.exclude.map { "--exclude=\($0)" }
        if case .first = pass { args += job.twoStage.map { "--exclude=\($0)" } }
        args += job.rsyncOptions
        args += ["--", job.source.description, job.destination]
        return args
    }
}

/// What rsync's `--stats` and messages say about a pass.
public struct RsyncReport: Sendable, Hashable {
    public var filesTotal: Int?
    public var regularFiles: Int?
    /// The directories among `filesTotal`.
    public var directories: Int?
    public var filesTransferred: Int?
    public var filesDeleted: Int?
    /// Entries of any type this side made ("Number of created files").
    public var filesCreated: Int?
    public var bytesTransferred: Int64?
    /// The size of every file listed, in bytes ("Total file size"): the tree's size once the pass has succeeded.
    public var bytesTotal: Int64?
    /// What this side received over the wire (the statistics' "Total bytes received").
    public var bytesReceived: Int64?
    /// Deletions that `--max-delete` held back.
    public var deletionsSkipped: Int?
    /// Entries the upstream changed into another type where this side has a directory with something in it, which
    /// rsync could not replace since the cap held back the deletions that make room (`could not make way for new
    /// symlink: PATH`): rsync then ends with 23 rather than 25.
    public var typeChangesHeld = 0

    public init() {}

    /// Reads one line of rsync's output; lines that are not statistics change nothing.
    public mutating func read(_ line: Substring) {
        func number(_ text: Substring) -> Int64? {
            let digits = text.drop { $0 == " " }.prefix { $0.isNumber || $0 == "," }.filter { $0 != "," }
            return Int64(digits)
        }
        if line.hasPrefix("Number of files: ") {
            let rest = line.dropFirst("Number of files: ".count)
            filesTotal = number(rest).map(Int.init)
            if let reg = rest.range(of: "reg: ") {
                regularFiles = number(rest[reg.upperBound...]).map(Int.init)
            } else {
                regularFiles = 0
            }
            directories = rest.range(of: "dir: ").map { number(rest[$0.upperBound...]).map(Int.init) ?? 0 } ?? 0
        } else if line.hasPrefix("Number of regular files transferred: ") {
            filesTransferred = number(line.dropFirst("Number of regular files transferred: ".count)).map(Int.init)
        } else if line.hasPrefix("Number of created files: ") {
            filesCreated = number(line.dropFirst("Number of created files: ".count)).map(Int.init)
        } else if line.hasPrefix("Number of deleted files: ") {
            filesDeleted = number(line.dropFirst("Number of deleted files: ".count)).map(Int.init)
        } else if line.hasPrefix("Total file size: ") {
            bytesTotal = number(line.dropFirst("Total file size: ".count))
        } else if line.hasPrefix("Total transferred file size: ") {
            bytesTransferred = number(line.dropFirst("Total transferred file size: ".count))
        } else if line.hasPrefix("Total bytes received: ") {
            bytesReceived = number(line.dropFirst("Total bytes received: ".count))
        } else if line.hasPrefix("Deletions stopped due to --max-delete limit ("), let open = line.firstIndex(of: "(") {
            deletionsSkipped = number(line[line.index(after: open)...]).map(Int.init)
        } else if line.hasPrefix("could not make way for ") {
            typeChangesHeld += 1
        }
    }

    /// Whether a pass ended with 23 only for the deletions the cap held back: a change of type among them, and
    /// deletions counted.
    public func heldForTheCap(exitCode: Int?) -> Bool {
        exitCode == 23 && typeChangesHeld > 0 && (deletionsSkipped ?? 0) > 0
    }
}

/// What rsync's exit codes mean (rsync(1), EXIT VALUES).
public enum RsyncExit {
    public static func meaning(_ code: Int) -> String {
        switch code {
        case 0: return "success"
        case 1: return "syntax or usage error"
        case 2: return "protocol incompatibility"
        case 3: return "errors selecting input/output files or directories"
        case 4: return "requested action not supported"
        case 5: return "error starting the client-server protocol"
        case 6: return "daemon unable to append to its log file"
        case 10: return "error in socket I/O"
        case 11: return "error in file I/O"
        case 12: return "error in the rsync protocol data stream"
        case 13: return "errors with program diagnostics"
        case 14: return "error in IPC code"
        case 20: return "received SIGUSR1 or SIGINT"
        case 21: return "some error returned by waitpid()"
        case 22: return "error allocating core memory buffers"
        case 23: return "partial transfer due to error"
        case 24: return "partial transfer due to vanished source files"
        case 25: return "the --max-delete limit stopped deletions"
        case 30: return "timeout in data send/receive"
        case 35: return "timeout waiting for daemon connection"
        default: return "unknown exit code"
        }
    }

    /// Codes after which a later attempt may succeed: the network, the daemon or the upstream's own churn.
    public static func isRetryable(_ code: Int) -> Bool {
        [5, 10, 11, 12, 23, 30, 35].contains(code)
    }
}
