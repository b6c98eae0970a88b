import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Why a call to an agent failed at the TLS layer, in the operator's words. A failed handshake says little by itself
/// (BoringSSL reports CERTIFICATE_VERIFY_FAILED for a wrong CA and an expired certificate alike), so the agent's
/// certificate is fetched once more, with no token and no request, and read: its dates, and then its signer.
enum TLSDiagnosis {
    /// What a TLS handshake with `host:port` shows, its certificate taken whatever it is.
    enum Probe {
        /// The agent speaks TLS; its certificate chain, its own first.
        case tls([NIOSSLCertificate])
        /// Something answered, but not TLS.
        case notTLS
        /// Nothing useful: no connection, or no answer in time.
        case failed
    }

    /// The failure of an https:// call to `host:port`, verified against `caFile` (nil: the system's trust store).
    static func explainHTTPS(_ error: any Error, host: String, port: Int, caFile: String?) async -> String? {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return
                "TLS refused: the agent's certificate does not name \(host); its subject alternative names must include it (DNS:NAME or IP:ADDRESS)"
        }
        guard let ssl = error as? NIOSSLError else { return nil }
        let text = "\(ssl)"
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST")
            || text.contains("PACKET_LENGTH_TOO_LONG")
        {
            return
                "TLS refused: \(host):\(port) does not speak TLS (an agent started without --tls-cert and --tls-key?); write its api as http:// or give the agent a certificate"
        }
        guard text.contains("CERTIFICATE_VERIFY_FAILED") else { return "TLS handshake failed: \(text)" }
        let trust = caFile.map { "the CA in \($0)" } ?? "any CA of the system's trust store"
        guard case .tls(let chain) = await probe(host: host, port: port), let leaf = chain.first else {
            return "TLS refused: the agent's certificate could not be verified against \(trust)"
        }
        let now = time(nil)
        if leaf.notValidAfter < now {
            return
                "TLS refused: the agent's certificate expired on \(Self.date(leaf.notValidAfter)); renew it (and restart the agent)"
        }
        if leaf.notValidBefore > now {
            return
                "TLS refused: the agent's certificate is not valid until \(Self.date(leaf.notValidBefore)); check the clocks of both hosts"
        }
        return "TLS refused: the agent's certificate is not signed by \(trust) (a wrong CA?)"
            + (caFile == nil ? "; name the site's CA in mirrors.d with tls: { caFile: PATH }" : "")
    }

    /// The failure of an http:// call: when the port answers TLS, the call was a downgrade the agent refused.
    static func explainHTTP(_ error: any Error, host: String, port: Int) async -> String? {
        guard case .tls = await probe(host: host, port: port) else { return nil }
        return "refused: \(host):\(port) serves TLS, and takes no plain HTTP; write the agent's api as https://"
    }

    static func date(_ seconds: time_t) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))) + " UTC"
    }

    /// A handshake that accepts any certificate and sends nothing after it: what the agent presents, if it speaks TLS.
    static func probe(host: String, port: Int, timeout: TimeAmount = .seconds(3)) async -> Probe {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        guard let context = try? NIOSSLContext(configuration: configuration) else { return .failed }
        let group = MultiThreadedEventLoopGroup.singleton
        let outcome = group.next().makePromise(of: [NIOSSLCertificate].self)
        // The handshake, the channel's end and the timer race to settle it: the first one does.
        let settled = NIOLockedValueBox(false)
        let settle: @Sendable (Result<[NIOSSLCertificate], any Error>) -> Void = { result in
            if settled.withLockedValue({ done in
                defer { done = true }
                return !done
            }) {
                outcome.completeWith(result)
            }
        }
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The chain is taken as it comes; the handshake then completes (or fails, which says why).
                    let chain = NIOLockedValueBox<[NIOSSLCertificate]>([])
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: nil) {
                        certificates, promise in
                        chain.withLockedValue { $0 = certificates }
                        promise.succeed(.certificateVerified)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(
                        HandshakeOutcome { result in
                            settle(result.map { chain.withLockedValue { $0 } })
                        })
                }
            }
        let channel: any Channel
        do { channel = try await bootstrap.connect(host: host, port: port).get() } catch {
            settle(.failure(error))
            return .failed
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            settle(.failure(ChannelError.connectTimeout(timeout)))
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        do { return .tls(try await outcome.futureResult.get()) } catch {
            return error is NIOSSLError ? .notTLS : .failed
        }
    }
}

/// Reports once how a TLS handshake ended: completed, or the error that ended it (or the channel closing first).
final class HandshakeOutcome: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private var report: ((Result<Void, any Error>) -> Void)?

    init(_ report: @escaping (Result<Void, any Error>) -> Void) { self.report = report }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { finish(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.eof))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<Void, any Error>) {
        report?(result)
        report = nil
    }
}
