import ArgumentParser
import Foundation
import Logging
import MirrorAgent
import MirrorCore

/// The flags both agents take.
struct AgentFlags: ParsableArguments {
    @Option(help: ArgumentHelp("The address and port the agent's API listens on.", valueName: "host:port"))
    var listen: String?

    @Option(
        help: ArgumentHelp(
            "The file holding the credential this agent sends to its peers; it must not be readable by every user. "
                + "Without --accept-file, it is also the one token the agent accepts, for every role (the old, shared way).",
            valueName: "file"))
    var tokenFile: String

    @Option(
        help: ArgumentHelp(
            "The verifiers of the credentials this agent accepts, one a line as 'mirrorsync credential' prints them "
                + "(operator, master, slave NAME); read again when it changes.", valueName: "file"))
    var acceptFile: String?

    @Option(help: ArgumentHelp("Where the agent keeps its store (created if missing).", valueName: "dir"))
    var stateDir: String

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(
        name: .customLong("allow-root"),
        help: ArgumentHelp(
            "A directory the root (the master's root, a slave's public directory) may be in; repeatable. Without it any directory "
                + "may, except /, the system's directories (/etc, /usr, /var/lib, ...) and the state directory, which are refused in any case.",
            valueName: "dir"))
    var allowRoots: [String] = []

    @Option(
        name: .customLong("allow-local-upstream"),
        help: ArgumentHelp(
            "A directory a local upstream (an upstream URL that is a path) may be read from; repeatable. Without it none may.",
            valueName: "dir"))
    var allowLocalUpstreams: [String] = []

    @Option(
        name: .customLong("allow-exec"),
        help: ArgumentHelp(
            "A directory whose programs a project's hooks may run; repeatable. Without it no hook runs. It, the directories above it "
                + "and its programs must not be writable by group or others, nor owned by the agent's user unless that is root.",
            valueName: "dir"))
    var allowExec: [String] = []

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp(
            "Serve the API over TLS with this certificate (PEM; its chain after it); with --tls-key.", valueName: "file"
        ))
    var tlsCert: String?

    @Option(
        name: .customLong("tls-key"),
        help: ArgumentHelp("The TLS certificate's private key (PEM); with --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(
        help: ArgumentHelp(
            "This host's name in Debian trace files (project/trace/NAME); the machine's fully qualified name by default.",
            valueName: "name"))
    var traceHost: String?

    @Option(
        help: ArgumentHelp(
            "Close a connection with no request in progress after this long without a byte of one.",
            valueName: "seconds"))
    var idleTimeout: Double = 30

    @Option(
        help: ArgumentHelp(
            "Close a connection whose next request has not arrived in full this long after it opened or was last answered.",
            valueName: "seconds"))
    var requestTimeout: Double = 30

    @Option(help: ArgumentHelp("Connections open at once; a request on one more is answered 503.", valueName: "n"))
    var maxConnections: Int = ConnectionLimits().maxConnections

    @Option(
        help: ArgumentHelp(
            "Long polls (?wait=) and log follows (?follow=true) held at once; one more is answered 503.", valueName: "n"
        ))
    var maxLongPolls: Int = ConnectionLimits().maxLongPolls

    /// `host:port`, `[v6]:port` or `:port` (all addresses).
    static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("--listen takes HOST:PORT, such as 127.0.0.1:7070; got '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    func validate() throws {
        if let listen { _ = try Self.parseListen(listen) }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: the certificate and its private key")
        }
        if let traceHost, traceHost.isEmpty || traceHost.contains("/") || traceHost.hasPrefix(".") {
            throw ValidationError("--trace-host takes a host name (no '/', not starting with '.'); got '\(traceHost)'")
        }
        for (flag, seconds) in [("--idle-timeout", idleTimeout), ("--request-timeout", requestTimeout)]
        where !(seconds > 0 && seconds <= 86_400) {
            throw ValidationError("\(flag) takes seconds, more than 0 and at most a day; got \(seconds)")
        }
        for (flag, count) in [("--max-connections", maxConnections), ("--max-long-polls", maxLongPolls)] where count < 1
        {
            throw ValidationError("\(flag) takes a count, 1 or more; got \(count)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level takes trace, debug, info, notice, warning, error or critical; got '\(logLevel)'")
        }
    }

    /// Runs an agent until SIGTERM; a start that fails is one line on stderr and exit 1.
    func run(role: AgentRole, name: String, defaultListen: String, configure: (inout AgentOptions) -> Void = { _ in })
        async throws
    {
        let (host, port) = try Self.parseListen(listen ?? defaultListen)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "mirrorsync.\(role.rawValue)")
        logger.logLevel = level
        var options = AgentOptions(
            role: role, name: name, host: host, port: port, tokenFile: tokenFile, stateDirectory: stateDir,
            allowRoots: allowRoots, allowLocalUpstreams: allowLocalUpstreams)
        options.allowExec = allowExec
        options.acceptFile = acceptFile
        options.tlsCertificateFile = tlsCert
        options.tlsKeyFile = tlsKey
        options.traceHost = traceHost
        options.limits = ConnectionLimits(
            idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
            requestTimeout: .milliseconds(Int64(requestTimeout * 1000)),
            maxConnections: maxConnections, maxLongPolls: maxLongPolls)
        configure(&options)
        do {
            let daemon = try AgentDaemon(options: options, logger: logger)
            try await daemon.run()
        } catch {
            Terminal.write("mirrorsync \(role.rawValue): error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
    }
}

/// `mirrorsync master`: the master agent.
struct MasterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Run the master agent: it pulls every project from its upstream and serves it to the slaves.",
        discussion: """
            The agent starts empty and is configured through its API (by 'mirrorsync reconcile'): settings, \
            then projects. It keeps what it was given, and every run, in --state-dir, so a restart loses nothing. \
            It runs an rsync daemon for its slaves (master.rsyncd) and triggers them after each successful sync. \
            SIGTERM stops it gracefully: the API stops taking work, running syncs end and are recorded as interrupted.
            """
    )

    @OptionGroup var flags: AgentFlags

    @Option(help: "The agent's name in its state and logs.")
    var name: String = "master"

    @Option(
        help: ArgumentHelp(
            "The least time between two runs of a project that an upstream's pushes start; pushes sooner "
                + "than that wait for it, never refused.", valueName: "seconds"))
    var pushGap: Double = 30

    @Option(
        help: ArgumentHelp(
            "How long the slaves of a stage: site project may take over their first stage; then the ones "
                + "that finished run the second without the rest.", valueName: "seconds"))
    var stageTimeout: Double = StagedRollouts.defaultTimeout

    @Option(
        help: ArgumentHelp(
            "The program that sends notify:'s mail, run as PROGRAM -t -oi with the message on its standard input "
                + "(an absolute path).", valueName: "path"))
    var sendmail: String = AgentOptions.defaultSendmail

    func validate() throws {
        guard sendmail.hasPrefix("/") else {
            throw ValidationError("--sendmail takes an absolute path, such as /usr/sbin/sendmail; got '\(sendmail)'")
        }
        guard pushGap >= 0, pushGap.isFinite else {
            throw ValidationError("--push-gap takes seconds, 0 or more; got \(pushGap)")
        }
        guard stageTimeout > 0, stageTimeout.isFinite else {
            throw ValidationError("--stage-timeout takes seconds, more than 0; got \(stageTimeout)")
        }
    }

    func run() async throws {
        try await flags.run(role: .master, name: name, defaultListen: "127.0.0.1:7070") {
            $0.policy.pushGap = pushGap
            $0.policy.stageTimeout = stageTimeout
            $0.sendmail = sendmail
        }
    }
}

/// `mirrorsync slave`: a slave agent.
struct SlaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slave",
        abstract: "Run a slave agent: it pulls the projects assigned to it into its public directory.",
        discussion: """
            Like the master, it starts empty, is configured through its API, and keeps its state in --state-dir. \
            It pulls each project from the master's rsync daemon when the master triggers it, when it finds \
            itself behind the master's revision, and every 6 hours; it reports each finished pull to the master.
            """
    )

    @OptionGroup var flags: AgentFlags

    @Option(help: "The slave's name, as mirrors.d names it under 'slaves:'.")
    var name: String

    @Option(
        help: ArgumentHelp(
            "How often the slave asks the master for its revisions, besides at start, in seconds.", valueName: "seconds"
        ))
    var catchUpInterval: Double = 300

    func validate() throws {
        do throws(ValueError) { try ObjectName.validate(name) } catch {
            throw ValidationError("--name: \(error.message)")
        }
        guard catchUpInterval >= 1 else {
            throw ValidationError("--catch-up-interval takes at least 1 second; got \(catchUpInterval)")
        }
    }

    func run() async throws {
        try await flags.run(role: .slave, name: name, defaultListen: "127.0.0.1:7071") {
            $0.catchUpInterval = catchUpInterval
        }
    }
}
