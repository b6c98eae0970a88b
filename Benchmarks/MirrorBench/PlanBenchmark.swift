// `plan`: the reconciler's plan for a large site with a few specs changed: desired per agent, generations, diff.
import Foundation
import MirrorCore

func planBenchmark(_ options: [String: String]) throws -> Int32 {
    let projects = Int(options["projects"] ?? "") ?? 10_000
    let slaves = Int(options["slaves"] ?? "") ?? 100
    let changedShare = Double(options["changed"] ?? "") ?? 0.01
    let dir = NSTemporaryDirectory() + "mirrorsync-plan-bench-\(getpid())/mirrors.d"
    defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
    _ = try generate(into: dir, projects: projects, slaves: slaves, upstreams: 200, files: 100)
    let clock = ContinuousClock()
    var steps: [(String, Double)] = []
    func step<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = clock.now
        let value = try body()
        steps.append((name, seconds(clock.now - start)))
        return value
    }
    let state = try step("load mirrors.d") { try DesiredStateLoader().load(directory: dir).state }
    // What the agents report: the same site with a share of its projects' intervals changed since.
    var before = state
    let changed = Int(Double(projects) * changedShare)
    for (i, name) in state.projects.keys.sorted().enumerated() where i < changed {
        let interval = before.projects[name]?.interval == "hourly" ? "nightly" : "hourly"
        before.projects[name]?.interval = interval
    }
    // As each agent answers `GET /v1/state?ifDigest=` with the digest of what mirrors.d gives it: an agent that holds
    // exactly that leaves its projects out; the others send every project with its status.
    let wanted = Dictionary(uniqueKeysWithValues: DesiredAgent.all(from: state).map { ($0.name, $0.projectsDigest) })
    let observed: [String: Planner.Observation] = Dictionary(
        uniqueKeysWithValues: DesiredAgent.all(from: before).map { agent in
            let projects = agent.projects.mapValues {
                ProjectState(
                    spec: $0, generation: Generation.of($0), status: ProjectStatus(activity: .idle, revision: 1),
                    managed: true)
            }
            let digest = AgentState.digest(of: projects)
            let inSync = digest == wanted[agent.name]
            return (
                agent.name,
                .state(
                    AgentState(
                        role: agent.role, name: agent.name, bootID: "b", version: "0", settings: agent.settings,
                        settingsGeneration: Generation.of(agent.settings), projects: inSync ? [:] : projects,
                        projectsDigest: digest, projectsOmitted: inSync))
            )
        })
    let sentInFull = observed.values.filter {
        if case .state(let s) = $0 { return !s.projectsOmitted } else { return false }
    }.count
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let beforePlanKiB = usage.ru_maxrss
    let start = clock.now
    var agents: [DesiredAgent]? = step("desired per agent, with generations") { DesiredAgent.all(from: state) }
    var plan: Plan? = step("observed vs desired: the plan") { Planner.plan(desired: agents!, observed: observed) }
    let total = seconds(clock.now - start)
    let counts = plan!.counts
    let specs = agents!.reduce(0) { $0 + $1.order.count }
    let agentCount = agents!.count
    // Again, as a long-running reconciler does it: the last plan gone, the process warm, the specs read from
    // mirrors.d again each time as the watch loop reads them.
    agents = nil
    plan = nil
    var warm: [Double] = []
    for _ in 0..<10 {
        let fresh = try DesiredStateLoader().load(directory: dir).state
        let again = clock.now
        let desired = DesiredAgent.all(from: fresh)
        let warmPlan = Planner.plan(desired: desired, observed: observed)
        warm.append(seconds(clock.now - again))
        // The reconciler applies the plan with these, and lets them go after: freeing them is not the plan's time.
        withExtendedLifetime(desired) {}
        guard warmPlan.counts == counts else { throw BenchError("the plans differ") }
    }
    getrusage(RUSAGE_SELF.rawValue, &usage)
    // One spec's generation, on one core: the plan hashes every project's two specs.
    let specs1 = DesiredAgent.all(from: state)
    let sample = specs1[0].projects.values.map { $0 }
    var hashTimes: [Double] = []
    for _ in 0..<5 {
        let t = clock.now
        var n = 0
        for spec in sample { n &+= Generation.of(spec).utf8.count }
        hashTimes.append(seconds(clock.now - t) / Double(max(sample.count, 1)))
        guard n > 0 else { throw BenchError("no specs") }
    }
    print(
        String(
            format: "one spec's generation: %.2f µs median on one core (%d specs)", Bench.median(hashTimes) * 1e6,
            sample.count))
    print(
        "\(projects) projects, \(slaves) slaves: \(specs) project specs across \(agentCount) agents; \(changed) projects changed"
    )
    for (name, time) in steps {
        print("  " + name.padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: "%8.1f ms", time * 1000))
    }
    print(
        String(
            format:
                "plan (desired per agent + diff): %.1f ms the first time; then %.1f ms median, %.1f ms max of %d  (target < 50 ms)",
            total * 1000, Bench.median(warm) * 1000, warm.max()! * 1000, warm.count))
    print(
        String(
            format:
                "peak memory: %.1f MiB in all; %.1f MiB before planning (mirrors.d loaded, 101 agents' states held)  (target < 88 MiB)",
            Double(usage.ru_maxrss) / 1024, Double(beforePlanKiB) / 1024))
    print(
        "plan: \(counts.create) to create, \(counts.update) to update, \(counts.remove) to remove, \(counts.unchanged) unchanged; \(sentInFull) of \(agentCount) agents sent their projects"
    )
    let met = Bench.median(warm) < 0.05 && Double(usage.ru_maxrss) / 1024 < 88 && counts.update > 0
    print(met ? "targets met" : "target MISSED")
    return met ? 0 : 1
}
