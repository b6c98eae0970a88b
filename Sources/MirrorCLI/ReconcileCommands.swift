import ArgumentParser
import Foundation
import Logging
import MirrorCore
import MirrorReconciler

/// What the commands that talk to agents share: the directory, the token, timeouts and the output format.
struct AgentsOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The directory that holds the *.yaml files.", valueName: "dir"))
    var directory: String = "mirrors.d"

    @Option(help: ArgumentHelp("The bearer token's file; by default master.tokenFile from mirrors.d.", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("How long one call to an agent may take, in seconds.", valueName: "seconds"))
    var agentTimeout: Double = 5

    @Option(name: [.short, .long], help: "Print 'text' for people or 'json' for scripts.")
    var output: OutputFormat = .text

    /// The desired state, or the validation report and exit 1.
    func load() throws -> DesiredState {
        let report = ValidationReport(directory: directory)
        guard let state = report.state else {
            let rendered = report.render(.text, color: Terminal.wantsColor(fileDescriptor: 2))
            Terminal.write(rendered.stderr, to: .standardError)
            throw ExitCode(1)
        }
        return state
    }

    /// A client per agent: the master at master.api, each slave at its api, all with the shared token.
    func clients(_ state: DesiredState, _ agents: [AgentDesired]) throws -> [String: any AgentClient] {
        let file = tokenFile ?? state.master.tokenFile
        let token: String
        do throws(ValueError) { token = try TokenFile.read(file) } catch {
            Terminal.write("mirrorsync: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        return Dictionary(uniqueKeysWithValues: agents.map { ($0.name, HTTPAgentClient(base: $0.api, token: token, timeout: agentTimeout) as any AgentClient) })
    }

    func printJSON(_ value: some Encodable) {
        let encoder = APICoding.encoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        Terminal.write(String(decoding: data, as: UTF8.self) + "\n", to: .standardOutput)
    }
}

func commandLogger(_ label: String, level: Logger.Level = .notice) -> Logger {
    var logger = Logger(label: label) { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    logger.logLevel = level
    return logger
}

/// `mirrorsync reconcile [DIR]`: make the agents match mirrors.d.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Make the master and slave agents match mirrors.d.",
        discussion: """
            Reads every agent's state at once, computes the plan (create, update, remove, per agent and \
            object) and applies it, settings first, then projects; then reads the agents back to verify. \
            Agents that do not answer are retried with backoff until --timeout while the others converge. \
            A project removed from mirrors.d stops syncing and keeps its files unless --prune. A plan that \
            would remove more than half of the managed projects is refused unless --allow-mass-removal. \
            An invalid mirrors.d applies nothing.

            Exit status: with --dry-run, 0 when everything is in sync, 2 when changes are pending, 1 on an \
            error (an invalid config, an unreachable agent, a refused plan); without it, 0 when every agent \
            has converged, 1 otherwise.
            """
    )

    @OptionGroup var agents: AgentsOptions

    @Flag(help: "Show the plan against the live agents and change nothing.")
    var dryRun = false

    @Flag(help: "Also delete the files of removed projects, and remove projects put on agents by hand.")
    var prune = false

    @Flag(help: "Allow a plan that removes more than half of the managed projects.")
    var allowMassRemoval = false

    @Option(help: ArgumentHelp("How long to keep retrying agents that do not answer, in seconds.", valueName: "seconds"))
    var timeout: Double = 60

    func run() async throws {
        let state = try agents.load()
        let desired = DesiredAgents.from(state)
        let logger = commandLogger("mirrorsync.reconcile", level: agents.output == .json ? .critical : .notice)
        let reconciler = Reconciler(clients: try agents.clients(state, desired),
                                    options: .init(prune: prune, allowMassRemoval: allowMassRemoval), logger: logger)
        let color = Terminal.wantsColor(fileDescriptor: 1)
        if dryRun {
            let (plan, _) = await reconciler.plan(desired)
            if agents.output == .json { agents.printJSON(plan) } else { Terminal.write(PlanText.render(plan, color: color), to: .standardOutput) }
            if plan.refusal != nil || !plan.unreachable.isEmpty { throw ExitCode(1) }
            if !plan.isEmpty { throw ExitCode(2) }
            return
        }
        let report = await reconciler.reconcile(desired, timeout: timeout)
        if agents.output == .json {
            agents.printJSON(report)
        } else {
            var text = PlanText.render(report.plan, color: color)
            for failure in report.applied where failure.error != nil {
                text += "error: \(failure.agent): \(failure.action.name): \(failure.error!)\n"
            }
            for agent in report.conditions where agent.condition.status != .ready {
                text += "\(agent.role == .master ? "master" : "slave \(agent.agent)"): \(agent.condition.status.rawValue) (\(agent.condition.reason))"
                    + (agent.condition.message.map { ": \($0)" } ?? "") + "\n"
            }
            let applied = report.applied.filter { $0.error == nil }.count
            if report.converged {
                text += report.plan.isEmpty ? "Every agent matches mirrors.d.\n" : "Applied \(applied) changes; every agent has converged.\n"
            } else if let refused = report.refused {
                text += "Nothing applied: \(refused)\n"
            } else {
                text += "Applied \(applied) changes; not every agent converged within \(Int(timeout)) s.\n"
            }
            Terminal.write(text, to: .standardOutput)
        }
        if !report.converged { throw ExitCode(1) }
    }
}
