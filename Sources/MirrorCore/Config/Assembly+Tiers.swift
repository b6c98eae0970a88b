/// The checks of tiers (`slaves: ftp3: { from: ftp1 }`) across files: `from` names a defined slave, the chains have
/// no cycle, and a tier serves only what the slave it pulls from serves.
extension Assembly {
    mutating func checkTiers() {
        var sound = Set<String>()
        for name in slaves.keys.sorted() {
            guard let from = slaves[name]!.from, let mark = slaveFrom[name] else { continue }
            guard slaves[from] != nil || sources[ObjectRef(.slave, from)] != nil else {
                decoder.diagnostics.error(
                    mark, "unknown-reference",
                    "slave '\(name)' pulls from slave '\(from)', which no file defines\(Suggestion.hint(for: from, among: Array(slaves.keys)))",
                    field: "from")
                continue
            }
            // Up the chain: a name seen twice is a cycle.
            let chain = TierChain(of: name, known: { slaves[$0] != nil }, from: { slaves[$0]?.from })
            switch chain.end {
            case .master: sound.insert(name)
            case .loop(toStart: true):
                decoder.diagnostics.error(
                    mark, "tier-cycle",
                    "slave '\(name)' pulls from itself through \(([name] + chain.hops + [name]).joined(separator: " <- ")); a chain of slaves must end at the master",
                    field: "from")
            case .loop, .unknown: break
            }
        }
        for name in projects.keys.sorted() {
            guard case .named(let names) = projects[name]!.slaves, let refs = projectRefs[name] else { continue }
            let serving = Set(names)
            for slave in refs.slaves {
                guard sound.contains(slave.name), let from = slaves[slave.name]?.from, !serving.contains(from) else {
                    continue
                }
                decoder.diagnostics.error(
                    slave.mark, "tier-not-served",
                    "project '\(name)' is served by slave '\(slave.name)', which pulls from slave '\(from)', but '\(from)' does not serve it; add '\(from)' to its slaves, or take '\(slave.name)' out",
                    field: "slaves")
            }
        }
    }
}
