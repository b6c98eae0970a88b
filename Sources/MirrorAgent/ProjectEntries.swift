/// The scheduler's projects by name, each stamped with the state version at which it last changed, so that
/// `GET /v1/state?since=` after an edit of one project rebuilds one project's state rather than every one.
///
/// Every write goes through the subscript's `_modify`, `removeValue(forKey:)` or `replaceAll`, each of which moves
/// the version and stamps what it touched (a name removed keeps its stamp, so a delta shows it gone). Reads are a
/// dictionary's.
struct ProjectEntries<Entry>: Sequence {
    private var byName: [String: Entry] = [:]
    private var stamps: [String: UInt64] = [:]
    /// Moves with every change of a project, and with `touchAll()`.
    private(set) var version: UInt64 = 0

    subscript(name: String) -> Entry? {
        get { byName[name] }
        _modify {
            version &+= 1
            stamps[name] = version
            yield &byName[name]
        }
    }

    @discardableResult
    mutating func removeValue(forKey name: String) -> Entry? {
        version &+= 1
        stamps[name] = version
        return byName.removeValue(forKey: name)
    }

    /// Every project replaced at once (the store read at start).
    mutating func replaceAll(_ entries: [String: Entry]) {
        version &+= 1
        byName = entries
        stamps = Dictionary(uniqueKeysWithValues: Set(stamps.keys).union(entries.keys).map { ($0, version) })
    }

    /// Every project stamped as changed: something each one's state depends on changed (the agent's settings).
    mutating func touchAll() {
        version &+= 1
        for name in byName.keys { stamps[name] = version }
    }

    /// The names stamped after `version`, present or removed since.
    func changed(since version: UInt64) -> [String] {
        stamps.compactMap { $0.value > version ? $0.key : nil }
    }

    var count: Int { byName.count }
    var keys: Dictionary<String, Entry>.Keys { byName.keys }
    var values: Dictionary<String, Entry>.Values { byName.values }
    func mapValues<T>(_ transform: (Entry) throws -> T) rethrows -> [String: T] { try byName.mapValues(transform) }
    func makeIterator() -> Dictionary<String, Entry>.Iterator { byName.makeIterator() }
}
