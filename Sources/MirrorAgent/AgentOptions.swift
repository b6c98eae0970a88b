import Foundation
import MirrorCore

/// What an agent needs to start; everything else arrives through its API.
public struct AgentOptions: Sendable {
    public var role: AgentRole
    public var name: String
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int
    /// The credential this agent sends to its peers; without `acceptFile`, also the one token it accepts, for every role.
    public var tokenFile: String
    /// `--accept-file`: the verifiers of the credentials this agent accepts, and each one's role (`AcceptedCredentials`).
    public var acceptFile: String?
    public var stateDirectory: String
    public var version: String
    public var policy: SyncScheduler.Policy
    /// Whether SIGTERM and SIGINT stop the agent; an agent inside tests is stopped with `shutdown()`.
    public var handleSignals: Bool
    /// How often a slave asks the master for its revisions, besides at start and when its projects change.
    public var catchUpInterval: TimeInterval
    /// The first wait before a trigger, report or catch-up that failed is tried again; it doubles up to a cap.
    public var peerRetryBase: TimeInterval
    /// The master's rsync daemon: the program to run (tests may point elsewhere).
    public var rsyncExecutable: String
    /// `--allow-root`: the directories a root (the master's root, a slave's public directory) may be in; empty: any
    /// directory but the file system's root, the system's directories and the state directory (`PathBounds`).
    public var allowRoots: [String]
    /// `--allow-local-upstream`: the directories a local upstream may be read from; empty: none.
    public var allowLocalUpstreams: [String]
    /// `--allow-exec`: the directories a hook's program may be in; empty: no program runs (`ExecAllowlist`).
    public var allowExec: [String] = []
    /// The API's TLS certificate (PEM, its chain after it) and private key (PEM): given both, the API is served over
    /// https:// only; neither, plain HTTP.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// This host in Debian trace files (`project/trace/<traceHost>`); nil: the machine's fully qualified name.
    public var traceHost: String?
    /// How many connections the API holds, and for how long.
    public var limits = ConnectionLimits()
    /// On the master, the program that sends notify:'s mail (`PROGRAM -t -oi`, the message on its standard input): the
    /// host's choice, never mirrors.d's.
    public var sendmail = Self.defaultSendmail
    public static let defaultSendmail = "/usr/sbin/sendmail"

    public init(
        role: AgentRole, name: String, host: String, port: Int, tokenFile: String, stateDirectory: String,
        version: String = "0.1.0", policy: SyncScheduler.Policy = .init(), handleSignals: Bool = true,
        catchUpInterval: TimeInterval = 300, peerRetryBase: TimeInterval = 1, rsyncExecutable: String = "rsync",
        allowRoots: [String] = [], allowLocalUpstreams: [String] = []
    ) {
        self.allowRoots = allowRoots
        self.allowLocalUpstreams = allowLocalUpstreams
        self.catchUpInterval = catchUpInterval
        self.peerRetryBase = peerRetryBase
        self.rsyncExecutable = rsyncExecutable
        self.role = role
        self.name = name
        self.host = host
        self.port = port
        self.tokenFile = tokenFile
        self.stateDirectory = stateDirectory
        self.version = version
        self.policy = policy
        self.handleSignals = handleSignals
    }
}
