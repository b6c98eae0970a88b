import Dispatch
import Foundation
import Synchronization

/// The generations of each project's specs (the master's, and the slaves' pull), kept from one
/// `DesiredAgent.all(from:cache:)` to the next by a caller that plans again and again (the watch loop).
///
/// A spec equal to the one kept keeps its generation: comparing two specs field by field costs a fraction of hashing
/// one, and since specs are compared whole, a kept generation is never that of another spec. Only the projects of
/// the last call are kept.
public final class GenerationCache: Sendable {
    /// One project's specs, as `DesiredAgent.all` builds them before their generations.
    struct Row: Sendable {
        var name: String
        var spec: AgentProjectSpec
        /// The slaves' pull; nil when no slave serves the project.
        var pull: AgentProjectSpec?
        var servers: [String]
    }

    private struct Kept: Sendable {
        var spec: AgentProjectSpec
        var generation: String
        var pull: AgentProjectSpec?
        var pullGeneration: String?
    }

    private let kept = Mutex<[String: Kept]>([:])

    public init() {}

    /// The generation of each row's spec and pull, index by index: kept ones where the spec is equal, the others
    /// hashed side by side on every core (a large site's 20,000 specs are most of what a plan costs).
    static func generations(of rows: [Row], cache: GenerationCache?) -> [(String, String?)] {
        let known = cache?.kept.withLock { $0 } ?? [:]
        let chunks = rows.count < 512 ? 1 : min(rows.count / 256, ProcessInfo.processInfo.activeProcessorCount * 4)
        let results = Mutex([[(String, String?)]](repeating: [], count: chunks))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            var local: [(String, String?)] = []
            let range = rows.count * chunk / chunks..<rows.count * (chunk + 1) / chunks
            local.reserveCapacity(range.count)
            for row in rows[range] {
                let old = known[row.name]
                let generation = old.flatMap { $0.spec == row.spec ? $0.generation : nil } ?? Generation.of(row.spec)
                let pullGeneration = row.pull.map { pull in old.flatMap { $0.pull == pull ? $0.pullGeneration : nil } ?? Generation.of(pull) }
                local.append((generation, pullGeneration))
            }
            results.withLock { $0[chunk] = local }
        }
        let generations = results.withLock { $0 }.flatMap { $0 }
        if let cache {
            var next: [String: Kept] = [:]
            next.reserveCapacity(rows.count)
            for (row, (generation, pullGeneration)) in zip(rows, generations) {
                next[row.name] = Kept(spec: row.spec, generation: generation, pull: row.pull, pullGeneration: pullGeneration)
            }
            cache.kept.withLock { $0 = next }
        }
        return generations
    }
}
