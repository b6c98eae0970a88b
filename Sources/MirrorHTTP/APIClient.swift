import AsyncHTTPClient
import Foundation
import MirrorCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
#if canImport(Glibc)
    import Glibc
#endif

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
    /// Refused before anything was sent: the bearer token would cross the network in clear (http:// to a host that is
    /// not loopback, without the operator's `insecure: true`).
    case plainHTTP(host: String)
    /// The connection was refused at the TLS layer, or a plain-HTTP call reached a TLS port; why, in words.
    case tls(String)
    /// The CA file named for the agent cannot be used.
    case trust(TLSFileError)

    /// The API's own error message in the body (`{"error": {"message"}}`), else its first 200 bytes.
    public static func detail(_ body: Data) -> String {
        (try? APICoding.decoder().decode(APIErrorBody.self, from: body))?.error.message
            ?? String(decoding: body.prefix(200), as: UTF8.self)
    }

    /// Why the call failed, for every case but `status`: `connection refused`, `timed out`, `TLS refused: ...`.
    public var reason: String {
        switch self {
        case .unreachable(let error): return Self.describe(error)
        case .badURL(let url): return "\(url) is not a URL"
        case .notHTTP: return "the answer is not HTTP"
        case .status(let status, let body): return "HTTP \(status): \(Self.detail(body))"
        case .plainHTTP(let host):
            return
                "refused to send the token over plain HTTP to \(host), which is not a loopback address: it could be read and replayed "
                + "on the way; write the agent's api as https:// (the agent started with --tls-cert and --tls-key), or set insecure: true for it in mirrors.d"
        case .tls(let message): return message
        case .trust(let error): return error.message
        }
    }

    /// The failure of `method path` on the agent at `base`, in one line: as the reconciler and the operator commands
    /// report it.
    public func message(_ method: String, _ path: String, at base: String) -> String {
        switch self {
        case .badURL(let url): return "bad URL \(url)"
        case .notHTTP: return "\(base) did not answer HTTP"
        case .status(let status, let body): return "\(method) \(path) answered \(status): \(Self.detail(body))"
        case .unreachable, .plainHTTP, .tls, .trust: return "\(method) \(base)\(path): \(reason)"
        }
    }

    /// Whether the call never reached the agent: no answer, or refused at the TLS layer or before sending.
    public var isUnreachable: Bool {
        switch self {
        case .unreachable, .plainHTTP, .tls, .trust: return true
        case .badURL, .notHTTP, .status: return false
        }
    }

    /// An error from the HTTP client or the network, in a few words.
    static func describe(_ error: any Error) -> String {
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .tlsHandshakeTimeout,
                .getConnectionFromPoolTimeout:
                return "timed out"
            case .remoteConnectionClosed: return "the connection was closed before the answer"
            default: return "\(client)"
            }
        }
        if let connect = error as? NIOConnectionError {
            if connect.connectionErrors.isEmpty && (connect.dnsAError != nil || connect.dnsAAAAError != nil) {
                return "unknown host"
            }
            if connect.connectionErrors.contains(where: { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }) {
                return "connection refused"
            }
            if let first = connect.connectionErrors.first { return describe(first.error) }
        }
        if let io = error as? IOError {
            if io.errnoCode == ECONNREFUSED { return "connection refused" }
            return String(cString: strerror(io.errnoCode))
        }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return "timed out" }
        if error is NIOTooManyBytesError { return "the answer is too large" }
        return "\(error)"
    }
}

/// The agents' API over HTTP or HTTPS, with the bearer token they share, a deadline per call, and JSON as the API
/// writes it: one small client for the reconciler (`HTTPAgentClient`) and for the agents' calls to each other
/// (`PeerClient`).
///
/// It never sends the token over plain HTTP to a host that is not loopback unless the agent's transport says
/// `insecure`; over https:// it verifies the agent's certificate against the transport's CA file (or the system's
/// trust store) and its name against the URL's host. Every client of the process shares one connection pool
/// (AsyncHTTPClient's, over SwiftNIO and NIOSSL): Foundation's URLSession on Linux is libcurl, which takes its CA
/// bundle only from fixed system paths and cannot verify one agent against one CA file.
public struct APIClient: Sendable {
    let token: String
    public let timeout: TimeInterval
    /// The longest a whole call may take, answer included.
    let deadline: TimeInterval
    let transport: AgentTransport

    /// `resourceTimeout`: the longest a whole call may take, answer included (default: `timeout`); `transport`: how
    /// to reach the agents this client calls, unless a call names its own.
    public init(
        token: String, timeout: TimeInterval, resourceTimeout: TimeInterval? = nil,
        transport: AgentTransport = AgentTransport()
    ) {
        self.token = token
        self.timeout = timeout
        self.deadline = resourceTimeout ?? timeout
        self.transport = transport
    }

    /// The answers the API sends are small; a whole site's state with 100,000 projects is some tens of MB.
    static let maxAnswer = 256 << 20

    /// One pool for the process: connections are kept and reused per agent (and per CA), never shut down.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        // A connection that cannot be made fails its call at once, as the callers retry on their own schedule.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }()

    /// `method url` with `body` as JSON; the answer's body, for a 2xx. `transport`: for this call, instead of the client's.
    public func call(_ method: String, _ url: String, body: Data? = nil, transport: AgentTransport? = nil)
        async throws(APICallFailure) -> Data
    {
        let prepared = try prepare(method, url, body: body, transport: transport)
        let status: Int
        let answer: ByteBuffer
        do {
            (status, answer) = try await Self.execute(prepared.request, within: deadline)
        } catch {
            throw await prepared.failure(error)
        }
        let data = Data(answer.readableBytesView)
        guard (200..<300).contains(status) else { throw .status(status, body: data) }
        return data
    }

    /// A request ready to send, and how to explain its failure.
    struct Prepared {
        var request: HTTPClientRequest
        var host: String
        var port: Int
        var secure: Bool
        var transport: AgentTransport

        /// Why the request got no answer, in words: a TLS refusal explained, else unreachable.
        func failure(_ error: any Error) async -> APICallFailure {
            if secure,
                let why = await TLSDiagnosis.explainHTTPS(error, host: host, port: port, caFile: transport.caFile)
            {
                return .tls(why)
            }
            if !secure, APIClient.mayBeTLS(error),
                let why = await TLSDiagnosis.explainHTTP(error, host: host, port: port)
            {
                return .tls(why)
            }
            return .unreachable(error)
        }
    }

    /// The request for `method url`, after the checks that keep the token safe (no plain HTTP off loopback unless
    /// `insecure`; https:// verified against the CA).
    func prepare(_ method: String, _ url: String, body: Data?, transport: AgentTransport?) throws(APICallFailure)
        -> Prepared
    {
        let transport = transport ?? self.transport
        guard let target = URLComponents(string: url), let scheme = target.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = AgentURL.host(of: url)
        else { throw .badURL(url) }
        let secure = scheme == "https"
        if !secure && !AgentURL.isLoopback(host) && !transport.insecure { throw .plainHTTP(host: host) }
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if secure {
            do throws(TLSFileError) {
                request.tlsConfiguration = try AgentTLS.clientConfiguration(caFile: transport.caFile)
            } catch {
                throw .trust(error)
            }
        }
        return Prepared(
            request: request, host: host, port: target.port ?? (secure ? 443 : 80), secure: secure, transport: transport
        )
    }

    /// The status and the whole body, within `seconds`: AsyncHTTPClient's deadline ends the wait for the answer's head,
    /// not for its body, so an agent that sends half an answer and hangs is cut off here.
    static func execute(_ request: HTTPClientRequest, within seconds: TimeInterval, upTo limit: Int = maxAnswer)
        async throws -> (Int, ByteBuffer)
    {
        let deadline = NIODeadline.now() + .milliseconds(Int64(seconds * 1000))
        return try await withThrowingTaskGroup(of: (Int, ByteBuffer)?.self) { group in
            group.addTask {
                let response = try await http.execute(request, deadline: deadline)
                return (Int(response.status.code), try await response.body.collect(upTo: limit))
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else { throw HTTPClientError.deadlineExceeded }
            return answer
        }
    }

    /// Whether a plain-HTTP call's failure could be a TLS port's refusal: the connection was made, and then closed or
    /// answered with bytes that are not HTTP. A refused connection or a timeout is no sign of it.
    static func mayBeTLS(_ error: any Error) -> Bool {
        if error is NIOConnectionError || error is IOError || error is ChannelError { return false }
        if let client = error as? HTTPClientError {
            return client == .remoteConnectionClosed || client == .bodyLengthMismatch
        }
        return true
    }

    /// A value as the API's JSON.
    public static func encode(_ value: some Encodable) throws -> Data { try APICoding.encoder().encode(value) }

    /// The API's JSON as a value.
    public static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        try APICoding.decoder().decode(type, from: data)
    }
}
