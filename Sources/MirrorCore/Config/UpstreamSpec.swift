/// Where projects come from, and how to reach it: an rsync daemon, a directory on the master, or a program
/// (`command`) that brings the tree itself.
public struct UpstreamSpec: Sendable, Hashable, Codable {
    public var url: UpstreamLocation
    /// The file holding the rsync password for the user in `url`; never the password itself.
    public var passwordFile: String?
    /// The longest one sync from this upstream may run before it is stopped.
    public var timeout: TimeSpan
    /// rsync's `--timeout`: how long the transfer may sit without I/O.
    public var ioTimeout: TimeSpan
    public var bandwidthLimit: ByteSize?
    /// Where the rsync password comes from when it is not in `passwordFile`: only a slave's pull from the master's
    /// module has one (`site`); mirrors.d cannot write it.
    public var credential: UpstreamCredential?
    /// The file on the master holding the token with which this upstream announces a new tree
    /// (`POST /v1/projects/{name}/trigger`), for every project that comes from it and names none of its own.
    public var pushTokenFile: String?
    /// A program that brings the tree, run by the master in the project's tree: its absolute path and its arguments
    /// (an argv; never a shell). `url` is then the program's to read.
    public var command: [String]?
    /// Variables added to the program's environment.
    public var env: [String: String]?
    /// A regex over the program's output whose first group is the tree's size.
    public var sizePattern: String?
    /// A regex over the program's output whose match fails the run.
    public var failOnMatch: String?
    /// The program's exit codes that mean success; `[0]` when nil.
    public var successExitCodes: [Int]?
    /// A small file inside each project's tree on this upstream, fetched alone before a scheduled run; a project's
    /// own `probe` overrides it.
    public var probe: String?

    public static let defaultTimeout = TimeSpan(seconds: 6 * 3_600)
    public static let defaultIOTimeout = TimeSpan(seconds: 600)

    public init(
        url: UpstreamLocation, passwordFile: String? = nil, timeout: TimeSpan = defaultTimeout,
        ioTimeout: TimeSpan = defaultIOTimeout, bandwidthLimit: ByteSize? = nil, credential: UpstreamCredential? = nil
    ) {
        self.url = url
        self.passwordFile = passwordFile
        self.timeout = timeout
        self.ioTimeout = ioTimeout
        self.bandwidthLimit = bandwidthLimit
        self.credential = credential
    }

    enum CodingKeys: String, CodingKey {
        case url, passwordFile, timeout, ioTimeout, bandwidthLimit, credential, pushTokenFile, command, env,
            sizePattern, failOnMatch, successExitCodes, probe
    }

    /// As the synthesized decoding would, except `url`: a program's address when there is a `command`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decodeIfPresent([String].self, forKey: .command)
        let text = try c.decode(String.self, forKey: .url)
        do throws(ValueError) {
            url = command == nil ? try UpstreamLocation.parse(text) : try UpstreamLocation.parse(programURL: text)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .url, in: c, debugDescription: error.message)
        }
        passwordFile = try c.decodeIfPresent(String.self, forKey: .passwordFile)
        timeout = try c.decode(TimeSpan.self, forKey: .timeout)
        ioTimeout = try c.decode(TimeSpan.self, forKey: .ioTimeout)
        bandwidthLimit = try c.decodeIfPresent(ByteSize.self, forKey: .bandwidthLimit)
        credential = try c.decodeIfPresent(UpstreamCredential.self, forKey: .credential)
        pushTokenFile = try c.decodeIfPresent(String.self, forKey: .pushTokenFile)
        env = try c.decodeIfPresent([String: String].self, forKey: .env)
        sizePattern = try c.decodeIfPresent(String.self, forKey: .sizePattern)
        failOnMatch = try c.decodeIfPresent(String.self, forKey: .failOnMatch)
        successExitCodes = try c.decodeIfPresent([Int].self, forKey: .successExitCodes)
        probe = try c.decodeIfPresent(String.self, forKey: .probe)
    }
}
