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
    func putSettings(_ settings: AgentSettings) async throws(ClientError) -> PutResponse
    /// Puts a project as managed by the reconciler.
    func putProject(_ name: String, _ spec: AgentProjectSpec) async throws(ClientError) -> PutResponse
    func deleteProject(_ name: String, purge: Bool) async throws(ClientError)
    func requestSync(_ name: String) async throws(ClientError) -> SyncResponse
    func run(project: String, id: Int64) async throws(ClientError) -> RunRecord
    /// Stops the project's run in progress and drops one queued behind it (`mirrorsync cancel`).
    func cancel(_ name: String) async throws(ClientError) -> CancelResponse
}

extension AgentClient {
    public func state() async throws(ClientError) -> AgentState { try await state(ifDigest: nil) }
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
            switch error {
            case .badURL(let url): throw ClientError(.invalidResponse, "bad URL \(url)")
            case .notHTTP: throw ClientError(.invalidResponse, "\(base) did not answer HTTP")
            case .status(let status, let body):
                let message = "\(method) \(path) answered \(status): \(APICallFailure.detail(body))"
                throw ClientError(status == 401 ? .unauthorized : .rejected(status: status), message)
            // Refused at the TLS layer, or before sending: the agent is not reached, and the message says why.
            case .unreachable, .plainHTTP, .tls, .trust: throw ClientError(.unreachable, "\(method) \(base)\(path): \(error.reason)")
            }
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(ClientError) -> T {
        do { return try APIClient.decode(type, data) } catch {
            throw ClientError(.invalidResponse, "\(base) answered with JSON that is not a \(type): \(error)")
        }
    }

    func encode(_ value: some Encodable) throws(ClientError) -> Data {
        do { return try APIClient.encode(value) } catch { throw ClientError(.invalidResponse, "cannot encode: \(error)") }
    }
    public func state(ifDigest: String?) async throws(ClientError) -> AgentState {
        try decode(AgentState.self, try await call("GET", "/v1/state" + (ifDigest.map { "?ifDigest=\($0)" } ?? "")))
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
