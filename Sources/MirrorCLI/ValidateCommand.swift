import ArgumentParser
import Foundation
import MirrorCore

/// `mirrorsync validate [DIR]`: load and validate offline.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Load and validate mirrors.d offline; no agent is contacted.",
        discussion: """
            Reads every *.yaml and *.yml file of DIR in lexical order (hidden files and editor \
            leftovers are skipped), merges them into one desired state and checks it: unknown keys, \
            names, references between objects, paths, durations, rsync options and patterns. Every \
            error is reported, as FILE:LINE:COLUMN: error: MESSAGE.

            Exit status: 0 when the desired state is valid, 1 when it is not.
            """
    )

    @Argument(help: ArgumentHelp("The directory that holds the *.yaml files.", valueName: "dir"))
    var directory: String = "mirrors.d"

    @Option(name: [.short, .long], help: "Print 'text' for people or 'json' for scripts.")
    var output: OutputFormat = .text

    @Option(
        name: .customLong("allow-exec"),
        help: ArgumentHelp(
            "Check each hook's program as an agent started with the same --allow-exec would, on this host; repeatable. "
                + "Without it, each program is a warning naming the flag.", valueName: "dir"))
    var allowExec: [String] = []

    func validate() throws {
        if output == .markdown {
            throw ValidationError(
                "--output markdown is only for 'reconcile --dry-run'; validate prints 'text' or 'json'")
        }
    }

    func run() throws {
        let report = ValidationReport(directory: directory, allowExec: allowExec)
        let rendered = report.render(output, color: Terminal.wantsColor(fileDescriptor: 2))
        if !rendered.stdout.isEmpty { Terminal.write(rendered.stdout, to: .standardOutput) }
        if !rendered.stderr.isEmpty { Terminal.write(rendered.stderr, to: .standardError) }
        if !report.isValid { throw ExitCode(1) }
    }
}

/// The outcome of `validate`, kept apart from printing so that tests can read it.
public struct ValidationReport: Sendable {
    public var directory: String
    public var state: DesiredState?
    public var diagnostics: [Diagnostic]

    public var isValid: Bool { state != nil }

    /// `allowExec`: the `--allow-exec` directories the hooks' programs are checked against (`HookPrograms`).
    public init(directory: String, loader: DesiredStateLoader = DesiredStateLoader(), allowExec: [String] = []) {
        self.directory = directory
        do {
            let loaded = try loader.load(directory: directory)
            let programs = HookPrograms.diagnostics(loaded.state, directory: directory, allowExec: allowExec)
            state = programs.contains { $0.severity == .error } ? nil : loaded.state
            diagnostics = (loaded.warnings + programs + SharedTokenCheck.diagnostics(loaded.state)).sorted(
                by: Diagnostic.inSourceOrder)
        } catch {
            state = nil
            diagnostics = error.diagnostics
        }
    }

    /// The JSON shape of `validate --output json`; `formatVersion` changes only when a field changes meaning.
    struct JSONReport: Encodable {
        var formatVersion = 1
        var directory: String
        var valid: Bool
        var files: [String]
        var counts: [String: Int]?
        var errors: Int
        var warnings: Int
        var diagnostics: [Diagnostic]
    }

    public func render(_ format: OutputFormat, color: Bool = false) -> (stdout: String, stderr: String) {
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.count - errors
        switch format {
        case .json:
            let report = JSONReport(
                directory: directory, valid: isValid, files: state?.files ?? [],
                counts: state.map {
                    [
                        "projects": $0.projects.count, "upstreams": $0.upstreams.count, "intervals": $0.intervals.count,
                        "slaves": $0.slaves.count,
                    ]
                },
                errors: errors, warnings: warnings, diagnostics: diagnostics)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(report)) ?? Data("{}".utf8)
            return (String(decoding: data, as: UTF8.self) + "\n", "")
        case .text, .markdown:
            var err = diagnostics.map { Terminal.colored($0, color: color) + "\n" }.joined()
            if let state {
                let summary =
                    "\(directory): valid: \(plural(state.projects.count, "project")), "
                    + "\(plural(state.slaves.count, "slave")), \(plural(state.upstreams.count, "upstream")), "
                    + "\(plural(state.intervals.count, "interval")) in \(plural(state.files.count, "file"))"
                    + (warnings > 0 ? "; \(plural(warnings, "warning"))" : "")
                return (summary + "\n", err)
            }
            err +=
                "\(directory): invalid: \(plural(errors, "error"))\(warnings > 0 ? ", \(plural(warnings, "warning"))" : ""); nothing would be applied\n"
            return ("", err)
        }
    }
}

func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
