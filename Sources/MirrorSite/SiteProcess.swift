import Foundation
import MirrorCore
import MirrorProcess
import ServiceLifecycle
import Subprocess
#if canImport(System)
    import System
#else
    import SystemPackage
#endif
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// One process of the site as a Service: started once the agents it waits for listen, its output written to the
/// site's terminal line by line, started again when it dies (at once, then with backoff up to `restartMax`), and on
/// graceful shutdown stopped with its whole process group: SIGTERM, then SIGKILL after `grace`.
public struct SiteProcess: Service {
    public let component: SiteComponent
    let executable: String
    let output: SiteOutput
    let waitFor: [(host: String, port: Int)]
    let grace: Duration
    let restartBase: TimeInterval
    let restartMax: TimeInterval
    let clock: any AgentClock

    public init(
        _ component: SiteComponent, executable: String, output: SiteOutput, waitFor: [(host: String, port: Int)] = [],
        grace: Duration = .seconds(15), restartBase: TimeInterval = 1, restartMax: TimeInterval = 60,
        clock: any AgentClock = SystemClock()
    ) {
        self.component = component
        self.executable = executable
        self.output = output
        self.waitFor = waitFor
        self.grace = grace
        self.restartBase = restartBase
        self.restartMax = restartMax
        self.clock = clock
    }

    public func run() async throws {
        let group = ProcessGroupStopper(grace: grace)
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await supervise(group)
            } onCancel: {
                group.stop()
            }
        } onGracefulShutdown: {
            group.stop()
        }
    }

    func supervise(_ group: ProcessGroupStopper) async {
        for (host, port) in waitFor {
            let deadline = clock.now().addingTimeInterval(20)
            while !group.isStopping && clock.now() < deadline && !Self.accepts(host: host, port: port) {
                try? await clock.sleep(until: clock.now().addingTimeInterval(0.05))
            }
        }
        var failures = 0
        while !group.isStopping {
            let started = clock.now()
            let ended = await runOnce(group)
            if group.isStopping {
                output.write("up", "\(component.name) stopped")
                return
            }
            // A process that ran for a while before it died starts again at once; one that cannot start backs off.
            if clock.now().timeIntervalSince(started) > restartMax { failures = 0 }
            failures += 1
            let delay = failures == 1 ? 0 : Backoff.delay(after: failures - 1, base: restartBase, max: restartMax)
            output.write(
                "up",
                "\(component.name) \(ended); restarting it"
                    + (delay > 0 ? " in \(String(format: "%.1f", delay)) s" : ""))
            let until = clock.now().addingTimeInterval(delay)
            while !group.isStopping && clock.now() < until {
                try? await clock.sleep(until: min(until, clock.now().addingTimeInterval(0.1)))
            }
        }
    }

    /// Runs the process until it ends; says how it ended.
    func runOnce(_ group: ProcessGroupStopper) async -> String {
        var platform = PlatformOptions()
        platform.processGroupID = 0
        let options = platform
        let name = component.name
        let output = self.output
        let executable = self.executable
        let arguments = component.arguments
        // Stopping reaches the process as signals to its group, sent by `group`; the subprocess's own task is never
        // cancelled (swift-subprocess can lose a cancellation that arrives while the process is spawned).
        let ended = await Task { () -> String in
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), platformOptions: options,
                    input: .none, output: .sequence, error: .combinedWithOutput
                ) { execution in
                    group.started(execution.processIdentifier.value)
                    for try await line in execution.standardOutput.strings() { output.write(name, line) }
                }
                switch result.terminationStatus {
                case .exited(let code): return "exited with status \(code)"
                case .signaled(let signal):
                    return "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
                }
            } catch {
                return "could not start (\(error))"
            }
        }.value
        await group.waitForGroup(endingStragglers: true)
        return ended
    }

    /// Whether something accepts TCP connections at host:port.
    static func accepts(host: String, port: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return false }
        defer { freeaddrinfo(first) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0
    }
}
