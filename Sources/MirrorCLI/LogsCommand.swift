import ArgumentParser
import Foundation
import MirrorCore

/// `mirrorsync logs PROJECT [DIR] [--host HOST] [--run ID] [--follow]`: a run's log, from the agent that ran it.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract:
            "Show the log of a project's run (rsync's statistics, its errors, and the file list if asked for) on the master or a slave.",
        discussion: """
            By default the latest run on the master: the one in progress, else the last that ended. Each agent keeps \
            the newest logRetention logs of each project (20 by default). With --follow, a run in progress is shown as \
            it goes until it ends. Exit status: 0, or 1 when the agent does not answer or has no such log.
            """
    )

    @Argument(help: "The project, as mirrors.d names it.")
    var project: String

    @OptionGroup var agents: AgentsOptions

    @Option(help: ArgumentHelp("The agent whose log to show: master, or a slave's name.", valueName: "host"))
    var host = "master"

    @Option(
        help: ArgumentHelp(
            "The run's id (as 'sync' prints it); by default the run in progress, else the last that ended.",
            valueName: "id"))
    var run: Int64?

    @Flag(help: "Follow a run in progress until it ends.")
    var follow = false

    func validate() throws {
        if agents.output != .text { throw ValidationError("logs prints the log as it is; --output is not for it") }
    }

    func run() async throws {
        // The same checks of the host and the project as sync and cancel, with "did you mean".
        let (_, client) = try agents.agent(host, serving: project, command: "logs")
        do throws(OperatorCallError) {
            try await client.runLog(project: project, run: run.map(String.init) ?? "latest", follow: follow) { piece in
                Terminal.write(String(decoding: piece, as: UTF8.self), to: .standardOutput)
            }
        } catch {
            Terminal.write("mirrorsync logs: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
    }
}
