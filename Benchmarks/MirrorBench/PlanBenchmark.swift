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
    let observed: [String: Planner.Observation] = Dictionary(uniqueKeysWithValues: DesiredAgents.from(before).map { agent in
        (agent.name, .state(AgentState(role: agent.role, name: agent.name, bootID: "b", version: "0", settings: agent.settings,
                                       settingsGeneration: Generation.of(agent.settings),
                                       projects: agent.projects.mapValues {
                                           ProjectState(spec: $0, generation: Generation.of($0), status: ProjectStatus(activity: .idle, revision: 1), managed: true)
                                       })))
    })
    let start = clock.now
    let agents = step("desired per agent, with generations") { DesiredAgents.from(state) }
    let plan = step("observed vs desired: the plan") { Planner.plan(desired: agents, observed: observed) }
    let total = seconds(clock.now - start)
    // Again, with the process warm (threads started, pages touched): what a long-running reconciler pays each time.
    let again = clock.now
    let warmAgents = DesiredAgents.from(state)
    let warmPlan = Planner.plan(desired: warmAgents, observed: observed)
    let warm = seconds(clock.now - again)
    let specs = agents.reduce(0) { $0 + $1.order.count }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print("\(projects) projects, \(slaves) slaves: \(specs) project specs across \(agents.count) agents; \(changed) projects changed")
    for (name, time) in steps { print(String(format: "  %-38@ %8.1f ms", name as NSString, time * 1000)) }
    print(String(format: "plan (desired per agent + diff): %.1f ms the first time, %.1f ms the second  (target < 100 ms)", total * 1000, warm * 1000))
    print(String(format: "peak memory of the whole run: %.1f MiB  (target < 200 MB)", Double(usage.ru_maxrss) / 1024))
    print("plan: \(plan.counts.create) to create, \(plan.counts.update) to update, \(plan.counts.remove) to remove, \(plan.counts.unchanged) unchanged")
    let met = total < 0.1 && Double(usage.ru_maxrss) * 1024 < 200e6 && plan.counts.update > 0 && warmPlan.counts == plan.counts
    print(met ? "targets met" : "target MISSED")
    return met ? 0 : 1
}
