/// The hops above a slave in a chain of tiers (`from:`), walked up from the slave: the one walk behind the loader's
/// cycle check, the chain the plan and the status show, and the master's view of its slaves' chains.
public struct TierChain: Sendable, Hashable {
    public enum End: Sendable, Hashable {
        /// The last hop pulls from the master: a sound chain.
        case master
        /// A hop came back to a name already walked; `toStart`: to the slave the walk began at.
        case loop(toStart: Bool)
        /// A hop names no slave.
        case unknown
    }

    /// The slaves above the start, nearest first, each once.
    public let hops: [String]
    public let end: End

    /// Walks up from `slave`: `from(name)` is the slave `name` pulls from (nil: the master), and `known(name)` whether
    /// `name` is a slave at all.
    public init(of slave: String, known: (String) -> Bool = { _ in true }, from: (String) -> String?) {
        var hops: [String] = []
        var next = from(slave)
        var end = End.master
        while let hop = next {
            guard known(hop) else {
                end = .unknown
                break
            }
            guard hop != slave, !hops.contains(hop) else {
                end = .loop(toStart: hop == slave)
                break
            }
            hops.append(hop)
            next = from(hop)
        }
        self.hops = hops
        self.end = end
    }
}
