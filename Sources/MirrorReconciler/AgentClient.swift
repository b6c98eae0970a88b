import Foundation
import MirrorCore
import MirrorHTTP

/// A call to an agent that did not succeed, and why.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No answer: connection refused, timeout, DNS.
        case unreachable
        /// The agent refused the token.
        case unauthorized
        /// The agent answered with an error (4xx or 5xx) for another reason.
        case rejected(status: Int)
        /// The answer was not what the API promises.
        case invalidResponse
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The one way the reconciler reaches an agent; HTTP in production, and the tests use the same HTTP against agents in-process.
public protocol AgentClient: Sendable {
    /// The agent's state; given the digest of the projects it should hold, an agent that holds exactly those
    /// leaves them out (`projectsOmitted`).
    func state(ifDigest: String?) async throws(ClientError) -> AgentState
    /// The agent's state with only the projects changed since `version` of the run `bootID` (`projectsSince` set),
    /// or the whole state when the agent cannot answer that (another run, an agent without deltas).
    func state(since bootID: String, version: UInt64) async throws(ClientError) -> AgentState
    func putSettings(_ settings: AgentSettings) async throws(ClientError) -> PutResponse
    /// Puts a project as managed by the reconciler.
    func putProject(_ name: String, _ spec: AgentProjectSpec) async throws(ClientError) -> PutResponse
    func deleteProject(_ name: String, purge: Bool) async throws(ClientError)
    func requestSync(_ name: String) async throws(ClientError) -> SyncResponse
    func run(project: String, id: Int64) async throws(ClientError) -> RunRecord
    /// The run once it has changed (started, progressed, ended), or after `seconds`: a long poll.
    func run(project: String, id: Int64, waitingUpTo seconds: Double) async throws(ClientError) -> RunRecord
    /// A run's log (`run`: its id, or `latest`), handed to `receive` as it arrives; with `follow`, until the run ends.
    func runLog(project: String, run: String, follow: Bool, receive: (Data) -> Void) async throws(ClientError)
    /// Stops the project's run in progress and drops one queued behind it (`mirrorsync cancel`).
    func cancel(_ name: String) async throws(ClientError) -> CancelResponse
}

extension AgentClient {
    public func state() async throws(ClientError) -> AgentState { try await state(ifDigest: nil) }

    /// Clients that cannot ask for a delta read the whole state, which a caller of `state(since:version:)` handles too.
    public func state(since bootID: String, version: UInt64) async throws(ClientError) -> AgentState {
        try await state(ifDigest: nil)
    }
}

/// An agent's API over HTTP, with a bearer token and a timeout per call: a thin layer over `APIClient`.
public struct HTTPAgentClient: AgentClient {
    public let base: String
    let client: APIClient

    /// `transport`: the CA that verifies an https:// `base`, or leave for plain HTTP to a host that is not loopback.
    public init(base: String, token: String, timeout: TimeInterval = 5, transport: AgentTransport = AgentTransport()) {
        self.base = base
        client = APIClient(token: token, timeout: timeout, resourceTimeout: timeout * 2, transport: transport)
    }

    func call(_ method: String, _ path: String, body: Data? = nil) async throws(ClientError) -> Data {
        do { return try await client.call(method, base + path, body: body) } catch {
            throw failure(error, method, path)
        }
    }

    /// A failed call in the reconciler's terms.
    func failure(_ error: APICallFailure, _ method: String, _ path: String) -> ClientError {
        let message = error.message(method, path, at: base)
        switch error {
        case .badURL, .notHTTP: return ClientError(.invalidResponse, message)
        case .status(let status, _):
            return ClientError(status == 401 ? .unauthorized : .rejected(status: status), message)
        // Refused at the TLS layer, or before sending: the agent is not reached, and the message says why.
        case .unreachable, .plainHTTP, .tls, .trust: return ClientError(.unreachable, message)
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(ClientError) -> T {
        do { return try APIClient.decode(type, data) } catch {
            throw ClientError(.invalidResponse, "\(base) answered with JSON that is not a \(type): \(error)")
        }
    }

    func encode(_ value: some Encodable) throws(ClientError) -> Data {
        do { return try APIClient.encode(value) } catch {
            throw ClientError(.invalidResponse, "cannot encode: \(error)")
        }
    }
    public func state(ifDigest: String?) async throws(ClientError) -> AgentState {
        try decode(AgentState.self, try await call("GET", "/v1/state" + (ifDigest.map { "?ifDigest=\($0)" } ?? "")))
    }

    public func state(since bootID: String, version: UInt64) async throws(ClientError) -> AgentState {
        try decode(AgentState.self, try await call("GET", "/v1/state?since=\(bootID):\(version)"))
    }

    public func putSettings(_ settings: AgentSettings) async throws(ClientError) -> PutResponse {
        try decode(PutResponse.self, try await call("PUT", "/v1/settings", body: try encode(settings)))
    }

    public func putProject(_ name: String, _ spec: AgentProjectSpec) async throws(ClientError) -> PutResponse {
        try decode(PutResponse.self, try await call("PUT", "/v1/projects/\(name)?managed=true", body: try encode(spec)))
    }

    public func deleteProject(_ name: String, purge: Bool) async throws(ClientError) {
        _ = try await call("DELETE", "/v1/projects/\(name)" + (purge ? "?purge=true" : ""))
    }

    public func requestSync(_ name: String) async throws(ClientError) -> SyncResponse {
        try decode(SyncResponse.self, try await call("POST", "/v1/projects/\(name)/sync"))
    }

    public func run(project: String, id: Int64) async throws(ClientError) -> RunRecord {
        try decode(RunRecord.self, try await call("GET", "/v1/projects/\(project)/runs/\(id)"))
    }

    public func cancel(_ name: String) async throws(ClientError) -> CancelResponse {
        try decode(CancelResponse.self, try await call("POST", "/v1/projects/\(name)/cancel"))
    }
}

extension HTTPAgentClient {
    public func run(project: String, id: Int64, waitingUpTo seconds: Double) async throws(ClientError) -> RunRecord {
        let path = "/v1/projects/\(project)/runs/\(id)?wait=\(seconds)"
        // The agent holds the call up to `seconds`: the deadline is that, and the client's own time for the answer.
        let data: Data
        do { data = try await client.allowing(seconds + client.timeout).call("GET", base + path) } catch {
            throw failure(error, "GET", path)
        }
        return try decode(RunRecord.self, data)
    }

    public func runLog(project: String, run: String, follow: Bool, receive: (Data) -> Void) async throws(ClientError) {
        let path = "/v1/projects/\(project)/runs/\(run)/log" + (follow ? "?follow=true" : "")
        do { try await client.stream(base + path) { receive(Data($0.readableBytesView)) } } catch {
            throw failure(error, "GET", path)
        }
    }
}
