import Dispatch
import Foundation
import Synchronization

/// The project specs of a desired state, shared by the agents that hold them: a site with 100 slaves holds one
/// copy of each spec, not one per slave. Every project of the site has a place, in name order; the master's table
/// and the slaves' (their pulls) share the names, so an agent's projects are a list of places.
public final class SpecTable: Sendable {
    /// Every project of the site, sorted.
    let names: [String]
    let places: [String: Int]
    /// Place by place: the spec, and its generation; nil and "" where the table has none (no slave pulls it).
    let specs: [AgentProjectSpec?]
    let generations: [String]
    /// Each place's entry in an agent's `ProjectsDigest`, kept once for every agent that holds it.
    let entries: ProjectsDigest.Entries

    init(names: [String], places: [String: Int], specs: [AgentProjectSpec?], generations: [String]) {
        self.names = names
        self.places = places
        self.specs = specs
        self.generations = generations
        self.entries = ProjectsDigest.Entries(names: names, generations: generations)
    }

    func spec(_ name: String) -> AgentProjectSpec? { places[name].flatMap { specs[$0] } }
}

/// What one agent should hold, computed from the desired state.
public struct DesiredAgent: Sendable {
    public var role: AgentRole
    /// `master`, or the slave's name.
    public var name: String
    public var api: String
    /// How the reconciler reaches `api`.
    public var transport: AgentTransport
    public var settings: AgentSettings { didSet { settingsGeneration = Generation.of(settings) } }
    let table: SpecTable
    /// The places in `table` of the agent's projects, ascending (so in name order); nil: all of them.
    let members: [Int32]?
    /// mirrors.d's projects, for the line a created project shows (the master's); nil: a slave's, "from master".
    let summaries: [String: ProjectSpec]?
    /// `ProjectsDigest` of what the agent should hold, every project managed.
    public let projectsDigest: String
    /// `Generation.of(settings)`: computed once, since the plan and the config digest both need it.
    public private(set) var settingsGeneration: String

    init(
        role: AgentRole, name: String, api: String, transport: AgentTransport, settings: AgentSettings,
        table: SpecTable,
        members: [Int32]?, summaries: [String: ProjectSpec]?, projectsDigest: String? = nil,
        settingsGeneration: String? = nil
    ) {
        self.transport = transport
        self.role = role
        self.name = name
        self.api = api
        self.settings = settings
        self.table = table
        self.members = members
        self.summaries = summaries
        self.projectsDigest = projectsDigest ?? Self.digest(table, members)
        self.settingsGeneration = settingsGeneration ?? Generation.of(settings)
    }

    /// The agent's projects' names, sorted.
    public var order: [String] { members.map { $0.map { table.names[Int($0)] } } ?? table.names }
    /// Their generations, index by index with `order`.
    public var generations: [String] { members.map { $0.map { table.generations[Int($0)] } } ?? table.generations }
    /// How many projects the agent should hold.
    public var projectCount: Int { members?.count ?? table.names.count }

    /// `master` or `slave ftp1`, as plans and logs name agents.
    public var label: String { role == .master ? "master" : "slave \(name)" }

    /// The spec of one of this agent's projects.
    public func spec(_ project: String) -> AgentProjectSpec? { table.spec(project) }

    /// Every project this agent should hold, by name.
    public var projects: [String: AgentProjectSpec] {
        Dictionary(uniqueKeysWithValues: order.compactMap { name in table.spec(name).map { (name, $0) } })
    }

    /// A short line for plans: the names of the project's upstream and interval, as mirrors.d writes them; on a
    /// slave, where it pulls from (the chain of hops for a tier). Written when a plan shows it, not for each of a large
    /// site's projects.
    public func summary(_ project: String) -> String {
        guard let spec = summaries?[project] else { return pullSummary }
        return "upstream=\(spec.upstream) interval=\(spec.interval)" + (spec.suspended ? " suspended" : "")
    }
    /// What `summary` says of a slave's pulls: `from master`, or `from ftp1 (master → ftp1)`.
    var pullSummary = "from master"

    /// `ProjectsDigest` of the projects at `members` in `table` (all of them for nil), every one managed.
    static func digest(_ table: SpecTable, _ members: [Int32]?) -> String {
        table.entries.withKept { kept in
            var digest = ProjectsDigest.Builder()
            if let members {
                for place in members { digest.add(kept, at: Int(place)) }
            } else {
                for place in table.names.indices { digest.add(kept, at: place) }
            }
            return digest.hex
        }
    }
}

extension DesiredAgent {
    /// How often a slave pulls even without a trigger from the master, in case a trigger was lost.
    public static let slaveFallbackInterval = TimeSpan(seconds: 6 * 3_600)

    /// The desired state, split by agent: the master holds every project with the slaves that serve it; each slave
    /// holds the projects assigned to it, pulled from the master's rsync daemon into its public directory.
    public static func all(from state: DesiredState) -> [DesiredAgent] {
        let masterHost =
            URLComponents(string: state.master.api)?.host.map {
                $0.hasPrefix("[") ? String($0.dropFirst().dropLast()) : $0
            } ?? "localhost"
        let modulePort = state.master.rsyncd.port == 873 ? nil : state.master.rsyncd.port
        let slaveNames = state.slaves.keys.sorted()
        let names = state.projects.keys.sorted()
        let rows = build(
            names: names, of: state, slaveNames: slaveNames, masterHost: masterHost, modulePort: modulePort)
        var places: [String: Int] = [:]
        places.reserveCapacity(names.count)
        var masterSpecs: [AgentProjectSpec?] = []
        var masterGenerations: [String] = []
        var masterMembers: [Int32] = []
        var pullSpecs: [AgentProjectSpec?] = []
        var pullGenerations: [String] = []
        masterSpecs.reserveCapacity(names.count)
        masterGenerations.reserveCapacity(names.count)
        pullSpecs.reserveCapacity(names.count)
        pullGenerations.reserveCapacity(names.count)
        var slaveMembers = [[Int32]](repeating: [], count: slaveNames.count)
        for (place, (name, row)) in zip(names, rows).enumerated() {
            places[name] = place
            masterSpecs.append(row.spec)
            masterGenerations.append(row.generation)
            pullSpecs.append(row.pull)
            pullGenerations.append(row.pullGeneration)
            guard row.spec != nil else { continue }
            masterMembers.append(Int32(place))
            for slave in row.servers { slaveMembers[Int(slave)].append(Int32(place)) }
        }
        let masterTable = SpecTable(names: names, places: places, specs: masterSpecs, generations: masterGenerations)
        let pullTable = SpecTable(names: names, places: places, specs: pullSpecs, generations: pullGenerations)
        // The master reaches its slaves, and each slave its master, as the reconciler does: the same CA, the same leave.
        let masterTransport = state.masterTransport
        var slavePeers: [String: AgentTransport] = [:]
        for slave in state.slaves.values {
            let transport = state.transport(slave: slave)
            if !transport.isStandard { slavePeers[slave.api] = transport }
        }
        let masterPeer = masterTransport.isStandard ? [:] : [state.master.api: masterTransport]
        let master = DesiredAgent(
            role: .master, name: "master", api: state.master.api, transport: masterTransport,
            settings: AgentSettings(
                root: state.master.root, maxConcurrentSyncs: state.master.maxConcurrentSyncs,
                publicStatus: state.master.publicStatus, rsyncd: state.master.rsyncd,
                slaves: state.slaves.mapValues(\.api), peers: slavePeers, site: state.site, trace: state.master.trace,
                notify: state.notify, tiers: state.slaves.compactMapValues(\.from)),
            table: masterTable, members: masterMembers.count == names.count ? nil : masterMembers,
            summaries: state.projects)
        // Each slave's digest hashes its whole list: side by side on every core.
        let digests = Mutex([String](repeating: "", count: slaveNames.count))
        let members = slaveMembers
        DispatchQueue.concurrentPerform(iterations: slaveNames.count) { i in
            let digest = Self.digest(pullTable, members[i])
            digests.withLock { $0[i] = digest }
        }
        let slaveDigests = digests.withLock { $0 }
        // Slaves mostly have the same settings (one publicDir, one master): each distinct one is encoded once.
        var settingsGenerations: [AgentSettings: String] = [:]
        let tiers = state.hasTiers
        return [master]
            + slaveNames.enumerated().map { i, name in
                // A slave in a tier, or one that feeds one, pulls its own way (DesiredAgent+Tiers.swift).
                if tiers, state.slaves[name]!.from != nil || state.feeds(name) {
                    return tierSlave(
                        name, of: state, names: names, places: places, masterSpecs: masterSpecs,
                        members: slaveMembers[i])
                }
                let settings = AgentSettings(
                    root: state.slaves[name]!.publicDir,
                    maxConcurrentSyncs: state.master.rsyncd.maxPerSlave ?? AgentSettings.defaultMaxConcurrentSyncs,
                    master: state.master.api, peers: masterPeer, trace: state.slaves[name]!.trace)
                let generation = settingsGenerations[settings] ?? Generation.of(settings)
                settingsGenerations[settings] = generation
                return DesiredAgent(
                    role: .slave, name: name, api: state.slaves[name]!.api,
                    transport: state.transport(slave: state.slaves[name]!),
                    settings: settings, table: pullTable, members: slaveMembers[i], summaries: nil,
                    projectsDigest: slaveDigests[i], settingsGeneration: generation)
            }
    }

    /// Each project's specs and their generations, place by place in `names`.
    private static func build(
        names: [String], of state: DesiredState, slaveNames: [String], masterHost: String, modulePort: Int?
    ) -> [Built] {
        let slavePlaces = Dictionary(uniqueKeysWithValues: slaveNames.enumerated().map { ($1, Int32($0)) })
        let everySlave = Array(0..<Int32(slaveNames.count))
        // Each project's specs and their generations, in chunks side by side on every core: for a large site these
        // are most of what a plan costs (20,000 specs for 10,000 projects).
        let chunks = names.count < 512 ? 1 : min(names.count / 256, ProcessInfo.processInfo.activeProcessorCount * 4)
        let built = Mutex([[Built]](repeating: [], count: chunks))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = names.count * chunk / chunks..<names.count * (chunk + 1) / chunks
            var local: [Built] = []
            local.reserveCapacity(range.count)
            for name in names[range] {
                let project = state.projects[name]!
                guard let upstream = state.upstreams[project.upstream], let interval = state.intervals[project.interval]
                else {
                    local.append(Built())
                    continue
                }
                let servers = state.slaves(serving: project, allSlaves: slaveNames)
                let spec = AgentProjectSpec(upstream: upstream, interval: interval, tree: project.tree, slaves: servers)
                var row = Built(spec: spec, generation: Generation.of(spec))
                guard !servers.isEmpty else {
                    local.append(row)
                    continue
                }
                row.servers =
                    if case .all = project.slaves { everySlave } else { servers.compactMap { slavePlaces[$0] } }
                // A slave pulls the master's copy: one module per project on the master's rsync daemon, with the site's
                // credential (user and password), which the slave gets from the master; each field as its row's scope
                // says.
                let pull = spec.pull(
                    from: .rsync(user: nil, host: masterHost, port: modulePort, path: name),
                    every: slaveFallbackInterval)
                row.pullGeneration = Generation.of(pull)
                row.pull = pull
                local.append(row)
            }
            built.withLock { $0[chunk] = local }
        }
        return built.withLock { $0 }.flatMap { $0 }
    }

    /// One project as `all(from:)` builds it: nil specs for a project whose upstream or interval is missing.
    private struct Built: Sendable {
        var spec: AgentProjectSpec?
        var generation = ""
        /// The slaves' pull, and the places of the slaves that serve the project; nil and empty when none does.
        var pull: AgentProjectSpec?
        var pullGeneration = ""
        var servers: [Int32] = []
    }

    /// A digest of what every agent should hold: equal digests, equal desired states. Each agent's projects count
    /// through their digest, already computed, rather than name by name again.
    public static func digest(_ agents: [DesiredAgent]) -> String {
        var h = CanonicalHash()
        h.add("config/v2")
        for agent in agents {
            h.add(agent.name)
            h.add(agent.settingsGeneration)
            h.add(agent.projectsDigest)
        }
        return h.hex
    }
}
