import Foundation
import MirrorCore

/// One process of a site that `mirrorsync up` runs: an agent or the watching reconciler.
public struct SiteComponent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case master, slave, reconciler
    }

    /// How it is named in the prefix of its log lines: `master`, the slave's name, `reconcile`.
    public var name: String
    public var kind: Kind
    /// The arguments after the `mirrorsync` executable.
    public var arguments: [String]
    /// An agent's API address, which `up` waits for before it starts the reconciler.
    public var listen: (host: String, port: Int)?
    /// Where an agent keeps its store; `up` finds a process left behind by a killed `up` by it.
    public var stateDirectory: String?

    public init(
        name: String, kind: Kind, arguments: [String], listen: (host: String, port: Int)?, stateDirectory: String?
    ) {
        self.name = name
        self.kind = kind
        self.arguments = arguments
        self.listen = listen
        self.stateDirectory = stateDirectory
    }

    public static func == (a: SiteComponent, b: SiteComponent) -> Bool {
        a.name == b.name && a.kind == b.kind && a.arguments == b.arguments && a.listen?.host == b.listen?.host
            && a.listen?.port == b.listen?.port && a.stateDirectory == b.stateDirectory
    }
}

/// What `mirrorsync up` runs on this host for a desired state: the master when its API is here, every slave whose
/// API is here, and always `reconcile --watch`; and the agents it expects to find on other hosts.
public struct LocalSite: Sendable, Equatable {
    /// In the order they start: agents first, the reconciler last (and it stops first).
    public var components: [SiteComponent]
    /// Agents whose API is on another host: `(name, api)`.
    public var elsewhere: [AgentElsewhere]
    /// The operator's token file, which the reconciler is given; the agents have their own (`SiteCredentials`).
    public var tokenFile: String
    /// Whether `up` makes the token, because the desired state's `master.tokenFile` does not exist.
    public var tokenIsGenerated: Bool
    /// The slaves in tiers, each with the slave it pulls from: whose credential each agent accepts (`SiteCredentials`).
    public var tiers: [String: String] = [:]

    public struct AgentElsewhere: Sendable, Equatable {
        public var name: String
        public var api: String

        public init(name: String, api: String) {
            self.name = name
            self.api = api
        }
    }

    /// Where `up` keeps everything by default: `./.mirrorsync`.
    public static let defaultStateDirectory = ".mirrorsync"

    /// Each agent is bounded by what mirrors.d names for it, as it is when `up` starts: the master may write only in
    /// `master.root` (`--allow-root`) and read only the local upstreams (`--allow-local-upstream`, one per upstream
    /// whose URL is a path), a slave may write only in its `publicDir`.
    ///
    /// - Parameters:
    ///   - isLocal: whether a host name or address of an agent's API is this host's.
    ///   - tokenFileExists: whether `master.tokenFile` exists; if not, the token is `STATE/token`.
    ///   - tls: `--tls-cert` and `--tls-key` for the agents whose API is https://.
    ///   - allowExec: `--allow-exec` for every agent: the directories whose programs hooks may run.
    public static func plan(
        _ state: DesiredState, directory: String, stateDirectory: String, logLevel: String = "info",
        tokenFileExists: Bool, tls: [String] = [], allowExec: [String] = [], isLocal: (String) -> Bool
    ) -> LocalSite {
        let tokenFile = tokenFileExists ? state.master.tokenFile : stateDirectory + "/token"
        var components: [SiteComponent] = []
        var elsewhere: [AgentElsewhere] = []
        // Each agent sends its own credential and accepts the verifiers in its state directory (`SiteCredentials`);
        // the operator's token goes to the reconciler alone.
        func common(_ dir: String) -> [String] {
            [
                "--token-file", SiteCredentials.tokenFile(dir), "--accept-file", SiteCredentials.acceptFile(dir),
                "--log-level", logLevel,
            ]
                + allowExec.flatMap { ["--allow-exec", $0] }
        }
        func served(_ api: String) -> [String] { api.hasPrefix("https://") ? tls : [] }
        if let listen = listenAddress(state.master.api), isLocal(listen.host) {
            let dir = stateDirectory + "/master"
            components.append(
                SiteComponent(
                    name: "master", kind: .master,
                    arguments: ["master", "--listen", listen.text, "--state-dir", dir] + common(dir)
                        + served(state.master.api)
                        + ["--allow-root", state.master.root]
                        + localUpstreams(state).flatMap { ["--allow-local-upstream", $0] },
                    listen: (listen.host, listen.port), stateDirectory: dir))
        } else {
            elsewhere.append(AgentElsewhere(name: "master", api: state.master.api))
        }
        for (name, slave) in state.slaves.sorted(by: { $0.key < $1.key }) {
            if let listen = listenAddress(slave.api), isLocal(listen.host) {
                let dir = stateDirectory + "/slave-" + name
                components.append(
                    SiteComponent(
                        name: name, kind: .slave,
                        arguments: ["slave", "--name", name, "--listen", listen.text, "--state-dir", dir] + common(dir)
                            + served(slave.api) + ["--allow-root", slave.publicDir],
                        listen: (listen.host, listen.port), stateDirectory: dir))
            } else {
                elsewhere.append(AgentElsewhere(name: name, api: slave.api))
            }
        }
        components.append(
            SiteComponent(
                name: "reconcile", kind: .reconciler,
                arguments: ["reconcile", directory, "--watch", "--token-file", tokenFile],
                listen: nil, stateDirectory: nil))
        return LocalSite(
            components: components, elsewhere: elsewhere, tokenFile: tokenFile, tokenIsGenerated: !tokenFileExists,
            tiers: state.slaves.compactMapValues(\.from))
    }

    /// The directories of the upstreams whose URL is a path, sorted.
    static func localUpstreams(_ state: DesiredState) -> [String] {
        Set(
            state.upstreams.values.compactMap { upstream -> String? in
                if case .local(let path) = upstream.url { return path }
                return nil
            }
        ).sorted()
    }

    /// An agent's arguments without its bounds (`--allow-...`, last): what stays the same while mirrors.d's roots and
    /// upstreams change, by which `up` knows a process a killed `up` left behind.
    public static func identity(_ arguments: some Collection<String>) -> [String] {
        Array(arguments.prefix { !$0.hasPrefix("--allow-") })
    }

    /// The host and port an agent listens on for its API URL: the URL's port, or 80 and 443 by its scheme.
    public static func listenAddress(_ api: String) -> (host: String, port: Int, text: String)? {
        guard let components = URLComponents(string: api), var host = components.host else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (components.scheme?.lowercased() == "https" ? 443 : 80)
        return (host, port, host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
    }
}
