import Foundation
import Logging
import MirrorCore

/// Ready, Reconciling or Stalled, with a reason, as Kubernetes-style controllers report it.
public struct Condition: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable {
        case ready = "Ready", reconciling = "Reconciling", stalled = "Stalled"
    }

    public var status: Status
    /// `Converged`, `AgentUnreachable`, `ApplyFailed`, `InvalidConfig`, `SyncFailed`, `AwaitingFirstSync`, ...
    public var reason: String
    public var message: String?

    public init(_ status: Status, _ reason: String, _ message: String? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
    }
}

/// An agent's condition and its projects'.
public struct AgentConditions: Codable, Sendable, Hashable {
    public var agent: String
    public var role: AgentRole
    public var condition: Condition
    public var projects: [String: Condition]
}

/// One action carried out, or not.
public struct AppliedAction: Codable, Sendable, Hashable {
    public var agent: String
    public var action: PlanAction
    public var error: String?
}

/// What a reconcile did: the plan it started from, what it applied, and where every agent ended up.
public struct ReconcileReport: Codable, Sendable {
    public var formatVersion = 1
    public var startedAt: Date
    public var endedAt: Date
    public var configDigest: String
    public var plan: Plan
    public var applied: [AppliedAction]
    public var conditions: [AgentConditions]
    /// Every agent read back with nothing left to change.
    public var converged: Bool
    public var refused: String?
    /// Seconds spent observing the agents and planning (the first round), applying and verifying (every round), and
    /// reading the agents' statuses at the end.
    public var steps: [String: Double] = [:]
}

/// Observe, plan, apply, verify; agents that do not answer are retried with backoff while the others converge.
public struct Reconciler: Sendable {
    public var clients: [String: any AgentClient]
    public var options: Planner.Options
    public var clock: any AgentClock
    public var logger: Logger
    /// Calls in flight at once, across agents.
    public var concurrency: Int
    public var retryBase: TimeInterval
    public var retryMax: TimeInterval
    /// What earlier reconciles read of the agents: when set, agents already read once are asked only for what
    /// changed since (the watch loop keeps one across its reconciles); nil reads every agent as a new one.
    public var memory: AgentMemory?

    public init(
        clients: [String: any AgentClient], options: Planner.Options = .init(), clock: any AgentClock = SystemClock(),
        logger: Logger, concurrency: Int = 16, retryBase: TimeInterval = 0.5, retryMax: TimeInterval = 10
    ) {
        self.clients = clients
        self.options = options
        self.clock = clock
        self.logger = logger
        self.concurrency = concurrency
        self.retryBase = retryBase
        self.retryMax = retryMax
    }

    /// Reads every agent's state at once; `conditional` leaves out the projects of agents that hold exactly what they
    /// should (they answer with the digest alone), which is all a plan needs of them.
    public func observe(_ agents: [DesiredAgent], conditional: Bool = false) async -> [String: Planner.Observation] {
        await withTaskGroup(of: (String, Planner.Observation).self) { group in
            for agent in agents {
                guard let client = clients[agent.name] else { continue }
                let digest = conditional ? agent.projectsDigest : nil
                group.addTask {
                    // One return, after the do/catch: returning the tuple from inside a typed-throws do/catch in
                    // this child task crashed release builds (swift 6.3) when the group took the result.
                    let observation: Planner.Observation
                    do throws(ClientError) {
                        observation = .state(try await read(agent.name, client, ifDigest: digest))
                    } catch {
                        observation = .unreachable(error.message)
                    }
                    return (agent.name, observation)
                }
            }
            var out: [String: Planner.Observation] = [:]
            for await (name, observation) in group { out[name] = observation }
            return out
        }
    }

    /// One agent's state: what changed since the last read when `memory` knows one, merged onto it (or the whole
    /// state again when the delta does not add up); else as asked.
    func read(_ agent: String, _ client: any AgentClient, ifDigest digest: String?) async throws(ClientError)
        -> AgentState
    {
        guard let memory else { return try await client.state(ifDigest: digest) }
        if let since = memory.since(agent) {
            if let merged = memory.merge(agent, try await client.state(since: since.bootID, version: since.version)) {
                return merged
            }
            // Another run of the agent, or a change the delta cannot show (a project removed by hand): read it whole.
            let whole = try await client.state()
            return memory.merge(agent, whole) ?? whole
        }
        let answer = try await client.state(ifDigest: digest)
        return memory.merge(agent, answer) ?? answer
    }

    public func plan(_ agents: [DesiredAgent]) async -> (Plan, [String: Planner.Observation]) {
        let observed = await observe(agents, conditional: true)
        return (Planner.plan(desired: agents, observed: observed, options: options), observed)
    }

    /// Carries out a plan's changes: on each agent the settings first (projects need the root), then its projects.
    public func apply(_ plan: Plan, desired agents: [DesiredAgent]) async -> [AppliedAction] {
        let byName = Dictionary(uniqueKeysWithValues: agents.map { ($0.name, $0) })
        var settingsFirst: [(AgentPlan, PlanAction)] = []
        var projects: [(AgentPlan, PlanAction)] = []
        for agent in plan.agents where agent.reachable {
            for action in agent.actions where action.changesSomething {
                if action.object == .settings {
                    settingsFirst.append((agent, action))
                } else {
                    projects.append((agent, action))
                }
            }
        }
        var results = await run(settingsFirst, byName)
        let failedSettings = Set(results.filter { $0.error != nil }.map(\.agent))
        results += await run(projects.filter { !failedSettings.contains($0.0.agent) }, byName)
        return results
    }

    func run(_ work: [(AgentPlan, PlanAction)], _ agents: [String: DesiredAgent]) async -> [AppliedAction] {
        await withTaskGroup(of: AppliedAction.self) { group in
            var results: [AppliedAction] = []
            var next = work.makeIterator()
            func start(_ item: (AgentPlan, PlanAction)) {
                let (agent, action) = item
                guard let client = clients[agent.agent], let desired = agents[agent.agent] else { return }
                group.addTask { await self.carryOut(action, on: agent.agent, client: client, desired: desired) }
            }
            for _ in 0..<concurrency { if let item = next.next() { start(item) } }
            while let result = await group.next() {
                results.append(result)
                if let item = next.next() { start(item) }
            }
            return results
        }
    }

    func carryOut(_ action: PlanAction, on agent: String, client: any AgentClient, desired: DesiredAgent) async
        -> AppliedAction
    {
        var error: String?
        do throws(ClientError) {
            switch (action.object, action.change) {
            case (.settings, _): _ = try await client.putSettings(desired.settings)
            case (.project, .remove):
                try await client.deleteProject(action.name, purge: action.purge)
                memory?.removed(action.name, from: agent)
            case (.project, _):
                guard let spec = desired.spec(action.name) else {
                    return AppliedAction(agent: agent, action: action, error: "no spec")
                }
                _ = try await client.putProject(action.name, spec)
            }
        } catch let failure {
            error = failure.message
        }
        let verb =
            action.change == .remove
            ? (action.purge ? "removed, files deleted" : "removed, files kept") : action.change.rawValue + "d"
        if let error {
            logger.error(
                "apply failed", metadata: ["agent": "\(agent)", "object": "\(action.name)", "error": "\(error)"])
        } else {
            logger.info(
                "\(action.object == .settings ? "settings" : "project") \(verb)",
                metadata: ["agent": "\(agent)", "object": "\(action.name)"])
        }
        return AppliedAction(agent: agent, action: action, error: error)
    }

    /// Applies until every agent has converged or `timeout` has passed; a plan that removes most of what is
    /// managed is refused before anything is applied.
    public func reconcile(_ agents: [DesiredAgent], timeout: TimeInterval) async -> ReconcileReport {
        let started = clock.now()
        let deadline = started.addingTimeInterval(timeout)
        var steps: [String: Double] = [:]
        var mark = ContinuousClock.now
        let firstObserved = await observe(agents, conditional: true)
        Self.lap("observe", &steps, &mark)
        let first = Planner.plan(desired: agents, observed: firstObserved, options: options)
        Self.lap("plan", &steps, &mark)
        var report = ReconcileReport(
            startedAt: started, endedAt: started, configDigest: first.configDigest, plan: first, applied: [],
            conditions: [], converged: false, refused: first.refusal)
        if let refusal = first.refusal {
            logger.error("plan refused", metadata: ["reason": "\(refusal)"])
            report.conditions = Self.conditions(plan: first, observed: [:], desired: agents, applied: [])
            report.endedAt = clock.now()
            log(report)
            return report
        }
        var current = first
        var attempt = 0
        var observed: [String: Planner.Observation] = [:]
        while true {
            mark = ContinuousClock.now
            report.applied += await apply(current, desired: agents)
            Self.lap("apply", &steps, &mark)
            (current, observed) = await plan(agents)
            Self.lap("verify", &steps, &mark)
            let failedApplies = report.applied.filter { $0.error != nil }.map(\.agent)
            // Converged: every agent answered and there is nothing left to change.
            if current.isEmpty && current.unreachable.isEmpty {
                report.converged = true
                break
            }
            if current.refusal != nil || clock.now() >= deadline { break }
            attempt += 1
            let wait = Backoff.delay(after: attempt, base: retryBase, max: retryMax)
            logger.notice(
                "not converged; retrying",
                metadata: [
                    "unreachable": "\(current.unreachable.map(\.agent).joined(separator: ","))",
                    "changes": "\(current.counts.changes)",
                    "failedApplies": "\(Set(failedApplies).sorted().joined(separator: ","))",
                    "retryIn": "\(String(format: "%.1f", wait))s",
                ])
            do { try await clock.sleep(until: min(deadline, clock.now().addingTimeInterval(wait))) } catch { break }
            // Failed applies are tried again in the next round; keep only the latest word on each.
            report.applied.removeAll { $0.error != nil }
        }
        // The projects' conditions need their statuses: read every agent in full, once, at the end (with `memory`,
        // what changed since the verifying read: the projects just applied, and runs that moved).
        mark = ContinuousClock.now
        observed = await observe(agents)
        Self.lap("status", &steps, &mark)
        report.steps = steps
        report.conditions = Self.conditions(plan: current, observed: observed, desired: agents, applied: report.applied)
        report.endedAt = clock.now()
        log(report)
        return report
    }

    /// Adds the time since `mark` to `step`, and moves the mark to now.
    static func lap(_ step: String, _ steps: inout [String: Double], _ mark: inout ContinuousClock.Instant) {
        let now = ContinuousClock.now
        steps[step, default: 0] += (now - mark) / .seconds(1)
        mark = now
    }

    /// One line per agent that is not Ready, and one for the whole reconcile: digest, counts, outcome.
    func log(_ report: ReconcileReport) {
        for agent in report.conditions where agent.condition.status != .ready {
            logger.warning(
                "agent \(agent.condition.status.rawValue)",
                metadata: [
                    "agent": "\(agent.agent)", "reason": "\(agent.condition.reason)",
                    "message": "\(agent.condition.message ?? "")",
                ])
        }
        let failed = report.applied.filter { $0.error != nil }.count
        logger.notice(
            "reconcile finished",
            metadata: [
                "configDigest": "\(report.configDigest)", "created": "\(report.plan.counts.create)",
                "updated": "\(report.plan.counts.update)",
                "removed": "\(report.plan.counts.remove)", "applied": "\(report.applied.count - failed)",
                "failed": "\(failed)",
                "outcome": "\(report.converged ? "converged" : report.refused != nil ? "refused" : "not converged")",
                "seconds": "\(String(format: "%.2f", report.endedAt.timeIntervalSince(report.startedAt)))",
            ])
    }

    /// Conditions from the last plan and what the agents reported.
    public static func conditions(
        plan: Plan, observed: [String: Planner.Observation], desired: [DesiredAgent], applied: [AppliedAction]
    ) -> [AgentConditions] {
        desired.map { agent in
            let agentPlan = plan.agents.first { $0.agent == agent.name }
            let failures = applied.filter { $0.agent == agent.name && $0.error != nil }
            var projects: [String: Condition] = [:]
            let state: AgentState? = if case .state(let s)? = observed[agent.name] { s } else { nil }
            for name in agent.order {
                guard let spec = agent.spec(name) else { continue }
                let pending = agentPlan?.actions.first { $0.name == name && $0.changesSomething }
                if let failure = failures.first(where: { $0.action.name == name }) {
                    projects[name] = Condition(.stalled, "ApplyFailed", failure.error)
                } else if pending != nil || state == nil {
                    projects[name] = Condition(.reconciling, state == nil ? "AgentUnreachable" : "ApplyPending")
                } else if let status = state?.projects[name]?.status {
                    if spec.suspended {
                        projects[name] = Condition(.ready, "Suspended")
                    } else if let run = status.lastRun, run.result == .failed {
                        projects[name] = Condition(.stalled, "SyncFailed", run.message)
                    } else if status.revision == 0 {
                        projects[name] = Condition(.reconciling, "AwaitingFirstSync")
                    } else {
                        projects[name] = Condition(.ready, "Synced")
                    }
                }
            }
            let condition: Condition
            if let agentPlan, !agentPlan.reachable {
                condition = Condition(.stalled, "AgentUnreachable", agentPlan.error)
            } else if !failures.isEmpty {
                condition = Condition(.stalled, "ApplyFailed", failures.compactMap(\.error).first)
            } else if plan.refusal != nil {
                condition = Condition(.stalled, "MassRemovalRefused", plan.refusal)
            } else if let agentPlan, agentPlan.actions.contains(where: \.changesSomething) {
                condition = Condition(.reconciling, "ChangesPending")
            } else {
                condition = Condition(.ready, "Converged")
            }
            return AgentConditions(agent: agent.name, role: agent.role, condition: condition, projects: projects)
        }
    }
}
