import Foundation
import Synchronization
import Testing
import MirrorCore
@testable import MirrorReconciler
import MirrorTestSupport

/// An HTTP client that records each state read: how it was asked (`whole`, `ifDigest`, `since`) and which projects
/// the answer carried.
final class CountingClient: ForwardingClient {
    let http: HTTPAgentClient
    var inner: any AgentClient { http }
    private let log = Mutex<[(kind: String, projects: [String])]>([])

    init(_ http: HTTPAgentClient) { self.http = http }

    var reads: [(kind: String, projects: [String])] { log.withLock { $0 } }
    func reset() { log.withLock { $0.removeAll() } }

    private func record(_ kind: String, _ state: AgentState) -> AgentState {
        log.withLock { $0.append((kind, state.projects.keys.sorted())) }
        return state
    }

    func state(ifDigest: String?) async throws(ClientError) -> AgentState {
        record(ifDigest == nil ? "whole" : "ifDigest", try await http.state(ifDigest: ifDigest))
    }

    func state(since bootID: String, version: UInt64) async throws(ClientError) -> AgentState {
        record("since", try await http.state(since: bootID, version: version))
    }
}

@Suite("Reconciler with memory: reads what changed (live agents on loopback)", .serialized)
struct AgentMemoryTests {
    @Test(
        "once read whole, agents are read by delta: an edit of one project reads that project alone; a project removed by hand is read whole and put back"
    )
    func deltas() async throws {
        let site = try LiveSite(slaves: ["ftp1"])
        for name in ["master", "ftp1"] { try await site.start(name) }
        var projects = (0..<20).map { "  p\($0): { upstream: local, interval: hourly, suspended: true }" }
        let clients = Dictionary(
            uniqueKeysWithValues: site.ports.map { name, port in
                (
                    name,
                    CountingClient(HTTPAgentClient(base: "http://127.0.0.1:\(port)", token: site.token, timeout: 20))
                )
            })
        var reconciler = Reconciler(
            clients: clients.mapValues { $0 as any AgentClient }, logger: testLogger, retryBase: 0.05, retryMax: 0.3)
        reconciler.memory = AgentMemory()
        let first = await reconciler.reconcile(try site.desired(projects.joined(separator: "\n")), timeout: 10)
        #expect(first.converged && first.applied.count == 2 + 40)

        // Nothing changed: every read is a delta with no project in it.
        for client in clients.values { client.reset() }
        let again = await reconciler.reconcile(try site.desired(projects.joined(separator: "\n")), timeout: 10)
        #expect(again.converged && again.applied.isEmpty)
        for (name, client) in clients {
            #expect(
                !client.reads.isEmpty && client.reads.allSatisfy { $0.kind == "since" && $0.projects.isEmpty },
                "\(name): \(client.reads)")
        }

        // One project edited (its excludes, which the master and the slave hold): the reads carry that project alone,
        // and the conditions are those of a whole read.
        for client in clients.values { client.reset() }
        projects[3] = "  p3: { upstream: local, interval: hourly, suspended: true, exclude: [\"*.tmp\"] }"
        let edit = await reconciler.reconcile(try site.desired(projects.joined(separator: "\n")), timeout: 10)
        #expect(edit.converged && edit.plan.counts.update == 2)
        for (name, client) in clients {
            #expect(
                client.reads.allSatisfy { $0.kind == "since" && $0.projects.allSatisfy { $0 == "p3" } },
                "\(name): \(client.reads)")
        }
        #expect(try await site.state("ftp1").projects["p3"]?.spec.exclude == ["*.tmp"])
        #expect(
            edit.conditions.count == 2
                && edit.conditions.allSatisfy { $0.condition.reason == "Converged" && $0.projects.count == 20 })
        #expect(edit.conditions.allSatisfy { $0.projects.values.allSatisfy { $0.reason == "Suspended" } })

        // A project removed from the slave by hand: the delta does not add up, the slave is read whole, the project put back.
        for client in clients.values { client.reset() }
        try await clients["ftp1"]!.http.deleteProject("p5", purge: false)
        let repaired = await reconciler.reconcile(try site.desired(projects.joined(separator: "\n")), timeout: 10)
        #expect(
            repaired.converged
                && repaired.applied.map { "\($0.agent) \($0.action.change.rawValue) \($0.action.name)" } == [
                    "ftp1 create p5"
                ])
        #expect(clients["ftp1"]!.reads.contains { $0.kind == "whole" && $0.projects.count == 19 })
        #expect(try await site.state("ftp1").projects["p5"]?.managed == true)
        await site.stopAll()
    }
}
