import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MirrorCore

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

/// Calls from one agent to another, with the bearer token the agents share: the master's triggers to its slaves,
/// a slave's reports, catch-up and credential from the master.
public struct PeerClient: Sendable {
    let token: String
    let timeout: TimeInterval
    let session: URLSession

    public init(token: String, timeout: TimeInterval = 10) {
        self.token = token
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.httpMaximumConnectionsPerHost = 8
        session = URLSession(configuration: configuration)
    }

    /// Tells a slave that the master has `revision` of `project`.
    public func trigger(_ slaveAPI: String, project: String, revision: Int) async throws(PeerError) {
        _ = try await call("POST", slaveAPI, "/v1/projects/\(project)/sync", body: TriggerRequest(revision: revision))
    }

    /// Hands the master a slave's report on a finished pull.
    public func report(_ masterAPI: String, _ report: SlaveReport) async throws(PeerError) {
        _ = try await call("POST", masterAPI, "/v1/reports", body: report)
    }

    public func revisions(_ masterAPI: String) async throws(PeerError) -> RevisionsResponse {
        try decode(RevisionsResponse.self, try await call("GET", masterAPI, "/v1/revisions"), from: masterAPI)
    }

    public func credential(_ masterAPI: String) async throws(PeerError) -> RsyncCredential {
        try decode(RsyncCredential.self, try await call("GET", masterAPI, "/v1/rsyncd/credential"), from: masterAPI)
    }

    public func health(_ api: String) async throws(PeerError) -> AgentHealth {
        try decode(AgentHealth.self, try await call("GET", api, "/v1/health"), from: api)
    }

    func call(_ method: String, _ base: String, _ path: String, body: (some Encodable)? = Optional<TriggerRequest>.none) async throws(PeerError) -> Data {
        guard let url = URL(string: base + path) else { throw PeerError("\(base + path) is not a URL") }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            do { request.httpBody = try APICoding.encoder().encode(body) } catch { throw PeerError("cannot encode the body of \(method) \(path): \(error)") }
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data, response: URLResponse
        do { (data, response) = try await session.data(for: request) } catch {
            throw PeerError("\(method) \(base)\(path): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let detail = (try? APICoding.decoder().decode(APIErrorBody.self, from: data)).map(\.error.message)
                ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw PeerError("\(method) \(base)\(path): HTTP \(status): \(detail)", status: status)
        }
        return data
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, from base: String) throws(PeerError) -> T {
        do { return try APICoding.decoder().decode(type, from: data) } catch {
            throw PeerError("\(base) answered with a body that is not a \(T.self): \(error)")
        }
    }
}
