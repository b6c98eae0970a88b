import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

/// `master.rsyncd.maxConnections` against a real rsync daemon at `max connections = 1`: a pull that finds the
/// daemon full waits its turn, with a random wait between tries (a fixed one here), as a run in progress and not a
/// failure; only a refusal that lasts past the bound fails the run.
@Suite("A daemon at its max connections", .serialized)
struct BusyDaemonTests {
    /// A daemon written by `RsyncdConfig` with `max connections = 1`, one module `pub` and one user.
    final class BusyDaemon: Sendable {
        let scratch = Scratch("busy")
        let daemon: RsyncDaemon
        var port: Int { daemon.port }
        var tree: String { scratch.path + "/tree" }
        let passwordFile: String

        init() throws {
            let dir = scratch.sub("rsyncd")
            try FileManager.default.createDirectory(atPath: scratch.path + "/tree", withIntermediateDirectories: true)
            // One large file, for the pull that holds the daemon's one connection, and small ones for the slave.
            try Data(repeating: 7, count: 8 << 20).write(to: URL(fileURLWithPath: scratch.path + "/tree/big.iso"))
            try Tree.generate(at: scratch.path + "/tree/small", files: 5)
            try "u:secret\n".write(toFile: dir + "/secrets", atomically: true, encoding: .utf8)
            chmod(dir + "/secrets", 0o600)
            passwordFile = scratch.path + "/password"
            try "secret\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
            chmod(passwordFile, 0o600)
            let config = RsyncdConfig.render(
                modules: [.init(name: "pub", path: scratch.path + "/tree")], users: ["u"],
                secretsFile: dir + "/secrets", logFile: dir + "/rsyncd.log", hostsAllow: nil,
                maxConnections: (1, dir + "/rsyncd.lock"))
            #expect(config.contains("max connections = 1\nlock file = \(dir)/rsyncd.lock\n"))
            try config.write(toFile: dir + "/rsyncd.conf", atomically: true, encoding: .utf8)
            daemon = try RsyncDaemon(config: dir + "/rsyncd.conf", tree: scratch.path + "/tree", module: "pub")
        }

        var url: String { "rsync://u@127.0.0.1:\(port)/pub/" }

        /// A slow pull of the large file that holds the one connection until it is stopped: started again until
        /// its transfer has begun (its temporary file is there), since a check of the daemon may take the connection
        /// first.
        func hold() async throws -> Process {
            for _ in 0..<20 {
                let holder = try start()
                for _ in 0..<100 where holder.isRunning {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? []
                    if names.contains(where: { $0.hasPrefix(".held.iso.") }) { return holder }
                    try await Task.sleep(for: .milliseconds(50))
                }
                BusyDaemonTests.stop(holder, naming: scratch.path + "/held.iso")
            }
            throw ValueError("the holder never got the daemon's connection")
        }

        func start() throws -> Process {
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
            holder.arguments = ["--bwlimit=16", url + "big.iso", scratch.path + "/held.iso"]
            holder.environment = ["RSYNC_PASSWORD": "secret", "PATH": "/usr/bin:/bin"]
            holder.standardOutput = FileHandle.nullDevice
            holder.standardError = FileHandle.nullDevice
            try holder.run()
            return holder
        }

        /// Whether a pull now is refused at the daemon's max connections.
        func refuses() throws -> Bool {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
            probe.arguments = ["--list-only", url]
            probe.environment = ["RSYNC_PASSWORD": "secret", "PATH": "/usr/bin:/bin"]
            probe.standardOutput = FileHandle.nullDevice
            probe.standardError = FileHandle.nullDevice
            try probe.run()
            probe.waitUntilExit()
            return probe.terminationStatus == 5
        }

    }

    /// SIGKILL to it and every process whose argv names `path` (rsync forks its receiver, which would keep the
    /// daemon's connection), not waited for: the runs' own processes (swift-subprocess) may reap it before
    /// Foundation's `Process` sees it end, and `waitUntilExit` then never returns.
    static func stop(_ process: Process, naming path: String? = nil) {
        kill(process.processIdentifier, SIGKILL)
        guard let path else { return }
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let id = Int32(pid), let argv = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                argv.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == path })
            else { continue }
            kill(id, SIGKILL)
        }
    }

    /// A master's scheduler pulling from the busy daemon with the real rsync, on a manual clock, while a slow pull
    /// holds the daemon's one connection: the project is put, and its first run starts.
    struct Busy {
        let daemon: BusyDaemon
        let holder: Process
        let clock = ManualClock()
        let scheduler: SyncScheduler
        let store: AgentStore
        let loop: Task<Void, Never>

        init(bound: TimeInterval) async throws {
            daemon = try BusyDaemon()
            holder = try await daemon.hold()
            let daemon = daemon
            try await eventually("the holder takes the one connection", seconds: 20) { try daemon.refuses() }
            var policy = SyncScheduler.Policy(maxAttempts: 1)
            policy.busyRetryBase = 1
            policy.busyRetryMax = 4
            policy.busyBound = bound
            policy.random = { _ in 1 }
            store = try AgentStore(directory: daemon.scratch.sub("state"))
            scheduler = try SyncScheduler(
                store: store, role: .master, runner: TreeRunner.rsync(clock: clock), clock: clock, policy: policy,
                logs: RunLogs(directory: daemon.scratch.path + "/logs"), logger: testLogger)
            let scheduler = scheduler
            loop = Task { await scheduler.run() }
            _ = try await scheduler.putSettings(AgentSettings(root: daemon.scratch.path + "/root"))
            _ = try await scheduler.putProject("pub", spec: try BusyDaemonTests.spec(daemon))
        }

        func stopHolder() { BusyDaemonTests.stop(holder, naming: daemon.scratch.path + "/held.iso") }

        func shutdown() async {
            stopHolder()
            await scheduler.stop()
            await loop.value
        }
    }

    static func spec(_ daemon: BusyDaemon) throws -> AgentProjectSpec {
        var spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse(daemon.url), passwordFile: daemon.passwordFile),
            path: "pub", interval: .every(TimeSpan(seconds: 86_400)))
        spec.exclude = ["big.iso"]
        return spec
    }

    @Test("refused at max connections 1, the pull waits its turn as a run in progress, then succeeds")
    func waitsItsTurn() async throws {
        let busy = try await Busy(bound: 1_800)
        let (daemon, clock, scheduler, store) = (busy.daemon, busy.clock, busy.scheduler, busy.store)
        // Refused again and again while the clock moves 20 s: still running, never failed.
        let log = daemon.scratch.path + "/logs/pub"
        func refusals() -> Int {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: log)) ?? []
            return names.compactMap { try? String(contentsOfFile: log + "/" + $0, encoding: .utf8) }.joined()
                .components(separatedBy: "max connections: trying again").count - 1
        }
        var seen = 0
        for _ in 0..<5 {
            try await eventually("one more refusal, and its wait on the clock", seconds: 20) {
                let now = refusals()
                guard now > seen, clock.sleepers >= 1 else { return false }
                seen = now
                return true
            }
            clock.advance(by: 4)
        }
        let run = try #require(try store.runs(project: "pub", limit: 1).first)
        #expect(run.state == .running && run.result == nil, "\(run)")
        #expect(await scheduler.projectStates()["pub"]?.status.lastRun?.result != .failed)
        // The holder ends: the next try gets in.
        busy.stopHolder()
        do {
            try await eventually("the pull succeeds", seconds: 30) {
                clock.advance(by: 4)
                return try store.runs(project: "pub", limit: 1).first?.result == .success
            }
        } catch {
            Issue.record("\(try store.runs(project: "pub", limit: 1)) \(refusals())")
            throw error
        }
        let done = try #require(try store.runs(project: "pub", limit: 1).first)
        #expect(done.attempts == 1, "a refusal is no attempt")
        #expect(FileManager.default.fileExists(atPath: daemon.scratch.path + "/root/pub/small"))
        await busy.shutdown()
    }

    @Test("refused past the bound, the run fails and says why")
    func failsPastTheBound() async throws {
        let busy = try await Busy(bound: 20)
        let (clock, scheduler, store) = (busy.clock, busy.scheduler, busy.store)
        try await eventually("the run fails at the bound", seconds: 60) {
            clock.advance(by: 2)
            try await Task.sleep(for: .milliseconds(50))
            return try store.runs(project: "pub", limit: 1).first?.result == .failed
        }
        let run = try #require(try store.runs(project: "pub", limit: 1).first)
        #expect(run.reason == "max-connections", "\(run)")
        #expect(run.message?.contains("max connections (1) reached") == true, "\(run.message ?? "")")
        await busy.shutdown()
    }
}
