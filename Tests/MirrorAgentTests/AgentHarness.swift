import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// An agent running in this process on a loopback port, and a client for its API.
final class AgentHarness: Sendable {
    let scratch = Scratch("agent")
    let token = "test-token-\(UUID().uuidString)"
    let daemon: AgentDaemon
    let task: Task<Void, Never>
    let base: String
    let port: Int
    let tokenFile: String

    /// Local upstreams may be read from the harness's scratch directory (where the tests make them) unless
    /// `allowLocalUpstreams` says otherwise; hooks run programs from `allowExec` only; `limits`: the connections' bounds; `runner`: another than rsync's.
    init(
        role: AgentRole = .master, name: String = "master", policy: SyncScheduler.Policy = .init(maxAttempts: 1),
        stateDirectory: String? = nil, allowRoots: [String] = [], allowLocalUpstreams: [String]? = nil,
        allowExec: [String] = [],
        limits: ConnectionLimits = .init(), acceptFile: String? = nil, runner: (any SyncRunner)? = nil,
        sendmail: String? = nil
    ) async throws {
        tokenFile = scratch.path + "/token"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        var options = AgentOptions(
            role: role, name: name, host: "127.0.0.1", port: 0, tokenFile: tokenFile,
            stateDirectory: stateDirectory ?? scratch.path + "/state", policy: policy, handleSignals: false,
            allowRoots: allowRoots, allowLocalUpstreams: allowLocalUpstreams ?? [scratch.path])
        options.allowExec = allowExec
        options.limits = limits
        options.acceptFile = acceptFile
        if let sendmail { options.sendmail = sendmail }
        daemon = try AgentDaemon(options: options, runner: runner, logger: testLogger)
        let daemon = self.daemon
        task = Task { try? await daemon.run() }
        guard let port = await daemon.listeningPort() else { throw AgentStartError("the agent did not start") }
        self.port = port
        base = "http://127.0.0.1:\(port)"
    }

    func stop() async {
        await daemon.shutdown()
        await task.value
    }

    struct Reply {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try APICoding.decoder().decode(type, from: body) }
        var error: APIErrorBody.Detail? { (try? decode(APIErrorBody.self))?.error }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, token: String?? = .none) async throws -> Reply {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body
        let bearer: String? = token ?? self.token
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Reply(status: (response as! HTTPURLResponse).statusCode, body: data)
    }

    func put(_ path: String, _ value: some Encodable) async throws -> Reply {
        try await request("PUT", path, body: try APICoding.encoder().encode(value))
    }

    func state() async throws -> AgentState {
        try await request("GET", "/v1/state").decode(AgentState.self)
    }

    /// Waits until the project's last run has finished and returns it.
    func waitForRun(_ project: String, revision: Int? = nil, seconds: Double = 60) async throws -> RunRecord {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let state = try await state()
            if let p = state.projects[project], let run = p.status.lastRun, p.status.activity != .running,
                p.status.activity != .queued,
                revision == nil || p.status.revision >= revision!
            {
                return run
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw AgentStartError("project \(project) did not finish a run in \(seconds)s")
    }

    /// Waits until the project has a run in progress and returns its id.
    func waitForRunning(_ project: String, seconds: Double = 30) async throws -> Int64 {
        var current: Int64?
        try await eventually("the run of \(project) has started", seconds: seconds) {
            let status = try await state().projects[project]?.status
            current = status?.currentRunID
            return status?.activity == .running
        }
        return try #require(current)
    }

    static func project(
        _ url: String, path: String, every: Int = 3600, tweak: (inout AgentProjectSpec) -> Void = { _ in }
    ) throws -> AgentProjectSpec {
        var spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse(url)), path: path,
            interval: .every(TimeSpan(seconds: every)))
        tweak(&spec)
        return spec
    }
}
