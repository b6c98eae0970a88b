// The settings' `tiers` and `chain` (`AgentSettings`): which of an agent's slaves pull from a slave below it, and
// the hops above a slave that pulls from another.
extension SpecDecoder {
    mutating func agentTiers(_ f: Fields, slaves: [String: String]) -> (tiers: [String: String], chain: [String]) {
        var tiers: [String: String] = [:]
        if let entry = f["tiers"] {
            if entry.value.isMapping {
                for tier in entry.value.entries(notIn: []) {
                    do throws(ValueError) {
                        try ObjectName.validate(tier.key)
                        guard let from = scalarText(tier.value, what: Subject("settings' tiers"), key: tier.key) else {
                            continue
                        }
                        try ObjectName.validate(from)
                        // Both ends are this agent's slaves: a chain below it, which it relays.
                        guard slaves[tier.key] != nil, slaves[from] != nil else {
                            throw ValueError("'\(tier.key)' and '\(from)' must both be in the settings' slaves")
                        }
                        tiers[tier.key] = from
                    } catch {
                        diagnostics.error(
                            tier.keyMark, "invalid-value", "settings: tiers: \(tier.key): \(error.message)",
                            field: "tiers")
                    }
                }
            } else {
                diagnostics.error(
                    entry.value.mark, "invalid-type",
                    "settings: tiers: expected a mapping of slave names to the slaves they pull from, got \(entry.value.kindName)",
                    field: "tiers")
            }
        }
        var chain: [String] = []
        if let entry = f["chain"] {
            if case .sequence(let items) = entry.value.content {
                for item in items {
                    guard let text = scalarText(item, what: Subject("settings' chain"), key: "chain") else { continue }
                    do throws(ValueError) { try ObjectName.validate(text) } catch {
                        diagnostics.error(
                            item.mark, "invalid-value", "settings: chain: \(error.message)", field: "chain")
                        continue
                    }
                    chain.append(text)
                }
            } else {
                diagnostics.error(
                    entry.value.mark, "invalid-type",
                    "settings: chain: expected a list of the hops above this slave, got \(entry.value.kindName)",
                    field: "chain")
            }
        }
        return (tiers, chain)
    }
}
