import Foundation
import MirrorCore
import MirrorHTTP
import NIOCore

/// A call of an operator command to an agent that did not succeed: the line the command prints after `error: `.
struct OperatorCallError: Error, Sendable {
    var message: String
    /// The agent was not reached (no answer, refused at the TLS layer or before sending): `sync --wait` looks again.
    var unreachable: Bool
}

/// What `sync --wait` asks of an agent; its tests answer from a script.
protocol RunPolling: Sendable {
    /// The run once it has changed (started, progressed, ended), or after `seconds`: a long poll.
    func run(project: String, id: Int64, waitingUpTo seconds: Double) async throws(OperatorCallError) -> RunRecord
}

/// One agent's API as the operator commands (`sync`, `cancel`, `logs`) call it: MirrorHTTP's `APIClient` at the
/// agent's URL, with the token and the timeout of the command's flags, each failure in one line.
struct OperatorClient: RunPolling {
    let base: String
    let client: APIClient

    /// `transport`: the CA that verifies an https:// `base`, or leave for plain HTTP to a host that is not loopback.
    init(base: String, token: String, timeout: TimeInterval, transport: AgentTransport) {
        self.base = base
        client = APIClient(token: token, timeout: timeout, resourceTimeout: timeout * 2, transport: transport)
    }

    /// `POST /v1/projects/{name}/sync`: a run queued now (or the one already queued).
    func requestSync(_ name: String) async throws(OperatorCallError) -> SyncResponse {
        try await call(SyncResponse.self, "POST", "/v1/projects/\(name)/sync")
    }

    /// `POST /v1/projects/{name}/cancel`: the project's run in progress stopped, and one queued behind it dropped.
    func cancel(_ name: String) async throws(OperatorCallError) -> CancelResponse {
        try await call(CancelResponse.self, "POST", "/v1/projects/\(name)/cancel")
    }

    func run(project: String, id: Int64, waitingUpTo seconds: Double) async throws(OperatorCallError) -> RunRecord {
        // The agent holds the call up to `seconds`: the deadline is that, and the client's own time for the answer.
        try await call(
            RunRecord.self, "GET", "/v1/projects/\(project)/runs/\(id)?wait=\(seconds)",
            on: client.allowing(seconds + client.timeout))
    }

    /// A run's log (`run`: its id, or `latest`), handed to `receive` as it arrives; with `follow`, until the run ends.
    func runLog(project: String, run: String, follow: Bool, receive: (Data) -> Void) async throws(OperatorCallError) {
        let path = "/v1/projects/\(project)/runs/\(run)/log" + (follow ? "?follow=true" : "")
        do { try await client.stream(base + path) { receive(Data($0.readableBytesView)) } } catch {
            throw OperatorCallError(message: error.message("GET", path, at: base), unreachable: error.isUnreachable)
        }
    }

    func call<T: Decodable>(_ type: T.Type, _ method: String, _ path: String, on client: APIClient? = nil)
        async throws(OperatorCallError) -> T
    {
        let data: Data
        do { data = try await (client ?? self.client).call(method, base + path) } catch {
            throw OperatorCallError(message: error.message(method, path, at: base), unreachable: error.isUnreachable)
        }
        do { return try APIClient.decode(type, data) } catch {
            throw OperatorCallError(
                message: "\(base) answered with JSON that is not a \(type): \(error)", unreachable: false)
        }
    }
}
