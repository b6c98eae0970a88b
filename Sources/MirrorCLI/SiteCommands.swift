import ArgumentParser
import Foundation
import Logging
import MirrorCore
import MirrorSite
#if canImport(Glibc)
    import Glibc
#endif

/// `mirrorsync init [DIR]`: a starter mirrors.d for one host.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a starter mirrors.d for one host: the master and one slave, ready for 'mirrorsync up'.",
        discussion: """
            Writes 00-master.yaml, 10-intervals.yaml, 20-upstreams.yaml, 30-slaves.yaml and 40-projects.yaml, \
            commented and valid, and mirrors.schema.json for editors (yaml-language-server reads the first line \
            of each file). The site mirrors GNU Hello from ftp.gnu.org into --root, and its one slave, 'www', \
            serves it from --public-dir. Nothing is written when one of the files exists already.

            Then: edit the files, 'mirrorsync validate DIR', and 'mirrorsync up DIR'.
            """
    )

    @Argument(help: ArgumentHelp("The directory to write (made if missing).", valueName: "dir"))
    var directory: String = "mirrors.d"

    @Option(help: ArgumentHelp("Where 'up' keeps the agents' stores and the token.", valueName: "dir"))
    var stateDir: String = LocalSite.defaultStateDirectory

    @Option(help: ArgumentHelp("The master's tree.", valueName: "dir"))
    var root: String = "mirror/master"

    @Option(help: ArgumentHelp("The public tree the slave 'www' serves.", valueName: "dir"))
    var publicDir: String = "mirror/public"

    func run() throws {
        let starter = StarterSite(
            stateDirectory: absolute(stateDir), root: absolute(root), publicDir: absolute(publicDir))
        let written: [String]
        do throws(ValueError) { written = try starter.write(into: directory) } catch {
            Terminal.write("mirrorsync init: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        var text = written.map { "wrote \($0)\n" }.joined()
        text += """

            Next:
              mirrorsync validate \(directory)     # check it offline
              mirrorsync up \(directory)           # run the site here: master, slave 'www' and the watching reconciler

            """
        Terminal.write(text, to: .standardOutput)
    }
}

/// `mirrorsync up [DIR]`: a whole site on this machine, each agent and the reconciler a child process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract:
            "Run a whole site on this machine: the master, the slaves whose API is here, and 'reconcile --watch'.",
        discussion: """
            Each runs as a child process of its own ('mirrorsync master', 'mirrorsync slave --name NAME', \
            'mirrorsync reconcile DIR --watch'), listening where mirrors.d says its API is, with its store under \
            --state-dir. Their logs share this terminal, each line prefixed by its component ('master |', \
            'ftp1 |', 'reconcile |'). A child that dies is started again (at once, then with backoff up to a \
            minute), and 'up |' says so. Agents whose API is on another host are listed, not started: run \
            'mirrorsync slave' there.

            master.tokenFile is the operator's token, which only the reconciler is given; when it does not exist, it is \
            made in --state-dir (mode 0600) on the first run and kept; pass it to 'status' and 'sync' with --token-file. \
            Each agent started here sends a credential of its own (STATE/NAME/credential) and accepts only the \
            verifiers in STATE/NAME/accepted, which up keeps in step: docs/security.md.

            Ctrl-C or SIGTERM stops the reconciler, then the agents, each with everything it started; the exit \
            status is then 0. An invalid mirrors.d starts nothing and exits 1.
            """
    )

    @Argument(help: ArgumentHelp("The directory that holds the *.yaml files.", valueName: "dir"))
    var directory: String = "mirrors.d"

    @Option(
        help: ArgumentHelp("Where the agents keep their stores (and the token, when up makes it).", valueName: "dir"))
    var stateDir: String = LocalSite.defaultStateDirectory

    @Option(
        help: ArgumentHelp(
            "The agents' log level: trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(
        name: .customLong("allow-exec"),
        help: ArgumentHelp(
            "Passed to each agent this starts: a directory whose programs the hooks may run; repeatable. Without it no hook runs.",
            valueName: "dir"))
    var allowExec: [String] = []

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp(
            "For the agents here whose api is https://: the certificate they serve (PEM); with --tls-key.",
            valueName: "file"))
    var tlsCert: String?

    @Option(
        name: .customLong("tls-key"),
        help: ArgumentHelp("The certificate's private key (PEM); with --tls-cert.", valueName: "file"))
    var tlsKey: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: the certificate and its private key")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level takes trace, debug, info, notice, warning, error or critical; got '\(logLevel)'")
        }
    }

    func run() async throws {
        let allowExec = self.allowExec.map(absolute)
        let report = ValidationReport(directory: directory, allowExec: allowExec)
        guard let state = report.state else {
            Terminal.write(
                report.render(.text, color: Terminal.wantsColor(fileDescriptor: 2)).stderr, to: .standardError)
            throw ExitCode(1)
        }
        let stateDirectory = absolute(stateDir)
        let tokenFileExists = FileManager.default.fileExists(atPath: state.master.tokenFile)
        let here = LocalAddresses.current()
        let tls = tlsCert.map { ["--tls-cert", absolute($0), "--tls-key", absolute(tlsKey ?? "")] } ?? []
        let site = LocalSite.plan(
            state, directory: absolute(directory), stateDirectory: stateDirectory, logLevel: logLevel,
            tokenFileExists: tokenFileExists, tls: tls, allowExec: allowExec, isLocal: here.contains)
        // An agent here whose api is https:// cannot be served without a certificate: said before anything starts.
        if tls.isEmpty, let https = site.components.first(where: { Self.httpsAPI($0, state) }) {
            Terminal.write(
                "mirrorsync up: error: \(https.name)'s api is https://: give up --tls-cert and --tls-key, the certificate it serves and its key\n",
                to: .standardError)
            throw ExitCode(1)
        }
        let output = SiteOutput(
            names: site.components.map(\.name) + ["up"], color: Terminal.wantsColor(fileDescriptor: 1))
        do throws(ValueError) {
            try SiteDirectory.make(stateDirectory)
            if site.tokenIsGenerated {
                let made = try SiteToken.ensure(site.tokenFile)
                output.write(
                    "up",
                    (made ? "made the operator's token in " : "the operator's token is ") + site.tokenFile
                        + (site.tokenFile == state.master.tokenFile
                            ? "" : " (master.tokenFile \(state.master.tokenFile) does not exist)"))
            }
            // Each agent started here gets its own credential; the operator's token stays with the reconciler.
            for note in try SiteCredentials.prepare(site, operatorTokenFile: site.tokenFile) {
                output.write("up", note)
            }
        } catch {
            Terminal.write("mirrorsync up: error: \(error.message)\n", to: .standardError)
            throw ExitCode(1)
        }
        guard let executable = Self.executable() else {
            Terminal.write(
                "mirrorsync up: error: cannot find this program's own file (/proc/self/exe)\n", to: .standardError)
            throw ExitCode(1)
        }
        for component in site.components {
            switch component.kind {
            case .master, .slave:
                output.write(
                    "up",
                    "\(component.name): \(component.kind.rawValue) agent on \(component.listen.map { "\($0.host):\($0.port)" } ?? "?"), store in \(component.stateDirectory ?? "?")"
                )
            case .reconciler:
                output.write("up", "reconcile: watching \(directory)")
            }
        }
        for agent in site.elsewhere {
            output.write(
                "up",
                "\(agent.name): expected on another host at \(agent.api) (run 'mirrorsync \(agent.name == "master" ? "master" : "slave --name \(agent.name)")' there)"
            )
        }
        output.write("up", "Ctrl-C stops the site")
        let runner = LocalSiteRunner(
            site: site, executable: executable, output: output, logger: commandLogger("mirrorsync.up", level: .warning))
        try await runner.run()
        output.write("up", "every process of the site has stopped")
    }

    /// Whether a component is an agent with an https:// api.
    static func httpsAPI(_ component: SiteComponent, _ state: DesiredState) -> Bool {
        switch component.kind {
        case .master: return state.master.api.hasPrefix("https://")
        case .slave: return state.slaves[component.name]?.api.hasPrefix("https://") ?? false
        case .reconciler: return false
        }
    }

    /// This program's own file, to start the children with.
    static func executable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `path` made absolute against the working directory, without `.` or `..` segments.
func absolute(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return URL(fileURLWithPath: full).standardizedFileURL.path
}
