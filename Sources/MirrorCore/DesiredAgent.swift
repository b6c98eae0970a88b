import Dispatch
import Foundation
import Synchronization

/// The project specs of a desired state, shared by the agents that hold them: a site with 100 slaves holds one
/// copy of each spec, not one per slave.
public final class SpecTable: Sendable {
    let specs: [String: AgentProjectSpec]
    init(_ specs: [String: AgentProjectSpec]) { self.specs = specs }
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
    /// The agent's projects' names, sorted, and their generations, index by index.
    public let order: [String]
    public let generations: [String]
    let table: SpecTable
    let summaries: [String: String]
    /// `ProjectsDigest` of what the agent should hold, every project managed.
    public let projectsDigest: String
    /// `Generation.of(settings)`: computed once, since the plan and the config digest both need it.
    public private(set) var settingsGeneration: String

    init(role: AgentRole, name: String, api: String, transport: AgentTransport, settings: AgentSettings, order: [String],
         generations: [String], table: SpecTable, summaries: [String: String], projectsDigest: String? = nil,
         settingsGeneration: String? = nil) {
        self.transport = transport
        self.role = role
        self.name = name
        self.api = api
        self.settings = settings
        self.order = order
        self.generations = generations
        self.table = table
        self.summaries = summaries
        self.projectsDigest = projectsDigest ?? ProjectsDigest.of(zip(order, generations).lazy.map { (name: $0, generation: $1, managed: true) })
        self.settingsGeneration = settingsGeneration ?? Generation.of(settings)
    }

    /// `master` or `slave ftp1`, as plans and logs name agents.
    public var label: String { role == .master ? "master" : "slave \(name)" }

    /// The spec of one of this agent's projects.
    public func spec(_ project: String) -> AgentProjectSpec? { table.specs[project] }

    /// Every project this agent should hold, by name.
    public var projects: [String: AgentProjectSpec] {
        Dictionary(uniqueKeysWithValues: order.compactMap { name in table.specs[name].map { (name, $0) } })
    }

    /// A short line for plans: the names of the project's upstream and interval, as mirrors.d writes them.
    public func summary(_ project: String) -> String { summaries[project] ?? "from master" }
}

extension DesiredAgent {
    /// How often a slave pulls even without a trigger from the master, in case a trigger was lost.
    public static let slaveFallbackInterval = TimeSpan(seconds: 6 * 3_600)

    /// The desired state, split by agent: the master holds every project with the slaves that serve it; each slave
    /// holds the projects assigned to it, pulled from the master's rsync daemon into its public directory.
    ///
    /// `cache`: the generations of an earlier call, for a caller that plans again and again (the watch loop): a spec
    /// equal to the one kept there keeps its generation, and is compared rather than hashed again.
    public static func all(from state: DesiredState, cache: GenerationCache? = nil) -> [DesiredAgent] {
        let masterHost = URLComponents(string: state.master.api)?.host.map { $0.hasPrefix("[") ? String($0.dropFirst().dropLast()) : $0 } ?? "localhost"
        let modulePort = state.master.rsyncd.port == 873 ? nil : state.master.rsyncd.port
        var masterSpecs: [String: AgentProjectSpec] = [:], pullSpecs: [String: AgentProjectSpec] = [:]
        masterSpecs.reserveCapacity(state.projects.count)
        pullSpecs.reserveCapacity(state.projects.count)
        var summaries: [String: String] = [:]
        let slaveNames = state.slaves.keys.sorted()
        let slaveIndex = Dictionary(uniqueKeysWithValues: slaveNames.enumerated().map { ($1, $0) })
        // First each project's specs, in name order; then their generations, side by side; then each agent's list.
        var rows: [GenerationCache.Row] = []
        rows.reserveCapacity(state.projects.count)
        for name in state.projects.keys.sorted() {
            let project = state.projects[name]!
            guard let upstream = state.upstreams[project.upstream], let interval = state.intervals[project.interval] else { continue }
            let servers = state.slaves(serving: project, allSlaves: slaveNames)
            let spec = AgentProjectSpec(upstream: upstream, interval: interval, tree: project.tree, slaves: servers)
            masterSpecs[name] = spec
            summaries[name] = "upstream=\(project.upstream) interval=\(project.interval)" + (project.suspended ? " suspended" : "")
            guard !servers.isEmpty else {
                rows.append(GenerationCache.Row(name: name, spec: spec, pull: nil, servers: servers))
                continue
            }
            // A slave pulls the master's copy: one module per project on the master's rsync daemon, with the site's
            // credential (user and password), which the slave gets from the master.
            let module = UpstreamSpec(url: .rsync(user: nil, host: masterHost, port: modulePort, path: name),
                                      timeout: project.timeout ?? upstream.timeout, ioTimeout: upstream.ioTimeout, credential: .site)
            // The slave holds the project's tree as the master does: the excludes the master's copy already went
            // through also keep the slave from deleting what it holds under those names, and the rsync options
            // (permissions, owners) apply on every host. Only where it comes from differs: the whole module, within
            // the module's timeout.
            var pullTree = project.tree
            pullTree.source = ""
            pullTree.timeout = nil
            // What mirror lists show is the master's to say (GET /mirrorz.json): a new description moves no slave.
            pullTree.cname = nil
            pullTree.desc = nil
            pullTree.help = nil
            // Pushes are announced to the master alone.
            pullTree.pushTokenFile = nil
            // The master tells a slave each stage in its trigger.
            pullTree.stage = .host
            let pull = AgentProjectSpec(upstream: module, interval: .every(slaveFallbackInterval), tree: pullTree)
            pullSpecs[name] = pull
            rows.append(GenerationCache.Row(name: name, spec: spec, pull: pull, servers: servers))
        }
        let specGenerations = GenerationCache.generations(of: rows, cache: cache)
        var masterOrder: [String] = [], masterGenerations: [String] = []
        masterOrder.reserveCapacity(rows.count)
        masterGenerations.reserveCapacity(rows.count)
        var slaveOrder = [[String]](repeating: [], count: slaveNames.count)
        var slaveGenerations = [[String]](repeating: [], count: slaveNames.count)
        for (row, (generation, pullGeneration)) in zip(rows, specGenerations) {
            masterOrder.append(row.name)
            masterGenerations.append(generation)
            guard let pullGeneration else { continue }
            for server in row.servers {
                guard let i = slaveIndex[server] else { continue }
                slaveOrder[i].append(row.name)
                slaveGenerations[i].append(pullGeneration)
            }
        }
        let masterTable = SpecTable(masterSpecs), pullTable = SpecTable(pullSpecs)
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
            settings: AgentSettings(root: state.master.root, maxConcurrentSyncs: state.master.maxConcurrentSyncs,
                                    publicStatus: state.master.publicStatus, rsyncd: state.master.rsyncd,
                                    slaves: state.slaves.mapValues(\.api), peers: slavePeers, site: state.site),
            order: masterOrder, generations: masterGenerations, table: masterTable, summaries: summaries)
        // Each slave's digest hashes its whole list: side by side on every core.
        let digests = Mutex([String](repeating: "", count: slaveNames.count))
        let orders = slaveOrder, generations = slaveGenerations
        DispatchQueue.concurrentPerform(iterations: slaveNames.count) { i in
            let digest = ProjectsDigest.of(zip(orders[i], generations[i]).lazy.map { (name: $0, generation: $1, managed: true) })
            digests.withLock { $0[i] = digest }
        }
        let slaveDigests = digests.withLock { $0 }
        // Slaves mostly have the same settings (one publicDir, one master): each distinct one is encoded once.
        var settingsGenerations: [AgentSettings: String] = [:]
        return [master] + slaveNames.enumerated().map { i, name in
            let settings = AgentSettings(root: state.slaves[name]!.publicDir, master: state.master.api, peers: masterPeer)
            let generation = settingsGenerations[settings] ?? Generation.of(settings)
            settingsGenerations[settings] = generation
            return DesiredAgent(role: .slave, name: name, api: state.slaves[name]!.api, transport: state.transport(slave: state.slaves[name]!),
                                settings: settings, order: slaveOrder[i], generations: slaveGenerations[i], table: pullTable, summaries: [:],
                                projectsDigest: slaveDigests[i], settingsGeneration: generation)
        }
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
