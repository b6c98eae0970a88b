import Dispatch
import Foundation
import Synchronization

/// One field that an update changes, with both values as text.
public struct FieldChange: Codable, Sendable, Hashable {
    /// A dotted path into the spec: `interval.every`, `upstream.url`, `exclude`.
    public var path: String
    public var old: String?
    public var new: String?

    public init(path: String, old: String?, new: String?) {
        self.path = path
        self.old = old
        self.new = new
    }
}

/// What the plan does to one object on one agent.
public struct PlanAction: Codable, Sendable, Hashable {
    public enum Change: String, Codable, Sendable, Hashable {
        case create, update, remove, unchanged
        /// On the agent but never in mirrors.d (put there by hand): shown, and left alone unless pruned.
        case unmanaged
    }

    public enum Object: String, Codable, Sendable, Hashable { case settings, project }

    public var object: Object
    /// The project's name; `settings` for the settings.
    public var name: String
    public var change: Change
    public var fields: [FieldChange]
    /// For a create: a short description (`upstream=debian interval=hourly`).
    public var summary: String?
    /// For a remove: whether the project's files are deleted too (`--prune`).
    public var purge: Bool
    public var generation: String?
    public var observedGeneration: String?

    public init(
        object: Object, name: String, change: Change, fields: [FieldChange] = [], summary: String? = nil,
        purge: Bool = false,
        generation: String? = nil, observedGeneration: String? = nil
    ) {
        self.object = object
        self.name = name
        self.change = change
        self.fields = fields
        self.summary = summary
        self.purge = purge
        self.generation = generation
        self.observedGeneration = observedGeneration
    }

    public var changesSomething: Bool { change == .create || change == .update || change == .remove }
}

/// The plan for one agent.
public struct AgentPlan: Codable, Sendable, Hashable {
    public var agent: String
    public var role: AgentRole
    public var api: String
    public var reachable: Bool
    /// Why the agent could not be read, when it could not.
    public var error: String?
    public var actions: [PlanAction]
}

/// The ordered list of actions that turns observed into desired: per agent (master first, then slaves by name),
/// settings first, then projects by name. Objects already as desired are counted, not listed.
public struct Plan: Codable, Sendable, Hashable {
    public struct Counts: Codable, Sendable, Hashable {
        public var create = 0, update = 0, remove = 0, unchanged = 0, unmanaged = 0
        public var changes: Int { create + update + remove }
    }

    /// Changes only when a field changes meaning; pipelines may rely on it.
    public var formatVersion = 1
    public var configDigest: String
    public var agents: [AgentPlan]
    public var counts: Counts
    /// Set when the plan would remove most of what is managed and was not allowed to.
    public var refusal: String?

    public var isEmpty: Bool { counts.changes == 0 }
    public var unreachable: [AgentPlan] { agents.filter { !$0.reachable } }
}

/// Computes plans. Pure: no I/O, the same inputs give the same plan.
public enum Planner {
    public struct Options: Sendable, Hashable {
        /// Also delete the files of removed projects, and remove projects put on agents by hand.
        public var prune: Bool
        /// Allow a plan that removes more than half of the managed projects.
        public var allowMassRemoval: Bool

        public init(prune: Bool = false, allowMassRemoval: Bool = false) {
            self.prune = prune
            self.allowMassRemoval = allowMassRemoval
        }
    }

    /// What an agent reported, or why it could not be read.
    public enum Observation: Sendable, Hashable {
        case state(AgentState)
        case unreachable(String)
    }

    public static func plan(desired: [DesiredAgent], observed: [String: Observation], options: Options = Options())
        -> Plan
    {
        // Agents are planned side by side on every core; each plan depends on its own agent alone.
        let planned = Mutex([(AgentPlan, Int)?](repeating: nil, count: desired.count))
        DispatchQueue.concurrentPerform(iterations: desired.count) { i in
            let agent = desired[i]
            var plan = AgentPlan(
                agent: agent.name, role: agent.role, api: agent.api, reachable: false, error: nil, actions: [])
            var unchanged = 0
            if case .state(let state)? = observed[agent.name] {
                plan.reachable = true
                (plan.actions, unchanged) = actions(for: agent, state: state, options: options)
            } else if case .unreachable(let why)? = observed[agent.name] {
                plan.error = why
            } else {
                plan.error = "not observed"
            }
            planned.withLock { $0[i] = (plan, unchanged) }
        }
        var agents: [AgentPlan] = []
        var counts = Plan.Counts()
        var managed = 0
        var removed = 0
        for (agent, (plan, unchanged)) in zip(desired, planned.withLock { $0.map { $0! } }) {
            agents.append(plan)
            guard plan.reachable, case .state(let state)? = observed[agent.name] else { continue }
            counts.unchanged += unchanged
            for action in plan.actions {
                switch action.change {
                case .create: counts.create += 1
                case .update: counts.update += 1
                case .remove: counts.remove += 1
                case .unchanged: counts.unchanged += 1
                case .unmanaged: counts.unmanaged += 1
                }
            }
            if agent.role == .master {
                managed = state.projects.values.filter(\.managed).count
                removed = plan.actions.filter { $0.object == .project && $0.change == .remove }.count
            }
        }
        var result = Plan(configDigest: DesiredAgent.digest(desired), agents: agents, counts: counts)
        if !options.allowMassRemoval && removed > 0 && removed * 2 > managed {
            result.refusal =
                "the plan would remove \(removed) of the \(managed) projects the master holds for mirrors.d; "
                + "is mirrors.d empty or half checked out? Use --allow-mass-removal if this is meant"
        }
        return result
    }

    /// The actions for one agent, by name; what is unchanged is only counted.
    static func actions(for agent: DesiredAgent, state: AgentState, options: Options) -> (
        actions: [PlanAction], unchanged: Int
    ) {
        var actions: [PlanAction] = []
        var unchanged = 0
        let settingsGeneration = agent.settingsGeneration
        if let observed = state.settings {
            if state.settingsGeneration == settingsGeneration {
                unchanged += 1
            } else {
                actions.append(
                    PlanAction(
                        object: .settings, name: "settings", change: .update, fields: diff(observed, agent.settings),
                        generation: settingsGeneration, observedGeneration: state.settingsGeneration))
            }
        } else {
            actions.append(
                PlanAction(
                    object: .settings, name: "settings", change: .create, summary: "root=\(agent.settings.root)",
                    generation: settingsGeneration))
        }
        // The agent says it holds exactly what it should: nothing to compare one by one.
        if let digest = state.projectsDigest, digest == agent.projectsDigest {
            return (actions, unchanged + agent.order.count)
        }
        var matched = 0
        for (name, generation) in zip(agent.order, agent.generations) {
            guard let have = state.projects[name] else {
                actions.append(
                    PlanAction(
                        object: .project, name: name, change: .create, summary: agent.summary(name),
                        generation: generation))
                continue
            }
            matched += 1
            if generation == have.generation {
                if have.managed {
                    unchanged += 1
                } else {
                    // A project put by hand and now in mirrors.d is taken over: the same spec, put again as managed.
                    actions.append(
                        PlanAction(
                            object: .project, name: name, change: .update,
                            fields: [FieldChange(path: "managed", old: "false", new: "true")],
                            generation: generation, observedGeneration: have.generation))
                }
            } else if let want = agent.spec(name) {
                actions.append(
                    PlanAction(
                        object: .project, name: name, change: .update, fields: have.spec.changes(to: want),
                        generation: generation, observedGeneration: have.generation))
            }
        }
        // Projects the agent holds and mirrors.d does not give it: few, and merged in by name.
        if matched < state.projects.count {
            let wanted = Set(agent.order)
            for name in state.projects.keys where !wanted.contains(name) {
                let have = state.projects[name]!
                actions.append(
                    PlanAction(
                        object: .project, name: name, change: have.managed || options.prune ? .remove : .unmanaged,
                        purge: (have.managed || options.prune) && options.prune, observedGeneration: have.generation))
            }
            let settings = actions.filter { $0.object == .settings }
            actions = settings + actions.filter { $0.object == .project }.sorted { $0.name < $1.name }
        }
        return (actions, unchanged)
    }

    /// The fields that differ between two encodable values, as dotted paths in a stable order.
    public static func diff(_ old: some Encodable, _ new: some Encodable) -> [FieldChange] {
        let a = flatten(old)
        let b = flatten(new)
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : FieldChange(path: key, old: a[key], new: b[key])
        }
    }

    static func flatten(_ value: some Encodable) -> [String: String] {
        guard let data = try? APICoding.encoder().encode(value),
            let json = try? JSONDecoder().decode(DiffJSON.self, from: data)
        else { return [:] }
        var out: [String: String] = [:]
        func walk(_ value: DiffJSON, _ path: String) {
            if case .object(let dict) = value {
                for (key, item) in dict { walk(item, path.isEmpty ? key : path + "." + key) }
            } else {
                out[path] = value.text
            }
        }
        walk(json, "")
        return out
    }
}

/// JSON as a value, to compare and print specs field by field.
enum DiffJSON: Decodable, Hashable {
    case object([String: DiffJSON]), array([DiffJSON]), string(String), number(Double), bool(Bool), null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([DiffJSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: DiffJSON].self))
        }
    }

    /// Compact text: strings bare at the top, quoted inside lists.
    var text: String { render(quoted: false) }

    func render(quoted: Bool) -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .string(let s): return quoted ? "\"\(s)\"" : s
        case .array(let items): return "[" + items.map { $0.render(quoted: true) }.joined(separator: ", ") + "]"
        case .object(let dict):
            return "{" + dict.keys.sorted().map { "\($0): \(dict[$0]!.render(quoted: true))" }.joined(separator: ", ")
                + "}"
        }
    }
}
