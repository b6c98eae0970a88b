import AsyncHTTPClient
import Foundation
import MirrorCore
import NIOCore
import NIOHTTP1

// The master's notifications: a JSON POST to a webhook, through the process's one HTTP client (`APIClient.http`).
extension APIClient {
    /// POSTs `body` (JSON) to `url` with `headers` and no bearer token, within `timeout`; returns the answer's status, a
    /// 2xx. Over https:// the receiver is verified against the system's trust store; no redirect is followed.
    public static func postWebhook(_ url: String, body: Data, headers: [(String, String)], timeout: TimeInterval)
        async throws(APICallFailure) -> Int
    {
        guard let target = URLComponents(string: url), let scheme = target.scheme?.lowercased(),
            scheme == "http" || scheme == "https", AgentURL.host(of: url) != nil
        else { throw .badURL(url) }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "mirrorsync")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        if scheme == "https" {
            do throws(TLSFileError) { request.tlsConfiguration = try AgentTLS.clientConfiguration(caFile: nil) } catch {
                throw .trust(error)
            }
        }
        let status: Int
        let answer: ByteBuffer
        do { (status, answer) = try await execute(request, within: timeout) } catch { throw .unreachable(error) }
        guard (200..<300).contains(status) else { throw .status(status, body: Data(answer.readableBytesView)) }
        return status
    }
}
