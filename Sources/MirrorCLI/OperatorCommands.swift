import ArgumentParser
import Foundation
import MirrorCore
import MirrorReconciler

/// `mirrorsync cancel PROJECT [DIR] [--host HOST]`: stop a project's sync on the master or a slave.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Stop a project's sync in progress on the master or on a slave.",
        discussion: """
            The run's rsync is stopped with its whole process group (SIGTERM, then SIGKILL), and a run queued behind \
            it is dropped. The run is recorded as cancelled, not failed: no alert counts it, no hook runs, no slave is \
            triggered, and the project runs again at its next interval. Exit status: 0 when a run was cancelled, 1 \
            otherwise (nothing was running or queued: the agent's answer says so).
            """
    )

    @Argument(help: "The project, as mirrors.d names it.")
    var project: String

    @OptionGroup var agents: AgentsOptions

    @Option(
        help: ArgumentHelp("The host whose sync to stop: 'master' or a slave's name from mirrors.d.", valueName: "host")
    )
    var host = "master"

    func validate() throws { try agents.refuseMarkdown("cancel") }

    func run() async throws {
        // The agent answers once the run has ended: rsync gets a grace of 5 s after SIGTERM, and its stragglers as
        // much again, so the call may take longer than a usual one.
        var options = agents
        options.agentTimeout = max(agents.agentTimeout, 15)
        let (agent, client) = try options.agent(host, serving: project, command: "cancel")
        let answer: CancelResponse
        do throws(ClientError) { answer = try await client.cancel(project) } catch {
            Terminal.write("mirrorsync cancel: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        if agents.output == .json {
            agents.printJSON(answer)
            return
        }
        var out = ""
        for run in answer.runs {
            let ran =
                run.startedAt.map { start in
                    String(format: " after %.1f s", (run.endedAt ?? Date()).timeIntervalSince(start))
                } ?? " before it started"
            out +=
                "run \(run.id) of \(project) on \(agent.label): \(run.result?.rawValue ?? "?")\(ran)\(run.message.map { ": \($0)" } ?? "")\n"
        }
        Terminal.write(out, to: .standardOutput)
    }
}

extension AgentsOptions {
    /// The agent `--host` names and a client for it, after checking against mirrors.d that the host exists and holds
    /// the project; otherwise one line on stderr naming what would do (with "did you mean") and exit 1.
    func agent(_ host: String, serving project: String, command: String) throws -> (DesiredAgent, any AgentClient) {
        let state = try load()
        func fail(_ message: String) -> ExitCode {
            Terminal.write("mirrorsync \(command): error: \(message)\n", to: .standardError)
            return ExitCode(1)
        }
        guard state.projects[project] != nil else {
            throw fail(
                "mirrors.d has no project '\(project)'\(Suggestion.hint(for: project, among: state.projects.keys))")
        }
        let desired = DesiredAgent.all(from: state)
        guard let agent = desired.first(where: { $0.name == host }) else {
            let hosts = desired.map(\.name)
            throw fail(
                "mirrors.d has no host '\(host)'\(Suggestion.hint(for: host, among: hosts)) (hosts: \(hosts.joined(separator: ", ")))"
            )
        }
        // `order` is what this agent holds; `spec(_:)` reads a table the slaves share.
        guard agent.order.contains(project) else {
            let serving = desired.filter { $0.role == .slave && $0.order.contains(project) }.map(\.name)
            throw fail(
                "\(agent.label) does not serve project '\(project)'"
                    + (serving.isEmpty ? "; no slave does" : " (served by \(serving.joined(separator: ", ")))"))
        }
        guard let client = try clients(state, [agent])[agent.name] else { throw ExitCode(1) }
        return (agent, client)
    }
}
