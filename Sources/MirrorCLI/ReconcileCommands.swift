import ArgumentParser
import Foundation
import Logging
import MirrorCore
import MirrorReconciler
import ServiceLifecycle
import Synchronization

/// What the commands that talk to agents share: the directory, the token, timeouts and the output format.
struct AgentsOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The directory that holds the *.yaml files.", valueName: "dir"))
    var directory: String = "mirrors.d"

    @Option(
        help: ArgumentHelp("The bearer token's file; by default master.tokenFile from mirrors.d.", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("How long one call to an agent may take, in seconds.", valueName: "seconds"))
    var agentTimeout: Double = 5

    @Option(
        name: [.short, .long],
        help:
            "Print 'text' for people or 'json' for scripts; 'markdown' (reconcile --dry-run only) for a merge request.")
    var output: OutputFormat = .text

    /// `--output markdown` is a plan for a merge request: only `reconcile --dry-run` prints one.
    func refuseMarkdown(_ command: String) throws {
        if output == .markdown {
            throw ValidationError(
                "--output markdown is only for 'reconcile --dry-run'; \(command) prints 'text' or 'json'")
        }
    }

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
    func clients(_ state: DesiredState, _ agents: [DesiredAgent]) throws -> [String: any AgentClient] {
        let token = try token(state)
        return Dictionary(
            uniqueKeysWithValues: agents.map {
                (
                    $0.name,
                    HTTPAgentClient(base: $0.api, token: token, timeout: agentTimeout, transport: $0.transport)
                        as any AgentClient
                )
            })
    }

    /// The bearer token from `--token-file`, else master.tokenFile; or the reason on stderr and exit 1.
    func token(_ state: DesiredState) throws -> String {
        do throws(ValueError) { return try TokenFile.read(tokenFile ?? state.master.tokenFile) } catch {
            Terminal.write("mirrorsync: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
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

            With --watch it keeps running: it reconciles at start, on every change of mirrors.d (inotify; a burst \
            of changes waits for --debounce of quiet and becomes one reconcile), on SIGHUP, and every --resync to \
            repair drift. An invalid edit is logged as validate prints it and applies nothing; the fix applies \
            at once. SIGTERM or SIGINT stop it after the reconcile in progress. It logs one line per reconcile.
            """
    )

    @OptionGroup var agents: AgentsOptions

    @Flag(help: "Show the plan against the live agents and change nothing.")
    var dryRun = false

    @Flag(help: "Also delete the files of removed projects, and remove projects put on agents by hand.")
    var prune = false

    @Flag(help: "Allow a plan that removes more than half of the managed projects.")
    var allowMassRemoval = false

    @Option(
        help: ArgumentHelp("How long to keep retrying agents that do not answer, in seconds.", valueName: "seconds"))
    var timeout: Double = 60

    @Flag(help: "Keep running: reconcile on every change of mirrors.d, on SIGHUP, and every --resync.")
    var watch = false

    @Option(
        help: ArgumentHelp(
            "With --watch, a full reconcile this often, repairing drift (such as 90s, 5m, 1h).", valueName: "duration"))
    var resync: String = "5m"

    @Option(
        help: ArgumentHelp(
            "With --watch, the quiet time after a change before reconciling, in milliseconds.", valueName: "ms"))
    var debounce: Int = 50

    func validate() throws {
        if agents.output == .markdown && (watch || !dryRun) {
            throw ValidationError(
                "--output markdown prints a plan for a merge request; it goes with --dry-run only\(watch ? ", not with --watch" : "")"
            )
        }
        guard watch else { return }
        if dryRun { throw ValidationError("--watch applies what it finds; --dry-run cannot go with it") }
        if agents.output == .json { throw ValidationError("--watch logs to stderr; --output json cannot go with it") }
        if debounce < 0 || debounce > 60_000 {
            throw ValidationError("--debounce takes 0 to 60000 milliseconds; got \(debounce)")
        }
        do throws(ValueError) {
            guard try TimeSpan.parse(resync).seconds > 0 else { throw ValueError("it must be longer than 0s") }
        } catch { throw ValidationError("--resync: \(error.message)") }
    }

    func run() async throws {
        if watch { return try await runWatch() }
        let state = try agents.load()
        let desired = DesiredAgent.all(from: state)
        let logger = commandLogger("mirrorsync.reconcile", level: agents.output == .json ? .critical : .notice)
        let reconciler = Reconciler(
            clients: try agents.clients(state, desired),
            options: .init(prune: prune, allowMassRemoval: allowMassRemoval), logger: logger)
        let color = Terminal.wantsColor(fileDescriptor: 1)
        if dryRun {
            let (plan, _) = await reconciler.plan(desired)
            switch agents.output {
            case .json: agents.printJSON(plan)
            case .markdown: Terminal.write(PlanMarkdown.render(plan), to: .standardOutput)
            case .text: Terminal.write(Terminal.plan(plan, color: color), to: .standardOutput)
            }
            if plan.refusal != nil || !plan.unreachable.isEmpty { throw ExitCode(1) }
            if !plan.isEmpty { throw ExitCode(2) }
            return
        }
        let report = await reconciler.reconcile(desired, timeout: timeout)
        if agents.output == .json {
            agents.printJSON(report)
        } else {
            var text = Terminal.plan(report.plan, color: color)
            for failure in report.applied where failure.error != nil {
                text += "error: \(failure.agent): \(failure.action.name): \(failure.error!)\n"
            }
            for agent in report.conditions where agent.condition.status != .ready {
                text +=
                    "\(agent.role == .master ? "master" : "slave \(agent.agent)"): \(agent.condition.status.rawValue) (\(agent.condition.reason))"
                    + (agent.condition.message.map { ": \($0)" } ?? "") + "\n"
            }
            let applied = report.applied.filter { $0.error == nil }.count
            if report.converged {
                text +=
                    report.plan.isEmpty
                    ? "Every agent matches mirrors.d.\n" : "Applied \(applied) changes; every agent has converged.\n"
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

extension ReconcileCommand {
    /// `--watch`: the inotify watcher and the watch loop on a ServiceGroup that SIGTERM and SIGINT stop gracefully.
    func runWatch() async throws {
        let logger = commandLogger("mirrorsync.reconcile")
        let watcher: InotifyWatcher
        do throws(WatchError) { watcher = try InotifyWatcher(directory: agents.directory, logger: logger) } catch {
            Terminal.write("mirrorsync: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        let options = WatchOptions(
            debounce: Double(debounce) / 1000, resync: Double((try? TimeSpan.parse(resync).seconds) ?? 300),
            timeout: timeout, reloadOnSIGHUP: true)
        let cache = ClientCache(tokenFile: agents.tokenFile, callTimeout: agents.agentTimeout)
        let planner = Planner.Options(prune: prune, allowMassRemoval: allowMassRemoval)
        let loop = WatchLoop(directory: agents.directory, watcher: watcher, options: options, logger: logger) {
            state, desired throws(WatchError) in
            Reconciler(clients: try cache.clients(state, desired), options: planner, logger: logger)
        }
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: watcher), .init(service: loop)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // The reconcile in progress may run to its own timeout; past that, the group cancels it.
        configuration.maximumGracefulShutdownDuration = .seconds(timeout + 5)
        logger.notice(
            "watching",
            metadata: ["directory": "\(agents.directory)", "debounceMs": "\(debounce)", "resync": "\(resync)"])
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// The agents' clients, kept from one reconcile to the next while an agent's address, transport and the token stay the
/// same; the token file is read again each time, so that a new token is picked up.
final class ClientCache: Sendable {
    let tokenFile: String?
    let callTimeout: Double
    private let known = Mutex<[String: (key: Key, client: any AgentClient)]>([:])

    struct Key: Equatable {
        var api: String, token: String, transport: AgentTransport
    }

    init(tokenFile: String?, callTimeout: Double) {
        self.tokenFile = tokenFile
        self.callTimeout = callTimeout
    }

    func clients(_ state: DesiredState, _ agents: [DesiredAgent]) throws(WatchError) -> [String: any AgentClient] {
        let token: String
        do throws(ValueError) { token = try TokenFile.read(tokenFile ?? state.master.tokenFile) } catch {
            throw WatchError(error.message)
        }
        return known.withLock { known in
            var clients: [String: any AgentClient] = [:]
            for agent in agents {
                let key = Key(api: agent.api, token: token, transport: agent.transport)
                if let kept = known[agent.name], kept.key == key {
                    clients[agent.name] = kept.client
                } else {
                    let client = HTTPAgentClient(
                        base: agent.api, token: token, timeout: callTimeout, transport: agent.transport)
                    known[agent.name] = (key, client)
                    clients[agent.name] = client
                }
            }
            known = known.filter { clients[$0.key] != nil }
            return clients
        }
    }
}
