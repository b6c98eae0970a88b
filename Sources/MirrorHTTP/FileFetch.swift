import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One small file fetched by GET, on the process's one HTTP client (`APIClient`'s pool): an upstream's probe
/// (`probe:` of a command upstream whose url is http or https). No token goes with it; https:// is verified against
/// the system's trust store; a redirect is an answer like any other that is not 200, and fails the fetch.
public enum FileFetch {
    /// Why a fetch brought no file.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The file's bytes and what came over the wire for them (the body; headers are not counted).
    public static func get(_ url: URL, within seconds: TimeInterval, upTo limit: Int = 1 << 20) async throws(Failure)
        -> [UInt8]
    {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        if url.scheme?.lowercased() == "https" {
            do throws(TLSFileError) {
                request.tlsConfiguration = try AgentTLS.clientConfiguration(caFile: nil)
            } catch {
                throw Failure(description: "\(error)")
            }
        }
        let status: Int
        let body: ByteBuffer
        do {
            (status, body) = try await APIClient.execute(request, within: seconds, upTo: limit)
        } catch {
            throw Failure(description: "GET \(url.absoluteString): \(error)")
        }
        guard status == 200 else { throw Failure(description: "GET \(url.absoluteString) answered \(status)") }
        return Array(body.readableBytesView)
    }
}
