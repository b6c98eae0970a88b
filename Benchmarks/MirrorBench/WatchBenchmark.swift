// `watch`: edit-to-converged latency of `reconcile --watch`: a one-line edit of a file in mirrors.d (a project's
// interval changed) until every agent reports the new generation, through inotify, the watch loop and loopback HTTP.
import Foundation
import Logging
import MirrorAgent
import MirrorCore
import MirrorHTTP
import MirrorReconciler
import MirrorTestSupport
import Synchronization

func watchBenchmark(_ options: [String: String]) async throws -> Int32 {
    let projects = Int(options["projects"] ?? "") ?? 1000
    let slaves = Int(options["slaves"] ?? "") ?? 3
    let edits = Int(options["edits"] ?? "") ?? 20
    let debounce = Double(options["debounce-ms"] ?? "") ?? WatchOptions().debounce * 1000
    let files = 10
    let work = NSTemporaryDirectory() + "mirrorsync-watch-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: work + "/mirrors.d", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: work) }
    let token = "bench-\(UUID().uuidString)"
    try token.write(toFile: work + "/token", atomically: true, encoding: .utf8)
    chmod(work + "/token", 0o600)
    let quiet = {
        var logger = Logger(label: "bench-watch")
        logger.logLevel = .critical
        return logger
    }()

    // The agents, in this process, each on a loopback port of its own.
    var agents: [(name: String, daemon: AgentDaemon, port: Int)] = []
    var tasks: [Task<Void, Never>] = []
    for name in ["master"] + (1...slaves).map({ "ftp\($0)" }) {
        let daemon = try AgentDaemon(
            options: AgentOptions(
                role: name == "master" ? .master : .slave, name: name, host: "127.0.0.1", port: 0,
                tokenFile: work + "/token", stateDirectory: work + "/state-\(name)", handleSignals: false,
                allowLocalUpstreams: [work + "/upstream"]),
            logger: quiet)
        tasks.append(Task { try? await daemon.run() })
        guard let port = await daemon.listeningPort() else { throw BenchError("agent \(name) did not start") }
        agents.append((name, daemon, port))
    }
    let dir = work + "/mirrors.d"
    try """
    master: { api: "http://127.0.0.1:\(agents[0].port)", tokenFile: \(work)/token, root: \(work)/root, rsyncd: { address: 127.0.0.1, port: \(freePort()) } }
    intervals: { hourly: { every: 1h }, nightly: { every: 1d } }
    upstreams: { local: { url: \(work)/upstream } }
    slaves:
    \(agents.dropFirst().map { "  \($0.name): { api: \"http://127.0.0.1:\($0.port)\", publicDir: \(work)/\($0.name) }" }.joined(separator: "\n"))
    """.write(toFile: dir + "/00-site.yaml", atomically: true, encoding: .utf8)
    // Suspended projects: the agents hold them and run nothing, so only the reconcile is measured. `changed` has its
    // interval changed (which only the master's spec holds) or its maxDelete (which every slave's spec holds too).
    func projectFile(_ file: Int, changed: Int?, everyAgent: Bool) -> String {
        "projects:\n"
            + stride(from: file, to: projects, by: files).map { i in
                let interval = i == changed && !everyAgent ? "nightly" : "hourly"
                let maxDelete = i == changed && everyAgent ? "20%" : "10%"
                return
                    "  project-\(i): { upstream: local, source: p\(i), interval: \(interval), maxDelete: \(maxDelete), suspended: true }\n"
            }.joined()
    }
    for file in 0..<files {
        try projectFile(file, changed: nil, everyAgent: false).write(
            toFile: dir + "/10-projects-\(file).yaml", atomically: true, encoding: .utf8)
    }

    let runs = RunLog()
    let clients = Dictionary(
        uniqueKeysWithValues: agents.map {
            ($0.name, HTTPAgentClient(base: "http://127.0.0.1:\($0.port)", token: token) as any AgentClient)
        })
    let watcher = try InotifyWatcher(directory: dir, logger: quiet)
    let loop = WatchLoop(
        directory: dir, watcher: watcher, options: WatchOptions(debounce: debounce / 1000), logger: quiet,
        onRun: { run in runs.runs.withLock { $0.append(run) } }
    ) { _, _ in
        Reconciler(clients: clients, logger: quiet)
    }
    let watching = Task {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await watcher.run() }
            group.addTask { try? await loop.run() }
        }
    }
    func waitForRun(_ count: Int) async throws -> WatchRun {
        for _ in 0..<60_000 {
            if let run = runs.runs.withLock({ $0.count > count ? $0[count] : nil }) { return run }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw BenchError("no reconcile came")
    }
    let start = try await waitForRun(0)
    guard start.report?.converged == true else { throw BenchError("the first reconcile did not converge") }

    /// `edits` one-line edits, each until every agent holds its new generation: latencies and per-step times.
    // The floor's round trip: one loopback HTTP call to the master with nothing in it to compute (GET /v1/health),
    // timed between the edits, alternating with them.
    let http = APIClient(token: token, timeout: 5)
    var roundTrips: [Double] = []
    func roundTrip() async throws {
        let start = ContinuousClock.now
        _ = try await http.call("GET", "http://127.0.0.1:\(agents[0].port)/v1/health")
        roundTrips.append(seconds(ContinuousClock.now - start))
    }

    func series(everyAgent: Bool, after done: Int) async throws -> (latencies: [Double], steps: [String: [Double]]) {
        var latencies: [Double] = []
        var steps: [String: [Double]] = [:]
        for edit in 0..<edits {
            let project = edit / 2 * 37 % projects
            let file = project % files
            // Every other edit turns it back, so that each edit changes one field of one project.
            let text = projectFile(file, changed: edit % 2 == 0 ? project : nil, everyAgent: everyAgent)
            try await Task.sleep(for: .milliseconds(150))
            try await roundTrip()
            let written = Date()
            try text.write(toFile: dir + "/10-projects-\(file).yaml", atomically: false, encoding: .utf8)
            let run = try await waitForRun(done + edit)
            let updates = everyAgent ? 1 + slaves : 1
            guard let report = run.report, report.converged, report.plan.counts.update == updates else {
                throw BenchError(
                    "edit \(edit): expected \(updates) updates, got \(run.report.map { "\($0.plan.counts)" } ?? "\(run.diagnostics)")"
                )
            }
            // Converged when the verifying read found every agent at its new generation; the full read of the
            // projects' statuses for the conditions comes after.
            let converged = report.endedAt.addingTimeInterval(-(report.steps["status"] ?? 0))
            latencies.append(converged.timeIntervalSince(written))
            let measured: [(String, Double)] = [
                (stepNames[0], run.firstTriggerAt.timeIntervalSince(written)),
                (stepNames[1], run.startedAt.timeIntervalSince(run.firstTriggerAt)),
                (stepNames[2], run.loadSeconds),
                (stepNames[3], report.startedAt.timeIntervalSince(run.startedAt) - run.loadSeconds),
                (stepNames[4], report.steps["observe"] ?? 0), (stepNames[5], report.steps["plan"] ?? 0),
                (stepNames[6], report.steps["apply"] ?? 0),
                (stepNames[7], report.steps["verify"] ?? 0), (stepNames[8], report.steps["status"] ?? 0),
            ]
            for (name, value) in measured { steps[name, default: []].append(value) }
            // Out of the timing: every agent really holds what mirrors.d now says.
            for agent in DesiredAgent.all(from: try DesiredStateLoader().load(directory: dir).state) {
                guard let wanted = agent.projects["project-\(project)"] else { continue }
                guard
                    try await clients[agent.name]!.state().projects["project-\(project)"]?.generation
                        == Generation.of(wanted)
                else {
                    throw BenchError("\(agent.name) is not at the new generation")
                }
            }
        }
        return (latencies, steps)
    }
    let stepNames = [
        "event (write to inotify batch)", "debounce", "load mirrors.d", "desired per agent", "observe", "plan", "apply",
        "verify",
        "(after) statuses for conditions",
    ]
    let interval = try await series(everyAgent: false, after: 1)
    let everyAgent = try await series(everyAgent: true, after: 1 + edits)
    watching.cancel()
    await watching.value
    for agent in agents { await agent.daemon.shutdown() }
    for task in tasks { await task.value }

    print(
        "edit-to-converged: \(projects) projects on a master and \(slaves) slaves (in this process, loopback HTTP), \(files) project files;"
    )
    print(
        "\(edits) one-line edits of each kind, each until every agent reports its new generation; debounce \(Int(debounce)) ms"
    )
    for (title, series) in [
        ("a project's interval (the master's spec changes)", interval),
        ("a project's maxDelete (the master's and every slave's spec change)", everyAgent),
    ] {
        print(title + ":")
        for name in stepNames {
            let values = series.steps[name] ?? []
            print(
                "  " + name.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + String(
                        format: "median %7.2f ms   max %7.2f ms", Bench.median(values) * 1000,
                        (values.max() ?? 0) * 1000))
        }
        let event = Bench.median(series.steps[stepNames[0]] ?? [])
        let floor = debounce / 1000 + event + Bench.median(roundTrips)
        print(
            String(
                format: "  edit to converged: median %.1f ms, max %.1f ms  (target median < 100 ms); floor %.1f ms",
                Bench.median(series.latencies) * 1000,
                (series.latencies.max() ?? 0) * 1000, floor * 1000))
        print(
            String(
                format:
                    "    floor: debounce %.0f ms + inotify event %.2f ms + one loopback HTTP round trip %.2f ms (GET /v1/health, median of %d)",
                debounce, event * 1000, Bench.median(roundTrips) * 1000, roundTrips.count))
    }
    let met = Bench.median(interval.latencies) < 0.100 && Bench.median(everyAgent.latencies) < 0.100
    print(met ? "target met" : "target MISSED")
    return met ? 0 : 1
}

/// The watch loop's reconciles as they end.
final class RunLog: Sendable {
    let runs = Mutex<[WatchRun]>([])
}
