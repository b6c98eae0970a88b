#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import MirrorCore

/// `sync --wait`: follows a run to its end through the agent's long poll (`GET .../runs/{id}?wait=`), which answers
/// as soon as the run changes or ends, so the command returns as the run ends rather than at the next tick of a poll.
struct RunFollower {
    var project: String
    var runID: Int64
    var display: ProgressDisplay
    /// The longest one long poll is held; the agent answers sooner whenever the run changes.
    static let longestPoll = 30.0

    /// The run once it has finished; nil if it has not within `timeout` seconds.
    mutating func follow(_ client: any RunPolling, timeout: Double) async throws(OperatorCallError) -> RunRecord? {
        let deadline = Date().addingTimeInterval(timeout)
        defer { display.finish() }
        var unreachable = 0
        while Date() < deadline {
            let run: RunRecord
            do {
                run = try await client.run(
                    project: project, id: runID,
                    waitingUpTo: min(Self.longestPoll, max(0, deadline.timeIntervalSinceNow)))
            } catch  where error.unreachable {
                // The agent restarting: look again after a pause that grows, up to 5 s.
                unreachable += 1
                try? await Task.sleep(for: .milliseconds(min(5000, 250 << min(unreachable, 5))))
                continue
            }
            unreachable = 0
            if run.state == .finished { return run }
            display.show(run)
        }
        return nil
    }
}

/// How a followed run shows its progress: a bar redrawn in place on standard error when it is a terminal, plain lines
/// (at most one a second, each new) otherwise, or nothing (`--output json`).
struct ProgressDisplay {
    enum Style { case bar, lines, none }
    var style: Style
    private var lastLine: String?
    /// The state, pass and attempt of the last line: a change of any is shown at once.
    private var lastStage: String?
    private var lastLineAt: ContinuousClock.Instant?
    private var drawn = false

    init(style: Style) { self.style = style }

    /// The style for this process: a bar on a terminal, plain lines otherwise, nothing for JSON.
    static func style(json: Bool) -> Style {
        json ? .none : isatty(2) == 1 && getenv("TERM").map({ String(cString: $0) != "dumb" }) ?? true ? .bar : .lines
    }

    mutating func show(_ run: RunRecord) {
        switch style {
        case .none: return
        case .bar:
            Terminal.write("\r\u{1B}[K" + Self.bar(run, width: 30), to: .standardError)
            drawn = true
        case .lines:
            let line = Self.describe(run)
            let now = ContinuousClock.now
            // A new state, pass or attempt at once; the progress within one once a second.
            let stage = "\(run.state.rawValue) \(run.progress?.pass ?? 0) \(run.attempts)"
            guard line != lastLine, stage != lastStage || lastLineAt.map({ now - $0 >= .seconds(1) }) ?? true else {
                return
            }
            Terminal.write(line + "\n", to: .standardError)
            lastLine = line
            lastStage = stage
            lastLineAt = now
        }
    }

    /// Clears the bar, so that the result is written on a line of its own.
    mutating func finish() {
        if drawn { Terminal.write("\r\u{1B}[K", to: .standardError) }
        drawn = false
    }

    /// `run 7 of debian: running, pass 1: 12 files, 3.40 MiB of 10.2 MiB (34%)`.
    static func describe(_ run: RunRecord) -> String {
        var text = "run \(run.id) of \(run.project): \(run.state.rawValue)"
        if run.attempts > 1 || (run.attempts == 1 && run.reason != nil) {
            text += " (attempt \(run.attempts) failed: \(run.reason ?? "?"))"
        }
        guard let progress = run.progress else { return text }
        text +=
            ", pass \(progress.pass): \(progress.files) file\(progress.files == 1 ? "" : "s"), \(SizeText.human(progress.bytes))"
        if let total = progress.bytesTotal { text += " of \(SizeText.human(total))" }
        if let percent = progress.percent { text += " (\(percent)%)" }
        return text
    }

    /// `[##########--------------------]  34%  pass 1: 3.40 MiB of 10.2 MiB, 12 files`.
    static func bar(_ run: RunRecord, width: Int) -> String {
        guard let progress = run.progress else { return "run \(run.id) of \(run.project): \(run.state.rawValue)" }
        let percent = min(100, max(0, progress.percent ?? 0))
        let filled = width * percent / 100
        let total = progress.bytesTotal.map { " of " + SizeText.human($0) } ?? ""
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            + String(repeating: " ", count: 3 - String(percent).count) + "\(percent)%  pass \(progress.pass): "
            + "\(SizeText.human(progress.bytes))\(total), \(progress.files) file\(progress.files == 1 ? "" : "s")"
    }
}
