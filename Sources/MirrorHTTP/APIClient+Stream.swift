import AsyncHTTPClient
import Foundation
import MirrorCore
import NIOCore

extension APIClient {
    /// This client with `seconds` for a whole call instead of its own deadline: for a long poll, which the agent holds
    /// open until something changes.
    public func allowing(_ seconds: TimeInterval) -> APIClient {
        APIClient(token: token, timeout: timeout, resourceTimeout: seconds, transport: transport)
    }

    /// `GET url` whose body is handed to `receive` a piece at a time as it arrives, for as long as the agent sends it
    /// (a followed log): the client's deadline holds for the answer's head, not for its body.
    public func stream(_ url: String, transport: AgentTransport? = nil, receive: (ByteBuffer) -> Void)
        async throws(APICallFailure)
    {
        let prepared = try prepare("GET", url, body: nil, transport: transport)
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(
                prepared.request, deadline: .now() + .milliseconds(Int64(timeout * 1000)))
        } catch {
            throw await prepared.failure(error)
        }
        let status = Int(response.status.code)
        do {
            guard (200..<300).contains(status) else {
                throw APICallFailure.status(
                    status, body: Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView))
            }
            for try await piece in response.body { receive(piece) }
        } catch let failure as APICallFailure {
            throw failure
        } catch {
            throw .unreachable(error)
        }
    }
}
