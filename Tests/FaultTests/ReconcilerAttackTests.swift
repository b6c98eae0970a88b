import Foundation
import MirrorCore
import MirrorTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// An "agent" that is not one: it takes connections on a loopback port and answers garbage, or sends half an answer
/// and hangs.
final class BadAgent: Sendable {
    enum Mode: Sendable { case garbage, hang }
    let port: Int
    private let fd: Int32
    private let mode = Mutex(Mode.garbage)

    init(_ mode: Mode) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw ValueError("the bad agent cannot listen") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        fd = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        self.mode.withLock { $0 = mode }
        Thread { [self] in
            while case let client = accept(listener, nil, nil), client >= 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = read(client, &buffer, buffer.count)
                switch self.mode.withLock({ $0 }) {
                case .garbage:
                    let reply =
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\nConnection: close\r\n\r\n{\"role\": [garbage!]"
                    _ = reply.withCString { write(client, $0, strlen($0)) }
                    close(client)
                case .hang:
                    // Headers promising a body that never comes; the connection stays open until the lab ends.
                    let reply =
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"role\": \"slave\", "
                    _ = reply.withCString { write(client, $0, strlen($0)) }
                }
            }
        }.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

@Suite("Faults: the reconciler under attack", .serialized)
struct ReconcilerAttackTests {
    @Test(
        "an emptied mirrors.d, a YAML bomb, a path traversal, a world-readable token, a rotated token, agents answering garbage or hanging: each a clear refusal or error, nothing applied half-way, the watch still running"
    )
    func attacks() async throws {
        let site = try KillSite(resync: "10m", timeout: 12)
        for name in site.agents + ["reconcile"] { try site.start(name) }
        let log = site.scratch.path + "/reconcile.log"
        var seen = 0
        /// The next `reconcile finished` line after those already seen.
        func nextReconcile(_ what: String) async throws -> String {
            var line: String?
            try await eventually(what, seconds: 60) {
                let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").filter {
                    $0.contains("reconcile finished")
                }
                guard lines.count > seen else { return false }
                line = String(lines[seen])
                seen = lines.count
                return true
            }
            return line ?? ""
        }
        func projects(_ agent: String) async throws -> [String] { try await site.state(agent).projects.keys.sorted() }
        func reconcilerRunning() -> Bool { site.processes["reconcile"]?.isRunning == true }

        #expect(try await nextReconcile("the first reconcile").contains("outcome=converged"))
        #expect(try await projects("master") == ["linux", "tools"])
        let file = site.directory + "/site.yaml"
        let good = try String(contentsOfFile: file, encoding: .utf8)

        // A commit that empties mirrors.d: invalid (no master), the last good state kept.
        try FileManager.default.removeItem(atPath: file)
        var line = try await nextReconcile("the emptied directory")
        #expect(line.contains("outcome=invalid config"), "\(line)")
        let afterEmpty = try String(contentsOfFile: log, encoding: .utf8)
        #expect(afterEmpty.contains("mirrors.d: error: holds no *.yaml or *.yml files"), "\(afterEmpty.suffix(1500))")
        #expect(try await projects("master") == ["linux", "tools"])

        // Every project removed at once, the rest intact: refused as a mass removal.
        try good.components(separatedBy: "projects:")[0].write(toFile: file, atomically: true, encoding: .utf8)
        line = try await nextReconcile("the mass removal")
        #expect(line.contains("outcome=refused"), "\(line)")
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("--allow-mass-removal"))
        #expect(try await projects("master") == ["linux", "tools"])
        #expect(try await projects("a") == ["linux", "tools"])

        // A YAML bomb: refused after a handful of events, never expanded.
        let bomb =
            "x-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
            + (1...9).map {
                "x-\(Character(UnicodeScalar(UInt8(97 + $0)))): &\(Character(UnicodeScalar(UInt8(97 + $0)))) ["
                    + Array(repeating: "*\(Character(UnicodeScalar(UInt8(96 + $0))))", count: 9).joined(separator: ",")
                    + "]\n"
            }.joined()
        try (good + bomb).write(toFile: file, atomically: true, encoding: .utf8)
        line = try await nextReconcile("the YAML bomb")
        #expect(line.contains("outcome=invalid config"), "\(line)")
        #expect(try String(contentsOfFile: log, encoding: .utf8).lowercased().contains("alias"))

        // A path that climbs out of the tree.
        try good.replacingOccurrences(of: "source: tools,", with: "source: tools, path: ../../etc,").write(
            toFile: file, atomically: true, encoding: .utf8)
        line = try await nextReconcile("the path traversal")
        #expect(line.contains("outcome=invalid config"), "\(line)")
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("site.yaml:"))
        #expect(try await site.state("master").projects["tools"]?.spec.path == "tools")

        // A token file every user can read: refused, naming the file and the fix; nothing sent with it.
        try good.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(site.tokenFile, 0o644)
        line = try await nextReconcile("the world-readable token")
        #expect(line.contains("outcome=setup failed"), "\(line)")
        #expect(line.contains("chmod 600 \(site.tokenFile)"), "\(line)")
        chmod(site.tokenFile, 0o600)

        // A token rotated while the watch runs: the agents restart with the new one, the watch reads it anew.
        await site.stopAll()
        try "rotated-\(UUID().uuidString)".write(toFile: site.tokenFile, atomically: true, encoding: .utf8)
        chmod(site.tokenFile, 0o600)
        for name in site.agents + ["reconcile"] { try site.start(name) }
        #expect(try await nextReconcile("the reconcile after the rotation").contains("outcome=converged"))

        // Two slaves that are not agents: one answers garbage, one hangs mid-answer. The others converge regardless.
        let garbage = try BadAgent(.garbage)
        let hanging = try BadAgent(.hang)
        try good.replacingOccurrences(
            of: "slaves:\n",
            with: """
                slaves:
                  junk: { api: "http://127.0.0.1:\(garbage.port)", publicDir: \(site.scratch.path)/junk }
                  stuck: { api: "http://127.0.0.1:\(hanging.port)", publicDir: \(site.scratch.path)/stuck }

                """
        ).replacingOccurrences(
            of: "tools: { upstream: up, source: tools, interval: hourly, slaves: [a] }",
            with:
                "tools: { upstream: up, source: tools, interval: hourly, slaves: [a] }\n  extra: { upstream: up, source: tools, interval: hourly, slaves: all }"
        )
        .write(toFile: file, atomically: true, encoding: .utf8)
        try await eventually(
            "extra on master, a and b\n\((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(3000) ?? "")",
            seconds: 60
        ) {
            let (m, a, b) = try await (projects("master"), projects("a"), projects("b"))
            return m.contains("extra") && a.contains("extra") && b.contains("extra")
        }
        // Past --timeout the reconcile ends unconverged, naming each agent that failed it and why.
        line = try await nextReconcile("the reconcile with the bad agents")
        #expect(line.contains("outcome=not converged"), "\(line)")
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let junk = text.split(separator: "\n").filter { $0.contains("agent=junk") }.joined(separator: "\n")
        let stuck = text.split(separator: "\n").filter { $0.contains("agent=stuck") }.joined(separator: "\n")
        #expect(
            junk.contains("http://127.0.0.1:\(garbage.port)") && junk.contains("not valid JSON"),
            "the garbage agent and why: \(junk)")
        #expect(stuck.contains("timed out"), "the hanging agent and why: \(stuck)")
        #expect(reconcilerRunning(), "the watch stopped:\n\(text.suffix(3000))")
        await site.stopAll()
    }
}
