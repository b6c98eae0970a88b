import Foundation
import MirrorCore
import MirrorHTTP

/// A call to another agent that did not succeed: which agent, which call, and why.
public struct PeerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The HTTP status, when the peer answered.
    public var status: Int?

    public init(_ message: String, status: Int? = nil) {
        self.message = message
        self.status = status
    }

    public var description: String { message }
}

/// Calls from one agent to another, with this agent's own credential (`--token-file`): the master's triggers to its slaves,
/// a slave's reports, catch-up and credential from the master. A thin layer over `APIClient`.
public struct PeerClient: Sendable {
    let client: APIClient
    /// How to reach the peer at an API URL: the agent's settings say it (`peers`), as the reconciler put them.
    let transport: @Sendable (String) async -> AgentTransport

    public init(
        token: String, timeout: TimeInterval = 10,
        transport: @escaping @Sendable (String) async -> AgentTransport = { _ in AgentTransport() }
    ) {
        client = APIClient(token: token, timeout: timeout)
        self.transport = transport
    }

    /// Tells a slave that the master has `revision` of `project`.
    public func trigger(
        _ slaveAPI: String, project: String, revision: Int, stage: Int? = nil, stageTimeout: TimeInterval? = nil
    ) async throws(PeerError) {
        _ = try await call(
            "POST", slaveAPI, "/v1/projects/\(project)/sync",
            body: TriggerRequest(revision: revision, stage: stage, stageTimeout: stageTimeout))
    }

    /// Hands the master a slave's report on a finished pull.
    public func report(_ masterAPI: String, _ report: SlaveReport) async throws(PeerError) {
        _ = try await call("POST", masterAPI, "/v1/reports", body: report)
    }

    public func revisions(_ masterAPI: String) async throws(PeerError) -> RevisionsResponse {
        try decode(RevisionsResponse.self, try await call("GET", masterAPI, "/v1/revisions"), from: masterAPI)
    }

    /// What revisions `from`+1 through `to` of `project` changed, as the master lists them.
    public func changes(_ masterAPI: String, project: String, from: Int, to: Int) async throws(PeerError)
        -> ChangesResponse
    {
        try decode(
            ChangesResponse.self,
            try await call("GET", masterAPI, "/v1/projects/\(project)/changes?from=\(from)&to=\(to)"), from: masterAPI)
    }

    public func credential(_ masterAPI: String) async throws(PeerError) -> RsyncCredential {
        try decode(RsyncCredential.self, try await call("GET", masterAPI, "/v1/rsyncd/credential"), from: masterAPI)
    }

    public func health(_ api: String) async throws(PeerError) -> AgentHealth {
        try decode(AgentHealth.self, try await call("GET", api, "/v1/health"), from: api)
    }

    func call(_ method: String, _ base: String, _ path: String, body: (some Encodable)? = Optional<TriggerRequest>.none)
        async throws(PeerError) -> Data
    {
        var data: Data?
        if let body {
            do { data = try APIClient.encode(body) } catch {
                throw PeerError("cannot encode the body of \(method) \(path): \(error)")
            }
        }
        do { return try await client.call(method, base + path, body: data, transport: await transport(base)) } catch {
            switch error {
            case .badURL(let url): throw PeerError("\(url) is not a URL")
            case .notHTTP: throw PeerError("\(method) \(base)\(path): HTTP 0: the answer is not HTTP", status: 0)
            case .status(let status, _): throw PeerError("\(method) \(base)\(path): \(error.reason)", status: status)
            default: throw PeerError("\(method) \(base)\(path): \(error.reason)")
            }
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, from base: String) throws(PeerError) -> T {
        do { return try APIClient.decode(type, data) } catch {
            throw PeerError("\(base) answered with a body that is not a \(T.self): \(error)")
        }
    }
}
