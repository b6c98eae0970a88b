import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// The built `mirrorsync` binary.
enum Binary {
    static let path = builtProduct("mirrorsync")
}

/// An agent as a separate process of the built binary, on a loopback port, logging to a file.
final class AgentProcess: @unchecked Sendable {
    // `process` is replaced only by `start()`, which the test calls from one task; nothing else mutates it.
    let role: AgentRole
    let name: String
    let port: Int
    let stateDirectory: String
    let tokenFile: String
    let token: String
    /// The token its API calls in the tests carry: its own, or the operator's on a site with scoped credentials.
    var bearer: String
    let log: String
    private(set) var process: Process?

    /// An agent with a token of its own, or the site's shared one (`sharing`'s); it may read local upstreams in `scratch`.
    /// `environment`: added to the test's own, for the agent's process (a `PATH` that finds a wrapped rsync first).
    init(
        role: AgentRole, name: String, scratch: Scratch, sharing other: AgentProcess? = nil,
        extraArguments: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        self.role = role
        self.name = name
        self.environment = environment
        // The tests make their local upstreams in the scratch directory.
        self.extraArguments = ["--allow-local-upstream", scratch.path] + extraArguments
        port = freePort()
        stateDirectory = scratch.path + "/\(name)-state"
        log = scratch.path + "/\(name).log"
        if let other {
            tokenFile = other.tokenFile
            token = other.token
        } else {
            tokenFile = scratch.path + "/\(name).token"
            token = "token-\(UUID().uuidString)"
            try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            chmod(tokenFile, 0o600)
        }
        bearer = token
    }

    let extraArguments: [String]
    let environment: [String: String]

    var base: String { "http://127.0.0.1:\(port)" }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        var arguments = [
            role.rawValue, "--listen", "127.0.0.1:\(port)", "--token-file", tokenFile, "--state-dir", stateDirectory,
            "--log-level", "debug",
        ]
        if role == .slave || name != "master" { arguments += ["--name", name] }
        arguments += extraArguments
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let port = self.port
        guard try await offPool({ RsyncDaemon.waitForListener(port: port, seconds: 20) }) else {
            throw ValueError("\(name) did not listen on \(port); see \(log)")
        }
    }

    /// Sends `signal` and waits, on a thread of its own, for the process to end; returns its exit status.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        (try? await offPool { self.stopBlocking(signal) }) ?? -1
    }

    @discardableResult
    func stopBlocking(_ signal: Int32) -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    var terminationReason: Process.TerminationReason? { process.map { $0.isRunning ? .exit : $0.terminationReason } }

    // SIGTERM first: the master stops the rsync daemon it runs in a process group of its own, which SIGKILL would leave.
    deinit {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<500 where process.isRunning { usleep(20_000) }
        stopBlocking(SIGKILL)
    }

    struct Reply {
        var status: Int
        var body: Data
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try APICoding.decoder().decode(type, from: body) }
    }

    /// A call with `bearer`, or with `token` when given (a credential used against this agent).
    func request(
        _ method: String, _ path: String, json: (some Encodable)? = Optional<String>.none, token: String? = nil
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(token ?? bearer)", forHTTPHeaderField: "Authorization")
        if let json { request.httpBody = try APICoding.encoder().encode(json) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Reply(status: (response as! HTTPURLResponse).statusCode, body: data)
    }

    func state() async throws -> AgentState { try await request("GET", "/v1/state").decode(AgentState.self) }

    /// Waits until `condition` holds for the agent's state.
    func wait(_ what: String, seconds: Double = 60, _ condition: (AgentState) -> Bool) async throws -> AgentState {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let state = try? await state(), condition(state) { return state }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValueError(
            "\(name): never \(what) within \(Int(seconds))s; log: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? "")"
        )
    }
}

func projectSpec(_ url: String, path: String, every: Int = 3600, tweak: (inout AgentProjectSpec) -> Void = { _ in })
    throws -> AgentProjectSpec
{
    var spec = AgentProjectSpec(
        upstream: UpstreamSpec(url: try UpstreamLocation.parse(url)), path: path,
        interval: .every(TimeSpan(seconds: every)))
    tweak(&spec)
    return spec
}
