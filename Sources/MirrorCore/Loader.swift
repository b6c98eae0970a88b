import Dispatch
import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The desired state could not be built; `diagnostics` says every reason, sorted by file, line and column.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics.sorted(by: Diagnostic.inSourceOrder) }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A valid desired state, and the warnings found on the way.
public struct LoadedConfig: Sendable {
    public var state: DesiredState
    public var warnings: [Diagnostic]
}

/// Loads `mirrors.d/`: every `*.yaml` / `*.yml` in lexical order, merged and validated as one desired state.
///
/// All or nothing: one error anywhere means no desired state at all, so that nothing is applied half-way.
public struct DesiredStateLoader: Sendable {
    public var reader: YAMLReader
    /// Whether files are read and decoded on every core; the checks that span files run after, in file order.
    public var parallel: Bool
    /// The files decoded by the last load, for a caller that loads the same directory again and again (the watch
    /// loop): a file whose bytes did not change is not decoded again. Every file is still read, and the checks that
    /// span files run over all of them.
    public var decodedFiles: DecodedFiles?

    public init(reader: YAMLReader = YAMLReader(), parallel: Bool = true) {
        self.reader = reader
        self.parallel = parallel
    }

    public static let topLevelKeys = [
        "master", "tls", "intervals", "upstreams", "slaves", "projects", "site", "defaults",
    ]

    /// Whether a directory entry is a config file: `*.yaml` or `*.yml`, not hidden, not an editor's leftover.
    public static func isConfigFileName(_ name: String) -> Bool {
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
        return !(name.hasPrefix(".") || name.hasPrefix("#") || name.hasSuffix("~"))
    }

    /// The config files of `directory`, in lexical (byte) order.
    public static func configFiles(in directory: String) throws(ConfigError) -> [String] {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            let reason = errno == ENOENT ? "no such directory" : String(cString: strerror(errno))
            throw ConfigError([
                Diagnostic(file: directory, code: "no-directory", message: "cannot read the desired state: \(reason)")
            ])
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ConfigError([
                Diagnostic(
                    file: directory, code: "not-a-directory",
                    message: "is not a directory; give the directory that holds the *.yaml files (such as mirrors.d)")
            ])
        }
        guard let dir = opendir(directory) else {
            throw ConfigError([
                Diagnostic(
                    file: directory, code: "unreadable",
                    message: "cannot list the directory: \(String(cString: strerror(errno)))")
            ])
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard isConfigFileName(name) else { continue }
            let path = join(directory, name)
            // A subdirectory named like a file is ignored, as any subdirectory is; links to files count.
            var fileInfo = stat()
            if stat(path, &fileInfo) == 0 && fileInfo.st_mode & S_IFMT == S_IFDIR { continue }
            names.append(name)
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { join(directory, $0) }
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Reads a whole file; the reason for a failure comes from the system.
    public static func readFile(_ path: String) throws(ValueError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValueError("cannot read the file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var info = stat()
        if fstat(fd, &info) == 0 { bytes.reserveCapacity(Int(info.st_size)) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ValueError("cannot read the file: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return bytes
    }

    /// Loads and validates every config file of `directory`.
    public func load(directory: String) throws(ConfigError) -> LoadedConfig {
        let paths = try Self.configFiles(in: directory)
        guard !paths.isEmpty else {
            throw ConfigError([
                Diagnostic(
                    file: directory, code: "no-files",
                    message: "holds no *.yaml or *.yml files; the desired state needs at least a 'master'")
            ])
        }
        let known = decodedFiles?.files() ?? [:]
        let read = forEachFile(paths.count) { i -> (bytes: [UInt8]?, objects: FileObjects) in
            do throws(ValueError) {
                let bytes = try Self.readFile(paths[i])
                if let kept = known[paths[i]], kept.bytes == bytes { return kept }
                return (bytes, decode(bytes, file: paths[i]))
            } catch {
                // Not kept: the next load reads it again.
                return (
                    nil,
                    FileObjects(
                        path: paths[i],
                        diagnostics: [Diagnostic(file: paths[i], code: "unreadable", message: error.message)])
                )
            }
        }
        decodedFiles?.keep(
            Dictionary(
                zip(paths, read).compactMap { path, file in
                    file.bytes.map { (path, (bytes: $0, objects: file.objects)) }
                },
                uniquingKeysWith: { _, last in last }))
        return try assemble(read.map(\.objects), directory: directory)
    }

    /// Loads and validates files already in memory; `directory` names the whole for directory-level findings.
    public func load(files: [(path: String, bytes: [UInt8])], directory: String) throws(ConfigError) -> LoadedConfig {
        try assemble(
            forEachFile(files.count) { i in decode(files[i].bytes, file: files[i].path) }, directory: directory)
    }

    /// Runs `body` for every file, on every core when there are enough files to pay for it; results keep file order.
    func forEachFile<Result: Sendable>(_ count: Int, _ body: @Sendable (Int) -> Result) -> [Result] {
        guard parallel && count >= 4 else { return (0..<count).map(body) }
        let results = Mutex([Result?](repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let objects = body(i)
            results.withLock { $0[i] = objects }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// Reads one file and decodes each object in it on its own; what spans files waits for `assemble`.
    func decode(_ bytes: [UInt8], file: String) -> FileObjects {
        let result = reader.read(bytes, file: file)
        var objects = FileObjects(path: file, diagnostics: result.diagnostics)
        if let root = result.root { objects.decode(root) }
        return objects
    }

    func assemble(_ files: [FileObjects], directory: String) throws(ConfigError) -> LoadedConfig {
        var assembly = Assembly(directory: directory)
        for file in files { assembly.add(file) }
        return try assembly.finish(files: files.map(\.path))
    }
}

/// The files a `DesiredStateLoader` decoded last, each with the bytes it was decoded from.
public final class DecodedFiles: Sendable {
    private let kept = Mutex<[String: (bytes: [UInt8], objects: FileObjects)]>([:])

    public init() {}

    func files() -> [String: (bytes: [UInt8], objects: FileObjects)] { kept.withLock { $0 } }

    /// Keeps these files, and forgets any other (a file removed from the directory).
    func keep(_ files: [String: (bytes: [UInt8], objects: FileObjects)]) { kept.withLock { $0 = files } }
}

/// The objects of one file, decoded but not yet checked against other files, in the order they are written.
struct FileObjects: Sendable {
    enum Object: Sendable {
        case master(MasterSpec?)
        case interval(IntervalSpec?)
        case upstream(UpstreamSpec?)
        case slave(SlaveSpec?)
        case project(ProjectSpec?, SpecDecoder.ProjectReferences?)
        case site(SiteSpec?)
    }

    var path: String
    var objects: [(ref: ObjectRef, mark: SourceMark, object: Object)] = []
    /// The site's `tls:` section, if this file has one, and where.
    var tls: (spec: TLSSpec?, mark: SourceMark)?
    /// The file's `defaults:` section, if it has one (twice in a mapping is the reader's duplicate-key error).
    var defaults: [(spec: ProjectDefaults?, mark: SourceMark)] = []
    var diagnostics: [Diagnostic]

    init(path: String, diagnostics: [Diagnostic]) {
        self.path = path
        self.diagnostics = diagnostics
    }

    mutating func decode(_ root: YAMLNode) {
        var decoder = SpecDecoder()
        defer { diagnostics.append(contentsOf: decoder.diagnostics.all) }
        guard case .mapping(let sections) = root.content else {
            decoder.diagnostics.error(
                root.mark, "invalid-type",
                "a file in mirrors.d must be a mapping with keys such as 'projects:', but this one is \(root.kindName)")
            return
        }
        for section in sections {
            let kind: ObjectKind
            switch section.key {
            case "master":
                objects.append(
                    (
                        ObjectRef(.master, "master"), section.keyMark,
                        .master(decoder.master(section.value, at: section.keyMark))
                    ))
                continue
            case "tls":
                tls = (
                    decoder.tls(section.value, what: SpecDecoder.Subject("the site's tls"), at: section.keyMark),
                    section.keyMark
                )
                continue
            case "site":
                objects.append(
                    (ObjectRef(.site, "site"), section.keyMark, .site(decoder.site(section.value, at: section.keyMark)))
                )
                continue
            case "intervals": kind = .interval
            case "upstreams": kind = .upstream
            case "slaves": kind = .slave
            case "projects": kind = .project
            case "defaults":
                defaults.append((decoder.projectDefaults(section.value), section.keyMark))
                continue
            default:
                // `x-` keys hold anchors for `<<` merges and are otherwise ignored, as in docker-compose.
                if section.key.hasPrefix("x-") { continue }
                decoder.diagnostics.error(
                    section.keyMark, "unknown-key",
                    "unknown top-level key '\(section.key)'\(Suggestion.hint(for: section.key, among: DesiredStateLoader.topLevelKeys))"
                        + " (top-level keys are \(DesiredStateLoader.topLevelKeys.joined(separator: ", ")), and x-* for anchors)"
                )
                continue
            }
            if let s = section.value.scalar, s.isNull { continue }
            guard case .mapping(let entries) = section.value.content else {
                decoder.diagnostics.error(
                    section.value.mark, "invalid-type",
                    "'\(section.key)' must be a mapping from \(kind.rawValue) names to their specs, but it is \(section.value.kindName)"
                )
                continue
            }
            objects.reserveCapacity(objects.count + entries.count)
            for entry in entries {
                do throws(ValueError) {
                    try ObjectName.validate(entry.key)
                } catch {
                    decoder.diagnostics.error(
                        entry.keyMark, "invalid-name", "invalid \(kind.rawValue) name: \(error.message)")
                    continue
                }
                let name = entry.key
                let node = entry.value
                let mark = entry.keyMark
                let object: Object
                switch kind {
                case .interval: object = .interval(decoder.interval(node, name: name, at: mark))
                case .upstream: object = .upstream(decoder.upstream(node, name: name, at: mark))
                case .slave: object = .slave(decoder.slave(node, name: name, at: mark))
                case .project:
                    let decoded = decoder.project(node, name: name, at: mark)
                    object = .project(decoded?.0, decoded?.1)
                case .master, .site: continue
                }
                objects.append((ObjectRef(kind, name), mark, object))
            }
        }
    }
}

/// Gathers the objects of every file, then checks what no single file can: duplicates, references, nesting.
private struct Assembly {
    let directory: String
    var decoder = SpecDecoder()
    var master: (spec: MasterSpec, mark: SourceMark)?
    var tls: (spec: TLSSpec?, mark: SourceMark)?
    var intervals: [String: IntervalSpec] = [:]
    var upstreams: [String: UpstreamSpec] = [:]
    var slaves: [String: SlaveSpec] = [:]
    var projects: [String: ProjectSpec] = [:]
    var projectRefs: [String: SpecDecoder.ProjectReferences] = [:]
    var site: SiteSpec?
    var sources: [ObjectRef: SourceMark] = [:]
    var defaults: (spec: ProjectDefaults, mark: SourceMark)?

    init(directory: String) { self.directory = directory }

    /// Takes one file's objects, in file order: the first definition of a name wins, a second is an error.
    mutating func add(_ file: FileObjects) {
        decoder.diagnostics.append(contentsOf: file.diagnostics)
        if let section = file.tls {
            if let first = tls {
                decoder.diagnostics.error(
                    section.mark, "duplicate-name", "the site's tls is defined twice: here and at \(first.mark)")
            } else {
                tls = section
            }
        }
        for (spec, mark) in file.defaults {
            if let first = defaults {
                decoder.diagnostics.error(
                    mark, "duplicate-name", "'defaults' is defined twice: here and at \(first.mark)")
            } else if let spec {
                defaults = (spec, mark)
            }
        }
        for (ref, mark, object) in file.objects {
            guard claim(ref, at: mark) else { continue }
            switch object {
            case .master(let spec): if let spec { master = (spec, mark) }
            case .site(let spec): site = spec
            case .interval(let spec): if let spec { intervals[ref.name] = spec }
            case .upstream(let spec): if let spec { upstreams[ref.name] = spec }
            case .slave(let spec): if let spec { slaves[ref.name] = spec }
            case .project(let spec, let refs):
                if let spec, let refs {
                    projects[ref.name] = spec
                    projectRefs[ref.name] = refs
                }
            }
        }
    }

    /// Records where an object is defined; a second definition is an error naming both places.
    mutating func claim(_ ref: ObjectRef, at mark: SourceMark) -> Bool {
        if let first = sources[ref] {
            decoder.diagnostics.error(mark, "duplicate-name", "\(ref) is defined twice: here and at \(first)")
            return false
        }
        sources[ref] = mark
        return true
    }

    mutating func finish(files: [String]) throws(ConfigError) -> LoadedConfig {
        if sources[ObjectRef(.master, "master")] == nil {
            decoder.diagnostics.append(
                Diagnostic(
                    file: directory, code: "missing-master",
                    message: "no file defines 'master'; the desired state needs one master (api, tokenFile, root)"))
        }
        if let defaults {
            for name in projects.keys { defaults.spec.apply(to: &projects[name]!.tree) }
        }
        checkReferences()
        checkPaths()
        checkAgents()
        // Warnings about unused objects only make sense once every project could be read.
        guard !decoder.diagnostics.hasErrors, let master else { throw ConfigError(decoder.diagnostics.all) }
        // The decoder's own warnings (`insecure: true`) with them.
        let warnings = decoder.diagnostics.all.filter { $0.severity == .warning } + unusedObjects()
        let state = DesiredState(
            master: master.spec, intervals: intervals, upstreams: upstreams, slaves: slaves,
            projects: projects, site: site, sources: sources, files: files, tls: tls?.spec)
        return LoadedConfig(state: state, warnings: warnings.sorted(by: Diagnostic.inSourceOrder))
    }

    /// Every project's upstream, interval and slaves must exist; near misses get a did-you-mean.
    mutating func checkReferences() {
        for (name, refs) in projectRefs {
            let spec = projects[name]!
            func check(_ kind: ObjectKind, _ target: String, _ mark: SourceMark) {
                guard sources[ObjectRef(kind, target)] == nil else { return }
                let known = sources.keys.filter { $0.kind == kind }.map(\.name)
                decoder.diagnostics.error(
                    mark, "unknown-reference",
                    "project '\(name)' refers to \(kind.rawValue) '\(target)', which no file defines\(Suggestion.hint(for: target, among: known))"
                )
            }
            check(.upstream, spec.upstream, refs.upstream)
            check(.interval, spec.interval, refs.interval)
            for slave in refs.slaves { check(.slave, slave.name, slave.mark) }
        }
    }

    /// No two projects may share a path, or nest one inside another: one sync would delete the other's files.
    mutating func checkPaths() {
        // The project that owns each path; of two with one path, the first by name keeps it and the other is the error.
        var owners: [String: String] = [:]
        owners.reserveCapacity(projects.count)
        var clashes: [(name: String, owner: String)] = []
        for (name, spec) in projects {
            if let other = owners[spec.path] {
                let (first, second) = other < name ? (other, name) : (name, other)
                owners[spec.path] = first
                clashes.append((second, first))
            } else {
                owners[spec.path] = name
            }
        }
        for (name, owner) in clashes {
            decoder.diagnostics.error(
                pathMark(name), "path-conflict",
                "project '\(name)' has path '\(projects[name]!.path)', the same as project '\(owner)'; each project needs a tree of its own"
            )
        }
        // A path nests inside another when one of its leading parts, up to a '/', is that other path.
        for (path, name) in owners {
            var prefix = Substring(path)
            var outer: (name: String, path: Substring)?
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                if let owner = owners[String(prefix)] { outer = (owner, prefix) }
            }
            if let outer {
                decoder.diagnostics.error(
                    pathMark(name), "path-conflict",
                    "project '\(name)' has path '\(path)', inside project '\(outer.name)' (path '\(outer.path)'); a sync of one would delete the other's files"
                )
            }
        }
    }

    func pathMark(_ project: String) -> SourceMark {
        projectRefs[project]?.path ?? sources[ObjectRef(.project, project)]!
    }

    /// Two agents at one address would receive each other's specs.
    mutating func checkAgents() {
        var seen: [String: ObjectRef] = [:]
        if let master { seen[master.spec.api] = ObjectRef(.master, "master") }
        for name in slaves.keys.sorted() {
            let api = slaves[name]!.api
            if let other = seen[api] {
                decoder.diagnostics.error(
                    sources[ObjectRef(.slave, name)]!, "duplicate-agent",
                    "slave '\(name)' has api \(api), the same as \(other); every agent needs an address of its own")
            } else {
                seen[api] = ObjectRef(.slave, name)
            }
        }
    }

    /// Intervals, upstreams and slaves that no project uses: allowed, but likely a mistake.
    func unusedObjects() -> [Diagnostic] {
        var upstreamsUsed = Set<String>()
        var intervalsUsed = Set<String>()
        var slavesUsed = Set<String>()
        var everySlaveUsed = false
        for spec in projects.values {
            upstreamsUsed.insert(spec.upstream)
            intervalsUsed.insert(spec.interval)
            switch spec.slaves {
            case .all: everySlaveUsed = true
            case .named(let names): slavesUsed.formUnion(names)
            }
        }
        return sources.compactMap { ref, mark in
            let used: Bool
            switch ref.kind {
            case .master, .project, .site: return nil
            case .upstream: used = upstreamsUsed.contains(ref.name)
            case .interval: used = intervalsUsed.contains(ref.name)
            case .slave: used = everySlaveUsed || slavesUsed.contains(ref.name)
            }
            return used
                ? nil : Diagnostic(.warning, at: mark, code: "unused", message: "\(ref) is not used by any project")
        }
    }
}

/// The site's `defaults:`: project fields a project takes when it leaves them out. Applied when mirrors.d is loaded,
/// so the agents receive each project's fields spelled out, and a change to a default is a change to every project
/// that takes it (its generation, the plan).
struct ProjectDefaults: Sendable, Hashable {
    /// The fields `defaults:` set; every other field of it is at its default, which no project takes from here.
    var tree: TreeSpec

    /// Gives `tree`, a project's, each field it leaves out that the defaults set, as the field's row says.
    func apply(to tree: inout TreeSpec) {
        for field in AgentProjectSpec.fields { field.inherit?(&tree, self.tree) }
    }
}
