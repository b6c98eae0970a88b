import Foundation

/// A hash of an object's canonical form: equal generations mean nothing to do.
///
/// A project's generation is the field table (`AgentProjectSpec.fields`) walked in order, each field's canonical
/// value fed to `CanonicalHash`;
/// any other object's (the settings) is its JSON with sorted keys, after every default is filled in. The reconciler
/// and the agents call the same functions, so the two always agree.
public enum Generation {
    /// A project's generation: the field table walked in order, each `always` field's canonical value fed to
    /// `CanonicalHash`, then each `whenSet` field that is set, its path and its value.
    ///
    /// The `always` fields are those of `project/v2`, frozen: a change to them would move every generation of every
    /// site (the pinned-generation test), so a new field is always a `whenSet` row. Their walk is therefore fed
    /// straight from the spec here (`frozenFields`), as the table's walk would feed it: a walk of 31 closures per spec
    /// made the plan of a large site 1.5x slower. `ProjectFieldTableTests` holds this equal to the table's walk
    /// (`of(_:fields:)`) for every field changed one at a time, and the frozen paths equal to the `always` rows.
    public static func of(_ spec: AgentProjectSpec) -> String {
        var h = CanonicalHash()
        h.add("project/v2")
        frozen(spec, into: &h)
        whenSet.withUnsafeBufferPointer { rows in
            for i in rows.indices {
                let value = rows[i].value(spec)
                if value != .absent {
                    h.add(rows[i].path)
                    h.add(value)
                }
            }
        }
        return h.hex
    }

    /// The paths of the `always` fields, in their order: `project/v2`'s, which no new field joins.
    static let frozenFields = [
        "upstream.url", "upstream.passwordFile", "upstream.credential", "upstream.timeout", "upstream.ioTimeout",
        "upstream.pushTokenFile", "upstream.bandwidthLimit", "source", "path", "interval.every", "interval.jitter",
        "interval.cron", "interval.timezone", "exclude", "twoStage", "rsyncOptions", "suspended", "timeout",
        "maxDelete", "publish", "stage", "trace", "hooks.onSuccess", "hooks.onFailure", "hooks.timeout",
        "logRetention", "slaves", "cname", "desc", "help", "pushTokenFile",
    ]

    /// `frozenFields`' values, in their order, as their rows give them.
    private static func frozen(_ spec: AgentProjectSpec, into h: inout CanonicalHash) {
        h.add(spec.upstream.url.description)
        h.add(spec.upstream.passwordFile)
        h.add(spec.upstream.credential?.rawValue)
        h.add(span: spec.upstream.timeout)
        h.add(span: spec.upstream.ioTimeout)
        h.add(spec.upstream.pushTokenFile)
        h.add(number: spec.upstream.bandwidthLimit?.bytes)
        h.add(spec.tree.source)
        h.add(spec.tree.path)
        h.add(span: spec.interval.every)
        h.add(span: spec.interval.jitter)
        h.add(spec.interval.cron?.text)
        h.add(spec.interval.timezone)
        h.add(list: spec.tree.exclude)
        h.add(list: spec.tree.twoStage)
        h.add(list: spec.tree.rsyncOptions)
        h.add(flag: spec.tree.suspended)
        h.add(span: spec.tree.timeout)
        h.add(spec.tree.maxDelete.description)
        h.add(spec.tree.publish.rawValue)
        h.add(spec.tree.stage.rawValue)
        h.add(flag: spec.tree.trace)
        h.add(list: spec.tree.hooks?.onSuccess)
        h.add(list: spec.tree.hooks?.onFailure)
        h.add(span: spec.tree.hooks?.timeout)
        h.add(number: spec.tree.logRetention.map(Int64.init))
        h.add(list: spec.slaves)
        h.add(spec.tree.cname)
        h.add(spec.tree.desc)
        h.add(spec.tree.help)
        h.add(spec.tree.pushTokenFile)
    }

    /// The generation as `fields` would give it, every value through its row: the definition `of(_:)` is held to,
    /// and what a table with one more `whenSet` row would give (a spec that leaves it out keeps its generation).
    static func of(_ spec: AgentProjectSpec, fields: [ProjectField]) -> String {
        var h = CanonicalHash()
        h.add("project/v2")
        for field in fields where field.hashing == .always { h.add(field.value(spec)) }
        for field in fields where field.hashing == .whenSet {
            let value = field.value(spec)
            if value != .absent {
                h.add(field.path)
                h.add(value)
            }
        }
        return h.hex
    }

    private typealias Value = (path: String, value: @Sendable (AgentProjectSpec) -> FieldValue)

    // The `whenSet` rows' value closures alone, borrowed in place: a walk over the rows would copy each row (its
    // closures, its schema) for every spec.
    private static let whenSet = ContiguousArray<Value>(
        AgentProjectSpec.fields.filter { $0.hashing == .whenSet }.map { ($0.path, $0.value) })

    /// The generation of any other value: its JSON, sorted keys and no escaped slashes.
    public static func of<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data()
        var h = CanonicalHash()
        h.add("json/v2")
        data.withUnsafeBytes { h.add(bytes: $0) }
        return h.hex
    }
}

/// A digest of the projects an agent holds: their names, generations and whether they are managed, in name order.
/// An agent reports it with its state and the reconciler computes it from mirrors.d; when the two are equal, the
/// whole agent is in sync and its projects need not be compared one by one.
public enum ProjectsDigest {
    public static func of<S: Sequence>(_ projects: S) -> String
    where S.Element == (name: String, generation: String, managed: Bool) {
        var digest = Builder()
        for project in projects {
            digest.add(name: project.name, generation: project.generation, managed: project.managed)
        }
        return digest.hex
    }

    /// The digest fed one project at a time, in name order.
    struct Builder {
        private var h = CanonicalHash()

        init() { h.add("projects/v2") }

        mutating func add(name: String, generation: String, managed: Bool) {
            Self.entry(name: name, generation: generation, managed: managed, into: &h)
        }

        /// One project's entry, as `Entries` kept it (read in place through `Entries.withKept`).
        mutating func add(_ kept: Entries.Kept, at place: Int) {
            h.add(
                words: UnsafeBufferPointer(rebasing: kept.words[Int(kept.starts[place])..<Int(kept.starts[place + 1])]))
        }

        static func entry<Sink: CanonicalWordSink>(
            name: String, generation: String, managed: Bool, into sink: inout Sink
        ) {
            sink.add(name)
            sink.add(generation)
            sink.add(flag: managed)
        }

        var hex: String { h.hex }
    }

    /// Each project's entry in a digest (its name and generation, managed), as words kept once and fed to every
    /// digest that holds it: a thousand slaves' digests then cost arithmetic, not a reading of each name and
    /// generation for each slave.
    struct Entries: Sendable {
        fileprivate var words = CanonicalWords()
        /// Where each place's words start, and after the last, where they end.
        fileprivate var starts: [Int32] = [0]

        /// The words and starts, borrowed in place: slaves' digests computed side by side then share no reference
        /// count to contend for.
        struct Kept {
            let words: UnsafeBufferPointer<UInt64>
            let starts: UnsafeBufferPointer<Int32>
        }

        func withKept<R>(_ body: (Kept) -> R) -> R {
            words.words.withUnsafeBufferPointer { words in
                starts.withUnsafeBufferPointer { starts in body(Kept(words: words, starts: starts)) }
            }
        }

        init(names: [String], generations: [String]) {
            words.words.reserveCapacity(names.count * 8)
            starts.reserveCapacity(names.count + 1)
            for (name, generation) in zip(names, generations) {
                Builder.entry(name: name, generation: generation, managed: true, into: &words)
                starts.append(Int32(words.words.count))
            }
        }
    }
}

/// What feeds `CanonicalHash` a stream of 64-bit words: the hash itself, or `CanonicalWords`, which keeps them to be fed
/// again (a project's entry in a digest is the same words for each of a thousand slaves).
protocol CanonicalWordSink {
    mutating func word(_ w: UInt64)
}

/// The 64-bit hash behind generations and digests: a stream of tagged, length-delimited values, so that no two
/// different value lists give the same stream, absorbed in 64-bit words.
///
/// The function: each word `w` is absorbed with murmur3's x64 block step on one lane,
/// `k = rotl(w * C1, 31) * C2; h = rotl(h ^ k, 27) * 5 + 0x52dce729` (C1 = 0x87c37b91114253d5,
/// C2 = 0x4cf5ad432745937f); text is taken 8 bytes at a time, little-endian, its last word padded with zeros (its
/// length came first). The result is murmur3's `fmix64` finalizer of the state xor the number of words.
/// Every step is a bijection of the state for a given word and of the word for a given state, so two streams of the
/// same shape that differ in one field always end in different states; `fmix64` then spreads a change in any bit
/// over all 64 bits of the result (FNV's multiply alone only carries a difference upward). Not a cryptographic
/// hash: generations detect change, they do not defend against forgery.
struct CanonicalHash: CanonicalWordSink {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325
    private var words: UInt64 = 0

    mutating func word(_ w: UInt64) {
        var k = w &* 0x87c3_7b91_1142_53d5
        k = (k << 31) | (k >> 33)
        k = k &* 0x4cf5_ad43_2745_937f
        state ^= k
        state = ((state << 27) | (state >> 37)) &* 5 &+ 0x52dc_e729
        words &+= 1
    }

    /// Words kept by `CanonicalWords`, absorbed as if fed one by one.
    mutating func add(words kept: UnsafeBufferPointer<UInt64>) {
        for w in kept { word(w) }
    }

    var value: UInt64 {
        var h = state ^ words
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    var hex: String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

/// The words a run of values would feed `CanonicalHash`, kept to be fed later, as many times as needed.
struct CanonicalWords: CanonicalWordSink {
    var words: [UInt64] = []

    mutating func word(_ w: UInt64) { words.append(w) }
}

extension CanonicalWordSink {
    /// A tag in the top byte, a count or a small value below it.
    private mutating func tag(_ tag: UInt64, _ value: Int) {
        word(tag << 56 | UInt64(truncatingIfNeeded: value) & 0x00ff_ffff_ffff_ffff)
    }

    mutating func add(_ text: String?) {
        guard let text else {
            tag(0, 0)
            return
        }
        // The UTF-8 in place (a native or small string, which is every string here); `withUTF8` would need a copy to
        // mutate.
        let added: Void? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            tag(1, utf8.count)
            add(bytes: UnsafeRawBufferPointer(utf8))
        }
        guard added == nil else { return }
        var copy = text
        tag(1, copy.utf8.count)
        copy.withUTF8 { add(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Eight bytes at a time, the last word padded with zeros.
    mutating func add(bytes: UnsafeRawBufferPointer) {
        var i = 0
        while i + 8 <= bytes.count {
            word(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        if i < bytes.count {
            // The last one to seven bytes, copied into the low bytes of a zeroed word (this machine is little-endian,
            // as `littleEndian` above says the words are read).
            var last: UInt64 = 0
            withUnsafeMutableBytes(of: &last) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[i...])) }
            word(UInt64(littleEndian: last))
        }
    }

    // What `add(_: FieldValue)` feeds for each kind of value, without making the value first.
    mutating func add(span: TimeSpan?) {
        add(number: span.map { Int64($0.seconds) })
    }

    mutating func add(number: Int64?) {
        guard let number else {
            tag(0, 0)
            return
        }
        tag(2, 0)
        word(UInt64(bitPattern: number))
    }

    mutating func add(flag: Bool?) {
        guard let flag else {
            tag(0, 0)
            return
        }
        tag(4, flag ? 1 : 0)
    }

    mutating func add(list: [String]?) {
        guard let list else {
            tag(0, 0)
            return
        }
        tag(3, list.count)
        for item in list { add(item) }
    }

    mutating func add(_ value: FieldValue) {
        switch value {
        case .absent: tag(0, 0)
        case .text(let text): add(text)
        case .number(let n):
            tag(2, 0)
            word(UInt64(bitPattern: n))
        case .list(let items):
            tag(3, items.count)
            for item in items { add(item) }
        case .flag(let b): tag(4, b ? 1 : 0)
        }
    }
}
