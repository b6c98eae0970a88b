import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// The API's connections are bounded: silent and slow clients are closed, and past the caps a request is answered 503
/// rather than waited on. Real sockets on 127.0.0.1, made by hand (`RawConnection`).
@Suite("Agent API: connection limits (live HTTP, raw sockets)")
struct ConnectionLimitsTests {
    static let health = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    /// Sends `first`, then `next` every `every` seconds, until the agent closes the connection: how long that took, or
    /// nil if it was still open after `seconds`.
    static func dribble(_ connection: RawConnection, first: String, next: String, every: Double, seconds: Double)
        async throws -> Double?
    {
        try await offPool {
            let start = Date()
            connection.send(first)
            while Date().timeIntervalSince(start) < seconds {
                if connection.read(seconds: every).closed { return Date().timeIntervalSince(start) }
                connection.send(next)
            }
            return nil
        }
    }

    @Test(
        "a connection that sends nothing, one that sends a header line at a time, and one that sends its body a byte at a time are closed within the timeouts"
    )
    func slowClientsClosed() async throws {
        let agent = try await AgentHarness(
            limits: ConnectionLimits(idleTimeout: .seconds(1), requestTimeout: .seconds(2)))
        let silent = try RawConnection(port: agent.port)
        let headers = try RawConnection(port: agent.port)
        let body = try RawConnection(port: agent.port)
        async let silentClosed = Self.dribble(silent, first: "", next: "", every: 0.1, seconds: 8)
        async let headersClosed = Self.dribble(
            headers, first: "GET /v1/health HTTP/1.1\r\n", next: "X-Drip: 1\r\n", every: 0.3, seconds: 8)
        // The whole head at once, then the body a byte at a time: each byte is HTTP data, which an idle timeout counts
        // as activity; the request's own timeout does not.
        async let bodyClosed = Self.dribble(
            body,
            first: "PUT /v1/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(agent.token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", next: " ", every: 0.3, seconds: 8)
        let (a, b, c) = try await (silentClosed, headersClosed, bodyClosed)
        #expect(a.map { $0 < 4 } == true, "silent: \(String(describing: a))")
        #expect(b.map { $0 < 4 } == true, "header lines: \(String(describing: b))")
        #expect(c.map { $0 < 5 } == true, "body bytes: \(String(describing: c))")
        // A request that arrives whole is answered as ever.
        let answer = try await offPool {
            let c = try RawConnection(port: agent.port)
            c.send(Self.health)
            return c.read(seconds: 5)
        }
        #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text)")
        // Gone before the agent stops: a stop waits for a request still being read.
        for connection in [silent, headers, body] { connection.hangUp() }
        await agent.stop()
    }

    @Test(
        "past --max-connections a request is answered 503 too-many-connections and closed; once one closes, requests are answered again"
    )
    func connectionCap() async throws {
        let agent = try await AgentHarness(limits: ConnectionLimits(maxConnections: 3))
        var held = try (0..<3).map { _ in try RawConnection(port: agent.port) }
        // The agent counts a connection when it accepts it: the three are counted once one of them is answered.
        try await Task.sleep(for: .milliseconds(200))
        let refused = try await offPool {
            let c = try RawConnection(port: agent.port)
            c.send(Self.health)
            return c.read(seconds: 5)
        }
        #expect(refused.text.hasPrefix("HTTP/1.1 503"), "\(refused.text)")
        #expect(
            refused.text.contains("\"too-many-connections\"") && refused.text.contains("--max-connections")
                && refused.closed, "\(refused.text)")
        held.removeLast()
        try await eventually("a request is answered once a connection closed", seconds: 5) {
            try await offPool {
                let c = try RawConnection(port: agent.port)
                c.send(Self.health)
                return c.read(seconds: 5)
            }.text.hasPrefix("HTTP/1.1 200")
        }
        for connection in held { connection.hangUp() }
        await agent.stop()
    }

    @Test(
        "past --max-long-polls a long poll or a log follow is answered 503 too-many-waits; a plain read is not held and still answers"
    )
    func longPollCap() async throws {
        let agent = try await AgentHarness(limits: ConnectionLimits(maxLongPolls: 1))
        let source = agent.scratch.sub("upstream")
        try Tree.generate(at: source, files: 30, bytes: 80_000)
        _ = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        // 2.4 MB at 100 KiB/s: some twenty seconds of rsync, cancelled once seen.
        let spec = try AgentHarness.project(source, path: "slow") {
            $0.upstream.bandwidthLimit = ByteSize(bytes: 100 << 10)
        }
        _ = try await agent.put("/v1/projects/slow", spec)
        let id = try await agent.waitForRunning("slow")
        let follow = try RawConnection(port: agent.port)
        follow.send(
            "GET /v1/projects/slow/runs/\(id)/log?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(agent.token)\r\n\r\n"
        )
        // Its head, however long a loaded machine takes to send it.
        let started = try await offPool { follow.read(seconds: 20) { $0.contains("\r\n\r\n") } }
        #expect(started.text.hasPrefix("HTTP/1.1 200") && !started.closed, "\(started.text)")

        let poll = try await agent.request("GET", "/v1/projects/slow/runs/\(id)?wait=30")
        #expect(
            poll.status == 503 && poll.error?.code == "too-many-waits"
                && poll.error?.message.contains("--max-long-polls") == true, "\(poll.text)")
        let second = try await agent.request("GET", "/v1/projects/slow/runs/\(id)/log?follow=true")
        #expect(second.status == 503 && second.error?.code == "too-many-waits", "\(second.text)")
        #expect(try await agent.request("GET", "/v1/projects/slow/runs/\(id)/log").status == 200)
        #expect(try await agent.request("GET", "/v1/projects/slow/runs/\(id)").status == 200)

        // The run ends: the follow ends with it, and its place is free.
        #expect(try await agent.request("POST", "/v1/projects/slow/cancel").status == 200)
        let ended = try await offPool { follow.read(seconds: 10) }
        #expect(ended.text.contains("mirrorsync: run \(id) "), "\(ended.text.suffix(300))")
        try await eventually("a long poll is answered once the follow ended", seconds: 10) {
            try await agent.request("GET", "/v1/projects/slow/runs/\(id)?wait=1").status == 200
        }
        await agent.stop()
    }
}

/// A thousand connections at once: run apart from the other suites (`make test` runs it with the fault suite, one
/// test at a time), since the load it makes would starve the timing of the tests beside it on two cores.
@Suite("Agent API: 1,000 connections (live HTTP, raw sockets)", .serialized)
struct ConnectionLoadTests {
    static let health = ConnectionLimitsTests.health

    @Test(
        "with 1,000 connections open, half silent and half sending a header line a second, /v1/health answers, an authorised PUT works, and all 1,000 are closed within the timeouts"
    )
    func thousandIdle() async throws {
        // Long enough to open the 1,000 and measure on a loaded machine before the first are closed.
        let timeout = 8.0
        let agent = try await AgentHarness(
            limits: ConnectionLimits(idleTimeout: .seconds(8), requestTimeout: .seconds(8)))
        let opening = Date()
        // Opened on a thread of their own: a connect waits while the agent's accept queue is full, and must not hold
        // one of the cooperative pool's threads meanwhile.
        let port = agent.port
        let (silent, dribblers) = try await offPool {
            (
                try (0..<500).map { _ in try RawConnection(port: port) },
                try (0..<500).map { _ in try RawConnection(port: port) }
            )
        }
        for connection in dribblers { connection.send("GET /v1/state HTTP/1.1\r\n") }
        let lastOpened = Date()
        let opened = lastOpened.timeIntervalSince(opening)
        let drip = Task {
            try await offPool {
                for round in 0..<16 {
                    Thread.sleep(forTimeInterval: 1)
                    for connection in dribblers { connection.send("X-Drip-\(round): 1\r\n") }
                }
            }
        }

        // Health, each on a connection of its own, while the 1,000 are open.
        var latencies: [Double] = []
        for _ in 0..<20 {
            let start = Date()
            let answer = try await offPool {
                let c = try RawConnection(port: agent.port)
                c.send(Self.health)
                return c.read(seconds: 5)
            }
            latencies.append(Date().timeIntervalSince(start))
            #expect(answer.text.hasPrefix("HTTP/1.1 200") && answer.text.contains("\"status\""), "\(answer.text)")
        }
        let put = try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root"))
        #expect(put.status == 200, "\(put.text)")
        let measuredWithin = Date().timeIntervalSince(opening)

        // Every one of the 1,000 closed by the agent, within the timeout of the last opened and a margin for a loaded machine.
        let all = silent + dribblers
        let closed = try await offPool {
            all.filter { $0.read(seconds: max(0.01, timeout + 4 - Date().timeIntervalSince(lastOpened))).closed }.count
        }
        let allClosedAfter = Date().timeIntervalSince(opening)
        drip.cancel()
        latencies.sort()
        print(
            "1,000 idle/dribbling connections: opened in \(String(format: "%.2f", opened)) s; /v1/health median \(String(format: "%.1f", latencies[10] * 1000)) ms, "
                + "max \(String(format: "%.1f", latencies[19] * 1000)) ms (measured within \(String(format: "%.1f", measuredWithin)) s); \(closed) closed after "
                + "\(String(format: "%.1f", allClosedAfter)) s (timeouts \(timeout) s)")
        #expect(
            measuredWithin - opened < timeout,
            "the measure took longer than the timeouts: the connections may have been closed before it")
        #expect(latencies[19] < 1, "health's slowest answer: \(latencies[19]) s")
        #expect(closed == 1000, "\(closed) of 1,000 closed")
        for connection in all { connection.hangUp() }
        await agent.stop()
    }
}
