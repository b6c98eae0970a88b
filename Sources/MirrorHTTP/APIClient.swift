import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MirrorCore

/// A call to an agent's API that did not succeed; the callers say it in their own words.
public enum APICallFailure: Error, Sendable {
    /// No answer: connection refused, timeout, unknown host.
    case unreachable(any Error)
    /// The URL is not one.
    case badURL(String)
    /// An answer that is not HTTP.
    case notHTTP
    /// An HTTP status outside 2xx, with the body.
    case status(Int, body: Data)

    /// The API's own error message in the body (`{"error": {"message"}}`), else its first 200 bytes.
    public static func detail(_ body: Data) -> String {
        (try? APICoding.decoder().decode(APIErrorBody.self, from: body))?.error.message ?? String(decoding: body.prefix(200), as: UTF8.self)
    }
}

/// The agents' API over HTTP, with the bearer token they share, a timeout per call, and JSON as the API writes it:
/// one small client for the reconciler (`HTTPAgentClient`) and for the agents' calls to each other (`PeerClient`).
public struct APIClient: Sendable {
    let token: String
    public let timeout: TimeInterval
    let session: URLSession

    /// `resourceTimeout`: the longest a whole call may take, answer included (default: `timeout`).
    public init(token: String, timeout: TimeInterval, resourceTimeout: TimeInterval? = nil, maxConnectionsPerHost: Int? = nil) {
        self.token = token
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = resourceTimeout ?? timeout
        if let maxConnectionsPerHost { configuration.httpMaximumConnectionsPerHost = maxConnectionsPerHost }
        session = URLSession(configuration: configuration)
    }

    /// `method base+path` with `body` as JSON; the answer's body, for a 2xx.
    public func call(_ method: String, _ url: String, body: Data? = nil) async throws(APICallFailure) -> Data {
        guard let target = URL(string: url) else { throw .badURL(url) }
        var request = URLRequest(url: target, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let data: Data, response: URLResponse
        do { (data, response) = try await session.data(for: request) } catch { throw .unreachable(error) }
        guard let http = response as? HTTPURLResponse else { throw .notHTTP }
        guard (200..<300).contains(http.statusCode) else { throw .status(http.statusCode, body: data) }
        return data
    }

    /// A value as the API's JSON.
    public static func encode(_ value: some Encodable) throws -> Data { try APICoding.encoder().encode(value) }

    /// The API's JSON as a value.
    public static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T { try APICoding.decoder().decode(type, from: data) }
}
