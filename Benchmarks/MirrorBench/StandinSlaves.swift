// The `fanout1000` benchmark's stand-in for many slaves: one process, one NIO server bound to one loopback port per
// slave, answering the slave API's trigger route (`POST /v1/projects/NAME/sync`) as a slave does (202), and running
// each triggered slave's pull, a real `rsync -aH --delete` from the master's module, through a bounded pool. A pull
// refused at the daemon's max connections (exit 5) waits 50-300 ms and tries again, as a slave waits its turn.
import Foundation
import MirrorCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// The pulls the stand-in runs, at most `limit` at once, and when each ended, by revision.
actor PullPool {
    let limit: Int
    let pull: @Sendable (Int) async -> (ok: Bool, refusals: Int)
    private var running = 0
    private var queue: [(slave: Int, revision: Int)] = []
    private var ends: [Int: [Int: Date]] = [:]
    private(set) var failures = 0
    private(set) var refusals = 0

    init(limit: Int, pull: @escaping @Sendable (Int) async -> (ok: Bool, refusals: Int)) {
        self.limit = limit
        self.pull = pull
    }

    func submit(_ slave: Int, revision: Int) {
        queue.append((slave, revision))
        pump()
    }

    private func pump() {
        while running < limit, !queue.isEmpty {
            let (slave, revision) = queue.removeFirst()
            running += 1
            Task {
                let outcome = await pull(slave)
                finished(slave, revision: revision, outcome)
            }
        }
    }

    private func finished(_ slave: Int, revision: Int, _ outcome: (ok: Bool, refusals: Int)) {
        running -= 1
        if !outcome.ok { failures += 1 }
        refusals += outcome.refusals
        ends[revision, default: [:]][slave] = Date()
        pump()
    }

    /// When each slave's pull of `revision` ended.
    func ended(_ revision: Int) -> [Int: Date] { ends[revision] ?? [:] }
}

/// The trigger route of one stand-in slave, on its own port.
final class TriggerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let slave: Int
    let pool: PullPool
    private var uri = ""
    private var body = ByteBuffer()

    init(slave: Int, pool: PullPool) {
        self.slave = slave
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            uri = head.uri
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            let reply = ByteBuffer(string: "{}")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(reply.readableBytes)")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .accepted, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(reply))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if uri.hasSuffix("/sync"),
                let trigger = try? APICoding.decoder().decode(TriggerRequest.self, from: Data(body.readableBytesView))
            {
                let (pool, slave) = (pool, slave)
                Task { await pool.submit(slave, revision: trigger.revision) }
            }
        }
    }
}

/// The stand-in's listening ports, one per slave.
final class StandinSlaves: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channels: [any Channel]
    let ports: [Int]

    init(count: Int, pool: PullPool) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var channels: [any Channel] = []
        var ports: [Int] = []
        for slave in 0..<count {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(TriggerHandler(slave: slave, pool: pool))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            channels.append(channel)
            ports.append(channel.localAddress?.port ?? 0)
        }
        self.channels = channels
        self.ports = ports
    }

    func stop() async {
        for channel in channels { try? await channel.close() }
        try? await group.shutdownGracefully()
    }
}

/// One rsync process to its end, waited for without holding a thread.
func rsyncExit(_ arguments: [String], password: String) async -> Int32 {
    await withCheckedContinuation { continuation in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
        process.arguments = arguments
        process.environment = ["LC_ALL": "C", "PATH": "/usr/bin:/bin", "RSYNC_PASSWORD": password]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch { continuation.resume(returning: -1) }
    }
}
