import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorPresentation
import MirrorTestSupport

/// `GET /` and `GET /projects/{name}` from a master in this process: HTML, public only where `publicStatus` says,
/// a project's own page, and the time of the page at 1,000 projects on 3 slaves.
@Suite("The status page (live master)")
struct StatusPageAPITests {
    /// A GET with or without the token: its status, content type, security policy and body.
    static func get(_ agent: AgentHarness, _ path: String, token: Bool = true) async throws -> (
        status: Int, type: String?, csp: String?, body: String
    ) {
        var request = URLRequest(url: URL(string: agent.base + path)!)
        if token { request.setValue("Bearer \(agent.token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return (
            http.statusCode, http.value(forHTTPHeaderField: "Content-Type"),
            http.value(forHTTPHeaderField: "Content-Security-Policy"),
            String(decoding: data, as: UTF8.self)
        )
    }

    static func suspended(_ agent: AgentHarness) throws -> AgentProjectSpec {
        try AgentHarness.project(agent.scratch.path + "/upstream", path: "p") {
            $0.tree.suspended = true
            $0.slaves = ["ftp1"]
        }
    }

    @Test(
        "behind the token unless publicStatus; HTML that may run no script; a page per project; 404 for one the master lacks; master only"
    )
    func access() async throws {
        let agent = try await AgentHarness()
        // ftp1 listens nowhere: it shows as unreachable.
        let settings = AgentSettings(
            root: agent.scratch.path + "/root", slaves: ["ftp1": "http://127.0.0.1:\(freePort())"])
        #expect(try await agent.put("/v1/settings", settings).status == 200)
        var spec = try Self.suspended(agent)
        spec.tree.path = "debian"
        #expect(try await agent.put("/v1/projects/debian", spec).status == 201)

        #expect(try await Self.get(agent, "/", token: false).status == 401)
        #expect(try await Self.get(agent, "/projects/debian", token: false).status == 401)
        let page = try await Self.get(agent, "/")
        #expect(page.status == 200 && page.type == "text/html; charset=utf-8")
        #expect(page.csp?.hasPrefix("default-src 'none'") == true)
        #expect(page.body.contains("<a href=\"projects/debian\">debian</a>") && page.body.contains("<th>ftp1</th>"))
        #expect(page.body.contains("unreachable · http://127.0.0.1:"))
        let project = try await Self.get(agent, "/projects/debian")
        #expect(project.status == 200 && project.body.contains("<h1>debian <span class=\"tag\">suspended</span></h1>"))
        #expect(project.body.contains("No run yet."))
        let missing = try await Self.get(agent, "/projects/nope")
        #expect(
            missing.status == 404 && missing.type == "text/html; charset=utf-8"
                && missing.body.contains("No project nope"))

        #expect(
            try await agent.put(
                "/v1/settings", AgentSettings(root: settings.root, publicStatus: true, slaves: settings.slaves)
            ).status == 200)
        #expect(try await Self.get(agent, "/", token: false).status == 200)
        #expect(try await Self.get(agent, "/projects/debian", token: false).status == 200)
        #expect(try await Self.get(agent, "/v1/state", token: false).status == 401, "only the status is public")
        await agent.stop()

        let slave = try await AgentHarness(role: .slave, name: "ftp1")
        #expect(try await slave.request("GET", "/").status == 404)
        await slave.stop()
    }

    @Test("a run on the project page as it ends: result, message, and the tail of its log")
    func runs() async throws {
        let agent = try await AgentHarness()
        #expect(try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root")).status == 200)
        // A local upstream that does not exist: rsync fails, and says why on its standard error.
        let spec = try AgentHarness.project(agent.scratch.path + "/not-there", path: "gone")
        #expect(try await agent.put("/v1/projects/gone", spec).status == 201)
        let run = try await agent.waitForRun("gone")
        #expect(run.result == .failed)
        // The log's last line is the run's end, which no stderr line says.
        @Sendable func lastLine() async throws -> String {
            try await agent.request("GET", "/v1/projects/gone/runs/\(run.id)/log").text.split(separator: "\n").last.map(
                String.init) ?? ""
        }
        try await eventually("the run's end in its log") {
            try await lastLine().hasPrefix("mirrorsync: run \(run.id) ")
        }
        let last = try await lastLine()
        let page = try await Self.get(agent, "/projects/gone")
        #expect(page.body.contains("<article class=\"run bad\" id=\"run-\(run.id)\">"), "\(page.body)")
        #expect(page.body.contains("<a href=\"../v1/projects/gone/runs/\(run.id)/log\">log</a><pre>"))
        if let line = run.stderrTail.last { #expect(page.body.contains(HTMLEscape.escape(line))) }
        #expect(page.body.contains(HTMLEscape.escape(last)), "the page shows the log's tail")
        await agent.stop()
    }

    @Test("1,000 projects on 3 slaves: GET / through the live master, its size and time")
    func thousand() async throws {
        let agent = try await AgentHarness()
        let slaves = Dictionary(uniqueKeysWithValues: (1...3).map { ("ftp\($0)", "http://127.0.0.1:\(freePort())") })
        #expect(
            try await agent.put("/v1/settings", AgentSettings(root: agent.scratch.path + "/root", slaves: slaves))
                .status == 200)
        var spec = try Self.suspended(agent)
        spec.slaves = slaves.keys.sorted()
        for i in 0..<1_000 {
            spec.tree.path = "p\(i)"
            #expect(try await agent.put("/v1/projects/p\(i)", spec).status == 201)
        }
        var times: [Double] = []
        var size = 0
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let page = try await Self.get(agent, "/")
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            #expect(page.status == 200)
            #expect(page.body.components(separatedBy: "<tr id=\"p").count - 1 == 1_000, "a row per project")
            size = page.body.utf8.count
        }
        times.sort()
        print(
            "GET / at 1,000 projects x 3 slaves (live master): \(size) bytes, median \(String(format: "%.0f", times[2] * 1000)) ms, "
                + "best \(String(format: "%.0f", times[0] * 1000)) ms")
        await agent.stop()
    }
}
