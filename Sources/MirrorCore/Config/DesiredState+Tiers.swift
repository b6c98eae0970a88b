import Foundation

// Tiers (ftpsync's `mhop`): a slave with `from: ftp1` pulls from ftp1's rsync daemon, is triggered by ftp1 after
// ftp1's own pull, and reports to ftp1, which relays to the master.
extension DesiredState {
    /// The hops above a slave, the master first: `["master", "ftp1"]` for a slave that pulls from ftp1, which pulls
    /// from the master. A chain that does not end at the master (refused by the loader) stops where it turns.
    public func chain(of slave: String) -> [String] {
        ["master"] + TierChain(of: slave, known: { slaves[$0] != nil }, from: { slaves[$0]?.from }).hops.reversed()
    }

    /// Every slave below `hop` (a slave's name, or nil for the master), with the one each pulls from (nil: the
    /// master), sorted by name.
    public func slaves(below hop: String?) -> [(name: String, from: String?)] {
        slaves.keys.sorted().compactMap { name in
            guard name != hop else { return nil }
            if let hop, !chain(of: name).contains(hop) { return nil }
            return (name, slaves[name]!.from)
        }
    }

    /// Whether any slave pulls from another: the site has tiers.
    public var hasTiers: Bool { slaves.values.contains { $0.from != nil } }

    /// Whether some slave pulls from `slave`.
    public func feeds(_ slave: String) -> Bool { slaves.values.contains { $0.from == slave } }

    /// The host of an agent's API address, without brackets: where its rsync daemon is reached too.
    public static func host(of api: String) -> String {
        URLComponents(string: api)?.host.map { $0.hasPrefix("[") ? String($0.dropFirst().dropLast()) : $0 }
            ?? "localhost"
    }
}
