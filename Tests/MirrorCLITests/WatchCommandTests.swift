import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Synchronization
import Testing
import MirrorAgent
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// The built binary running in the background, its stderr (the log) read as it comes.
final class Running: Sendable {
    let process: Process
    private let log = Mutex("")

    init(_ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = arguments
        process.environment = ["NO_COLOR": "1"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let handle = err.fileHandleForReading
        // A thread of its own: reading blocks until the binary writes or exits.
        Thread { [self] in
            while case let data = handle.availableData, !data.isEmpty {
                self.log.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }.start()
    }

    var text: String { log.withLock { $0 } }

    func lines(containing words: String...) -> [String] {
        text.split(separator: "\n").map(String.init).filter { line in words.allSatisfy { line.contains($0) } }
    }

    /// Waits until `count` log lines hold every one of `words`.
    func wait(for count: Int = 1, _ words: String..., seconds: Double = 20) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if text.split(separator: "\n").filter({ line in words.allSatisfy { line.contains($0) } }).count >= count {
                return true
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the exit off the cooperative pool, so the agents in this process keep answering meanwhile.
    func exitStatus() async -> Int32 {
        (try? await offPool {
            self.process.waitUntilExit()
            return self.process.terminationStatus
        }) ?? -1
    }
}

@Suite("mirrorsync reconcile --watch (the binary, with signals)", .serialized)
struct WatchCommandTests {
    @Test(
        "reconciles at start and on an edit; an invalid edit is logged as validate prints it; SIGHUP reloads; SIGTERM exits 0"
    )
    func watchWithSignals() async throws {
        let scratch = Scratch("cli-watch")
        let token = try cliToken(in: scratch)
        let master = try AgentDaemon(
            options: AgentOptions(
                role: .master, name: "master", host: "127.0.0.1", port: 0, tokenFile: token,
                stateDirectory: scratch.path + "/master", handleSignals: false,
                allowLocalUpstreams: [scratch.path + "/upstream"]), logger: testLogger)
        let task = Task { try? await master.run() }
        let port = await master.listeningPort() ?? 0
        let dir = scratch.sub("mirrors.d")
        let rsyncdPort = freePort()
        func site(_ projects: String) throws {
            try """
            master: { api: "http://127.0.0.1:\(port)", tokenFile: \(token), root: \(scratch.path)/root, rsyncd: { address: 127.0.0.1, port: \(rsyncdPort) } }
            intervals: { hourly: { every: 1h } }
            upstreams: { local: { url: \(scratch.path)/upstream } }
            projects: { \(projects) }
            """.write(toFile: dir + "/site.yaml", atomically: true, encoding: .utf8)
        }
        try site("a: { upstream: local, interval: hourly, suspended: true }")

        // 300 ms of quiet: a file written atomically on a loaded machine once came as two events more than 20 ms apart,
        // and so two reconciles.
        let watch = try Running(["reconcile", dir, "--watch", "--debounce", "300", "--resync", "1h"])
        #expect(await watch.wait("reconcile finished", "trigger=start", "outcome=converged"), "\(watch.text)")
        try site("a: { upstream: local, interval: hourly, suspended: true }, b: { upstream: local, intervall: hourly }")
        #expect(await watch.wait("site.yaml:4:94: error: unknown key 'intervall' in project 'b'"), "\(watch.text)")
        #expect(await watch.wait("reconcile finished", "trigger=file event", "outcome=invalid config"))
        try site(
            "a: { upstream: local, interval: hourly, suspended: true }, b: { upstream: local, interval: hourly, suspended: true }"
        )
        #expect(
            await watch.wait("reconcile finished", "trigger=file event", "outcome=converged", "created=1"),
            "\(watch.text)")
        let state = try await HTTPAgentProbe.projects(port: port, token: "cli-token")
        #expect(state == ["a", "b"])

        watch.signal(SIGHUP)
        #expect(
            await watch.wait("reconcile finished", "trigger=SIGHUP", "created=0", "outcome=converged"), "\(watch.text)")
        watch.signal(SIGTERM)
        #expect(await watch.exitStatus() == 0)
        // Its last line: by then the log holds every reconcile the command ran.
        #expect(await watch.wait("watch stopped"), "\(watch.text)")
        #expect(
            watch.lines(containing: "reconcile finished").count == 4, "start, invalid, fixed, SIGHUP: \(watch.text)")

        let refused = try await Binary.run(["reconcile", dir, "--watch", "--dry-run"])
        #expect(refused.status == 64 && refused.stderr.contains("--dry-run cannot go with it"))
        await master.shutdown()
        await task.value
    }
}

/// The projects an agent holds, asked over HTTP as any client would.
enum HTTPAgentProbe {
    static func projects(port: Int, token: String) async throws -> [String] {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/state")!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, _) = try await URLSession.shared.data(for: request)
        return try APICoding.decoder().decode(AgentState.self, from: data).projects.keys.sorted()
    }
}
