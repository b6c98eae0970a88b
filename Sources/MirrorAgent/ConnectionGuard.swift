import Foundation
import HTTPTypes
import MirrorCore
import NIOCore
import NIOHTTPTypes

/// One per connection, between the HTTP decoder and Hummingbird: counts the connection against `open`, answers 503
/// `too-many-connections` to a request on one past the cap, and closes a connection whose next request has not
/// arrived in full within `requestTimeout`. Its timer is the event loop's: no task of Swift's pool is woken for it.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let open: HeldCount
    let requestTimeout: Duration
    /// Whether this connection is counted in `open`; false for one past the cap, which is answered 503.
    private var counted = false
    private var refused = false
    /// Requests read in full and not yet answered: while there are any, the handler waits on the agent, not the client.
    private var unanswered = 0
    private var deadline: Scheduled<Void>?

    init(open: HeldCount, requestTimeout: Duration) {
        self.open = open
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        counted = open.take()
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        if counted { open.release() }
        counted = false
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard counted else {
            // Past the cap: the request is never handed on; its head is answered, and the connection closed.
            if case .head = part, !refused {
                refused = true
                refuse(context)
            }
            return
        }
        if case .end = part {
            unanswered += 1
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), unanswered > 0 {
            unanswered -= 1
            if unanswered == 0 { arm(context) }
        }
        context.write(data, promise: promise)
    }

    /// Closes the connection unless a whole request arrives within `requestTimeout`.
    private func arm(_ context: ChannelHandlerContext) {
        disarm()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(requestTimeout)) { [self] in
            deadline = nil
            if unanswered == 0 { context.close(promise: nil) }
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }

    private func refuse(_ context: ChannelHandlerContext) {
        let body =
            (try? APICoding.encoder().encode(
                APIErrorBody(
                    .init(
                        code: "too-many-connections",
                        message: "the agent holds \(open.limit) connections, its --max-connections; try again shortly"))
            )) ?? Data()
        var head = HTTPResponse(status: .serviceUnavailable)
        head.headerFields[.contentType] = "application/json; charset=utf-8"
        head.headerFields[.contentLength] = String(body.count)
        head.headerFields[.connection] = "close"
        head.headerFields[.retryAfter] = "1"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}
