import Foundation

// Tiers (ftpsync's `mhop`): a slave with `from: ftp1` pulls ftp1's copy from ftp1's rsync daemon; ftp1 runs that
// daemon, triggers it after its own pull, and relays its reports to the master. Their pulls differ from the other
// slaves' (another source, or slaves of their own to trigger), so each holds a table of its own.
extension DesiredAgent {
    static func tierSlave(
        _ name: String, of state: DesiredState, names: [String], places: [String: Int],
        masterSpecs: [AgentProjectSpec?], members: [Int32]
    ) -> DesiredAgent {
        let slave = state.slaves[name]!
        let hop = slave.from.flatMap { state.slaves[$0] }
        // Where it pulls from: its hop's rsync daemon and API, or the master's.
        let source: (api: String, port: Int, transport: AgentTransport) =
            if let hop {
                (hop.api, hop.rsyncd?.port ?? 873, state.transport(slave: hop))
            } else {
                (state.master.api, state.master.rsyncd.port, state.masterTransport)
            }
        let sourceHost = DesiredState.host(of: source.api)
        let below = state.slaves(below: name)
        let children = Set(below.filter { $0.from == name }.map(\.name))
        var specs = [AgentProjectSpec?](repeating: nil, count: names.count)
        var generations = [String](repeating: "", count: names.count)
        for place in members {
            guard let spec = masterSpecs[Int(place)] else { continue }
            var pull = spec.pull(
                from: .rsync(
                    user: nil, host: sourceHost, port: source.port == 873 ? nil : source.port,
                    path: names[Int(place)]),
                every: slaveFallbackInterval)
            // The slaves it triggers after its own pull: those that pull from it and serve the project.
            pull.slaves = spec.slaves.filter(children.contains)
            specs[Int(place)] = pull
            generations[Int(place)] = Generation.of(pull)
        }
        var peers: [String: AgentTransport] = source.transport.isStandard ? [:] : [source.api: source.transport]
        for (other, _) in below {
            let transport = state.transport(slave: state.slaves[other]!)
            if !transport.isStandard { peers[state.slaves[other]!.api] = transport }
        }
        let chain = hop == nil ? [] : state.chain(of: name)
        let settings = AgentSettings(
            root: slave.publicDir, rsyncd: below.isEmpty ? nil : slave.rsyncd ?? RsyncdSpec(), master: source.api,
            slaves: Dictionary(uniqueKeysWithValues: below.map { ($0.name, state.slaves[$0.name]!.api) }),
            peers: peers, trace: slave.trace,
            tiers: Dictionary(uniqueKeysWithValues: below.compactMap { $0.from == name ? nil : ($0.name, $0.from!) }),
            chain: chain)
        var agent = DesiredAgent(
            role: .slave, name: name, api: slave.api, transport: state.transport(slave: slave), settings: settings,
            table: SpecTable(names: names, places: places, specs: specs, generations: generations), members: members,
            summaries: nil)
        if hop != nil { agent.pullSummary = "from \(slave.from!) (\((chain + [name]).joined(separator: " → ")))" }
        return agent
    }
}
