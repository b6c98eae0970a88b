import Foundation
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// Hosts with their own addresses: each in a network namespace this lab made, with one veth to a bridge that lives in a
/// namespace of its own, so that no address is ever added outside the lab. Needs root and `ip`; `unavailable` says why
/// not, for a reported skip.
final class NetworkLab: @unchecked Sendable {
    // Every stored property but `processes` is set once in init; `processes` is guarded by `lock`.
    let id: String
    let subnet: Int
    let hosts: [String]
    private var processes: [LabProcess] = []
    private let lock = NSLock()

    /// Why namespaces cannot be made here, or nil.
    static let unavailable: String? = {
        guard getuid() == 0 else { return "network namespaces need root" }
        guard
            FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
                || FileManager.default.isExecutableFile(atPath: "/sbin/ip")
        else {
            return "no 'ip' (iproute2) to make network namespaces"
        }
        let name = "msprobe\(getpid())"
        guard (try? NetworkLab.ip(["netns", "add", name])) != nil else { return "'ip netns add' failed here" }
        _ = try? NetworkLab.ip(["netns", "del", name])
        return nil
    }()

    init(hosts: [String]) throws {
        id = String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        subnet = Int.random(in: 1...250)
        self.hosts = hosts
        do {
            try Self.ip(["netns", "add", switchNamespace])
            try Self.ip(["-n", switchNamespace, "link", "add", "br0", "type", "bridge"])
            try Self.ip(["-n", switchNamespace, "link", "set", "br0", "up"])
            for (index, host) in hosts.enumerated() {
                let ns = namespace(host)
                try Self.ip(["netns", "add", ns])
                try Self.ip(["-n", ns, "link", "set", "lo", "up"])
                // The host's end is eth0 in its namespace; the switch's end, sw<index>, joins the bridge.
                try Self.ip(["link", "add", "ms\(id)h\(index)", "type", "veth", "peer", "name", "ms\(id)s\(index)"])
                try Self.ip(["link", "set", "ms\(id)h\(index)", "netns", ns, "name", "eth0"])
                try Self.ip(["link", "set", "ms\(id)s\(index)", "netns", switchNamespace, "name", "sw\(index)"])
                try Self.ip(["-n", switchNamespace, "link", "set", "sw\(index)", "master", "br0", "up"])
                try Self.ip(["-n", ns, "addr", "add", address(host) + "/24", "dev", "eth0"])
                try Self.ip(["-n", ns, "link", "set", "eth0", "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    var switchNamespace: String { "ms\(id)-switch" }

    func namespace(_ host: String) -> String { "ms\(id)-\(host)" }

    func address(_ host: String) -> String {
        guard let index = hosts.firstIndex(of: host) else { return "0.0.0.0" }
        return "10.231.\(subnet).\(index + 10)"
    }

    /// Brings a host's link down or up at the switch, as a pulled cable would: the host keeps its address and sees
    /// its packets go nowhere.
    func link(_ host: String, up: Bool) throws {
        guard let index = hosts.firstIndex(of: host) else { return }
        try Self.ip(["-n", switchNamespace, "link", "set", "sw\(index)", up ? "up" : "down"])
    }

    /// Limits what the switch sends to a host (`rate` as tc takes it, such as `8mbit`), so that a transfer to it takes
    /// long enough to be cut in the middle.
    func throttle(_ host: String, rate: String) throws {
        guard let index = hosts.firstIndex(of: host) else { return }
        try Self.run(
            "/usr/bin/env",
            [
                "ip", "netns", "exec", switchNamespace, "tc", "qdisc", "replace", "dev", "sw\(index)", "root",
                "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms",
            ])
    }

    /// Sets a network sysctl of a host's namespace alone (`net.ipv4.*` settings are each namespace's own).
    func sysctl(_ host: String, _ setting: String) throws {
        try Self.run("/usr/bin/env", ["ip", "netns", "exec", namespace(host), "sysctl", "-q", "-w", setting])
    }

    /// Runs a command in a host's namespace to its end: its status and output (small outputs only).
    func run(on host: String, _ arguments: [String]) async -> (status: Int32, output: String) {
        (try? await offPool {
            try Self.run("/usr/bin/env", ["ip", "netns", "exec", self.namespace(host)] + arguments, check: false)
        })
            ?? (-1, "could not start \(arguments.first ?? "")")
    }

    /// Starts a long-running process in a host's namespace, its output in `log`; it is killed at the lab's end.
    func start(on host: String, _ arguments: [String], log: String) throws -> LabProcess {
        let process = LabProcess(["/usr/bin/env", "ip", "netns", "exec", namespace(host)] + arguments, log: log)
        try process.start()
        lock.withLock { processes.append(process) }
        return process
    }

    func tearDown() {
        // SIGTERM first: an agent stops the rsync daemon it runs in a process group of its own, which SIGKILL would leave.
        for process in lock.withLock({ processes }) { process.terminate() }
        for host in hosts { _ = try? Self.ip(["netns", "del", namespace(host)]) }
        _ = try? Self.ip(["netns", "del", switchNamespace])
    }

    deinit { tearDown() }

    @discardableResult
    static func ip(_ arguments: [String]) throws -> String {
        try run("/usr/bin/env", ["ip"] + arguments).output
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], check: Bool = true) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        if check && process.terminationStatus != 0 {
            throw ValueError(
                "\(([executable] + arguments).joined(separator: " ")) exited \(process.terminationStatus): \(output)")
        }
        return (process.terminationStatus, output)
    }
}

/// A long-running process, its output appended to a log file; in a host's namespace when started by the lab (`ip netns
/// exec` execs it, so the pid is the program's own).
final class LabProcess: @unchecked Sendable {
    // `process` is replaced only by start(), which the one test task calls.
    let command: [String]
    let log: String
    private var process: Process?

    init(_ command: [String], log: String) {
        self.command = command
        self.log = log
    }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = FileHandle(forWritingAtPath: log)
        handle?.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
    }

    var pid: pid_t { process?.processIdentifier ?? 0 }
    var isRunning: Bool { process?.isRunning ?? false }
    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    func kill(_ signal: Int32) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
    }

    /// SIGTERM, and SIGKILL if it has not ended after `grace` seconds: what a test's cleanup does.
    func terminate(grace: Double = 10) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// Sends `signal` and waits, off the cooperative pool, for the process to end: its exit status.
    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        (try? await offPool {
            guard let process = self.process else { return -1 }
            if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
            process.waitUntilExit()
            return process.terminationStatus
        }) ?? -1
    }
}
