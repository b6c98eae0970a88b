import ArgumentParser
import Foundation
import MirrorCore

/// `mirrorsync sync PROJECT [DIR] [--host HOST]`: run a project's sync on the master, or a slave's pull, now.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Run a project's sync on the master (or, with --host, a slave's pull from the master) now.",
        discussion: "Exit status: 0 when the run was queued (with --wait: when it succeeded), 1 otherwise."
    )

    @Argument(help: "The project, as mirrors.d names it.")
    var project: String

    @OptionGroup var agents: AgentsOptions

    @Option(
        help: ArgumentHelp(
            "The host to sync on: 'master' (from the upstream) or a slave's name from mirrors.d (from the master).",
            valueName: "host"))
    var host = "master"

    @Flag(help: "Follow the run to its end, showing its progress, and exit with its result.")
    var wait = false

    @Option(help: ArgumentHelp("With --wait, how long to follow the run, in seconds.", valueName: "seconds"))
    var waitTimeout: Double = 6 * 3600

    func validate() throws { try agents.refuseMarkdown("sync") }

    func run() async throws {
        let (target, agent) = try agents.agent(host, serving: project, command: "sync")
        let accepted: SyncResponse
        do throws(OperatorCallError) { accepted = try await agent.requestSync(project) } catch {
            Terminal.write("mirrorsync sync: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        guard wait else {
            if agents.output == .json {
                agents.printJSON(accepted)
            } else {
                Terminal.write(
                    "run \(accepted.runID) of \(project) queued on \(target.role == .master ? "the master" : target.label)\n",
                    to: .standardOutput)
            }
            return
        }
        // Followed through the agent's long poll, with its progress shown (RunFollower.swift).
        var follower = RunFollower(
            project: project, runID: accepted.runID,
            display: ProgressDisplay(style: ProgressDisplay.style(json: agents.output == .json)))
        let run: RunRecord?
        do throws(OperatorCallError) { run = try await follower.follow(agent, timeout: waitTimeout) } catch {
            Terminal.write("mirrorsync sync: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        guard let run, run.state == .finished else {
            Terminal.write(
                "mirrorsync sync: run \(accepted.runID) did not finish within \(Int(waitTimeout)) s\n",
                to: .standardError)
            throw ExitCode(1)
        }
        if agents.output == .json {
            agents.printJSON(run)
        } else {
            Terminal.write(
                "run \(run.id) of \(project): \(run.result?.rawValue ?? "?")\(run.message.map { ": \($0)" } ?? "")\n",
                to: .standardOutput)
        }
        if run.result?.isSuccess != true { throw ExitCode(1) }
    }
}

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
        do throws(OperatorCallError) { answer = try await client.cancel(project) } catch {
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
    /// The agent `--host` names and a client for it (`OperatorClient`), after checking against mirrors.d that the host
    /// exists and holds the project; otherwise one line on stderr naming what would do (with "did you mean") and exit 1.
    func agent(_ host: String, serving project: String, command: String) throws -> (DesiredAgent, OperatorClient) {
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
        let client = OperatorClient(
            base: agent.api, token: try token(state), timeout: agentTimeout, transport: agent.transport)
        return (agent, client)
    }
}
