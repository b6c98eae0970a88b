import Foundation

/// What revisions M+1 through N changed, taken together: what a slave at M must fetch and delete to serve N.
public struct ChangeUnion: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var path: [UInt8]
        public var kind: ChangeEntry.Kind
        public var twoStage: Bool
        public var hardLinked = false
    }

    /// Paths present at N that changed since M, with every parent directory of a listed path (created or deleted),
    /// parents first (byte order).
    public var transfers: [Item]
    /// Paths gone at N that were there after some revision up to N, deepest first; their kind as they last were.
    public var deletions: [Item]

    /// The deletions that are not directories: what the deletion cap counts, as a full walk's does.
    public var deletedFiles: Int { deletions.filter { $0.kind != .directory }.count }

    /// The transfers whose kind is directory.
    public var directories: [Item] { transfers.filter { $0.kind == .directory } }

    /// The directories a deletion changes (the top among them) that are there at N, each once.
    public var deletionParents: [[UInt8]] {
        var parents = Set<[UInt8]>()
        let gone = Set(deletions.map(\.path))
        for item in deletions {
            let parent = item.path.lastIndex(of: UInt8(ascii: "/")).map { Array(item.path[..<$0]) } ?? []
            if !gone.contains(parent) { parents.insert(parent) }
        }
        return parents.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Folds `lists` (consecutive, oldest first): each path ends as its last entry says.
    public init(_ lists: [ChangeList]) {
        var last: [[UInt8]: ChangeEntry] = [:]
        for list in lists {
            // A change of type is a deletion and a creation of one path in one list: the creation stands.
            for entry in list.entries where entry.operation == .deleted { last[entry.path] = entry }
            for entry in list.entries where entry.operation != .deleted { last[entry.path] = entry }
        }
        var present: [[UInt8]: Item] = [:]
        var gone: [Item] = []
        for (path, entry) in last {
            let item = Item(path: path, kind: entry.kind, twoStage: entry.twoStage, hardLinked: entry.hardLinked)
            if entry.operation == .deleted { gone.append(item) } else { present[path] = item }
        }
        // Every parent of a listed path that is there at N: its time changes with what it holds, and rsync creates it
        // if it is missing.
        let deleted = Set(gone.map(\.path))
        for path in Array(present.keys) + gone.map(\.path) {
            var parent = path
            while let slash = parent.lastIndex(of: UInt8(ascii: "/")) {
                parent = Array(parent[..<slash])
                if present[parent] == nil, !deleted.contains(parent) {
                    present[parent] = Item(path: parent, kind: .directory, twoStage: false)
                }
            }
            if !path.isEmpty, present[[]] == nil { present[[]] = Item(path: [], kind: .directory, twoStage: false) }
        }
        transfers = present.values.sorted { $0.path.lexicographicallyPrecedes($1.path) }
        deletions = gone.sorted { $1.path.lexicographicallyPrecedes($0.path) }
    }
}

/// Whether a slave's pull walks the whole tree or fetches a list of changes, decided before and after it asks the
/// master for the lists. Pure: the time is given.
public enum PullPlan {
    /// A list pays while it names at most this share of the tree's entries (or fewer than `alwaysPays`): past it, each
    /// listed file read whole (`--ignore-times`) costs more than the walk's per-entry check.
    public static let largestShare = 0.25
    /// A list this short pays whatever the tree's size: a walk of a tree this small costs as little.
    public static let alwaysPays = 1000
    /// Never more entries than this in one list, whatever the tree's size.
    public static let largestList = 1_000_000

    public enum Before: Sendable, Hashable {
        /// Walk the whole tree, for `reason`.
        case full(reason: String)
        /// Ask for the changes from `from` to `to`; `verify`: then walk the whole tree too, as `verifyEvery` asks, and
        /// count what that walk still finds as drift.
        case listed(from: Int, to: Int, verify: Bool)
    }

    /// `served`: the revision the slave serves (0: none yet); `pulling`: the master's it pulls; `lastFullWalk`: when
    /// the slave last walked the whole tree (nil: never, or not since it started keeping it).
    public static func before(
        served: Int, pulling: Int?, lastFullWalk: Date?, verifyEvery: TimeSpan?, now: Date
    ) -> Before {
        guard served > 0 else { return .full(reason: "the first pull") }
        guard let pulling else { return .full(reason: "no revision of the master's was named") }
        // The same revision again (a trigger that came after its catch-up, the interval): nothing to fetch.
        guard pulling >= served else { return .full(reason: "revision \(pulling) is older than \(served)") }
        let every = TimeInterval((verifyEvery ?? TreeSpec.defaultVerifyEvery).seconds)
        let verify = lastFullWalk.map { now.timeIntervalSince($0) >= every } ?? true
        return .listed(from: served, to: pulling, verify: verify)
    }

    /// After the lists came: the reason to walk the whole tree instead, or nil when the list pays. `treeEntries`: the
    /// entries of the tree after its last pull (nil: unknown).
    public static func after(_ union: ChangeUnion, treeEntries: Int?) -> String? {
        let size = union.transfers.count + union.deletions.count
        if size > largestList { return "the change names \(size) entries, more than \(largestList)" }
        if size < alwaysPays { return nil }
        guard let treeEntries, treeEntries > 0 else { return "the tree's size is not known" }
        if Double(size) > Double(treeEntries) * largestShare {
            return "the change names \(size) entries of about \(treeEntries), more than a list pays for"
        }
        return nil
    }
}
