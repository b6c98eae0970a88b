import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `mirrorsync up` as a user runs it: one process on a terminal (here a log file), which starts the site's agents and
/// its reconciler as children of its own.
final class UpProcess: @unchecked Sendable {
    // `process` is replaced only by `start()`, which the one test task calls; nothing else mutates it.
    let arguments: [String]
    let log: String
    private(set) var process: Process?

    init(_ arguments: [String], log: String) {
        self.arguments = arguments
        self.log = log
    }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["up"] + arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Waits until the output holds `needle` (`count` times).
    func wait(for needle: String, count: Int = 1, seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.components(separatedBy: needle).count - 1 >= count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValueError(
            "'mirrorsync up' never printed \(count) × '\(needle)' within \(Int(seconds)) s; its output:\n\(output.suffix(4000))"
        )
    }

    /// Sends `signal` and waits, off the cooperative pool, for `up` to end; its exit status.
    func stop(_ signal: Int32) async -> Int32 {
        (try? await offPool {
            guard let process = self.process else { return -1 }
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            return process.terminationStatus
        }) ?? -1
    }

    // A test that fails half-way still stops the site: SIGTERM, and SIGKILL only if up has not ended in 30 s.
    deinit {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<300 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Processes whose command line mentions `text`, from /proc, with their command lines.
func processes(mentioning text: String) -> [(pid: pid_t, argv: [String])] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { entry in
        guard let pid = pid_t(entry), pid != getpid(),
            let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
        else { return nil }
        let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return argv.contains(where: { $0.contains(text) }) ? (pid, argv) : nil
    }
}

@Suite("mirrorsync up: a whole site from one command (separate processes, real rsync)", .serialized)
struct UpTests {
    @Test(
        "up serves the upstream on both slaves, applies an edit, restarts a killed child, and stops with nothing left behind"
    )
    func wholeSite() async throws {
        let scratch = Scratch("up")
        let upstream = scratch.path + "/upstream"
        try Tree.generate(at: upstream + "/linux", files: 30, bytes: 1000)
        try Tree.generate(at: upstream + "/tools", files: 5, bytes: 100, seed: 3)
        let daemon = try RsyncDaemon(tree: upstream, scratch: scratch)
        let state = scratch.path + "/state"
        let directory = scratch.sub("mirrors.d")
        let (masterPort, aPort, bPort, rsyncdPort) = (freePort(), freePort(), freePort(), freePort())
        func writeSite(tools: Bool) throws {
            try """
            master:
              api: http://127.0.0.1:\(masterPort)
              tokenFile: \(state)/token
              root: \(scratch.path)/master-root
              rsyncd: { address: 127.0.0.1, port: \(rsyncdPort) }
            intervals:
              hourly: { every: 1h }
            upstreams:
              up: { url: "\(daemon.url)" }
            slaves:
              a: { api: "http://127.0.0.1:\(aPort)", publicDir: \(scratch.path)/a-public }
              b: { api: "http://localhost:\(bPort)", publicDir: \(scratch.path)/b-public }
            projects:
              linux: { upstream: up, source: linux, interval: hourly, slaves: all }

            """.appending(tools ? "  tools: { upstream: up, source: tools, interval: hourly, slaves: [a] }\n" : "")
                .write(toFile: directory + "/site.yaml", atomically: false, encoding: .utf8)
        }
        try writeSite(tools: false)

        let up = UpProcess([directory, "--state-dir", state], log: scratch.path + "/up.log")
        try up.start()
        let expected = try Tree.snapshot(upstream + "/linux")
        try await eventually("served linux on both slaves") {
            try Tree.snapshot(scratch.path + "/a-public/linux") == expected
                && Tree.snapshot(scratch.path + "/b-public/linux") == expected
        }
        let token = try String(contentsOfFile: state + "/token", encoding: .utf8)
        var info = stat()
        stat(state + "/token", &info)
        #expect(info.st_mode & 0o777 == 0o600)
        for prefix in [
            "master    | ", "a         | ", "b         | ", "reconcile | ",
            "up        | made the operator's token in \(state)/token",
        ] {
            #expect(up.output.contains(prefix), "no '\(prefix)' in:\n\(up.output.suffix(3000))")
        }
        // Scoped credentials: each agent its own token and accept file; a slave's directory holds no other secret.
        let operatorToken = token.trimmingCharacters(in: .whitespacesAndNewlines)
        let masterToken = try TokenFile.read(state + "/master/credential")
        for slave in ["a", "b"] {
            let dir = state + "/slave-" + slave
            let accepted = try AcceptedCredentials.read(dir + "/accepted")
            #expect(
                accepted.role(of: operatorToken) == .operator && accepted.role(of: masterToken) == .master
                    && !accepted.acceptsShared)
            for file in try FileManager.default.contentsOfDirectory(atPath: dir) where !file.hasSuffix(".db") {
                let text = String(
                    decoding: (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))) ?? Data(), as: UTF8.self)
                #expect(!text.contains(operatorToken) && !text.contains(masterToken), "\(dir)/\(file)")
            }
        }

        // An edit in place is picked up by the watching reconciler and served.
        try writeSite(tools: true)
        let tools = try Tree.snapshot(upstream + "/tools")
        try await eventually("served the new project on a") {
            try Tree.snapshot(scratch.path + "/a-public/tools") == tools
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/b-public/tools"))

        // A child killed outright is started again, and up says so.
        let reconciler = processes(mentioning: directory).filter { $0.argv.contains("--watch") }
        #expect(reconciler.count == 1)
        kill(reconciler[0].pid, SIGKILL)
        try await up.wait(for: "reconcile was killed by signal 9")
        try await eventually("started the reconciler again") {
            processes(mentioning: directory).contains { $0.argv.contains("--watch") && $0.pid != reconciler[0].pid }
        }

        // Ctrl-C: everything stops, exit 0, nothing of the site left running (agents, their rsync daemon, rsyncs).
        #expect(await up.stop(SIGINT) == 0, "up's output:\n\(up.output.suffix(3000))")
        #expect(processes(mentioning: state).isEmpty, "left running: \(processes(mentioning: state).map(\.argv))")
        #expect(processes(mentioning: directory).isEmpty)
        #expect(up.output.contains("up        | every process of the site has stopped"))

        // A second up on the same state resumes: the same token, the trees still served; SIGHUP stops it too.
        let again = UpProcess([directory, "--state-dir", state], log: scratch.path + "/up-again.log")
        try again.start()
        try await again.wait(for: "outcome=converged", seconds: 60)
        #expect(!again.output.contains("made the agents' token"))
        #expect(try String(contentsOfFile: state + "/token", encoding: .utf8) == token)
        #expect(try Tree.snapshot(scratch.path + "/b-public/linux") == expected)
        #expect(await again.stop(SIGHUP) == 0, "a closed terminal (SIGHUP) stops the site as Ctrl-C does")
        #expect(processes(mentioning: state).isEmpty)
    }

    @Test("an invalid mirrors.d starts nothing: the errors as validate prints them, exit 1")
    func invalidStartsNothing() async throws {
        let scratch = Scratch("up-invalid")
        let directory = scratch.sub("mirrors.d")
        try "master:\n  api: http://127.0.0.1:1\n  tokenFile: /x\n  root: /r\n  maxConcurentSyncs: 2\n".write(
            toFile: directory + "/m.yaml", atomically: true, encoding: .utf8)
        let (status, output) = await run(Binary.path, ["up", directory, "--state-dir", scratch.path + "/state"])
        #expect(status == 1)
        #expect(
            output.contains(
                "m.yaml:5:3: error: unknown key 'maxConcurentSyncs' in master; did you mean 'maxConcurrentSyncs'?"),
            "\(output)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/state"))
    }
}
