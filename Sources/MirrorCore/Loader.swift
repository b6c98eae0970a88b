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

    public init(reader: YAMLReader = YAMLReader()) {
        self.reader = reader
    }

    public static let topLevelKeys = ["master", "intervals", "upstreams", "slaves", "projects"]

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
            throw ConfigError([Diagnostic(file: directory, code: "no-directory", message: "cannot read the desired state: \(reason)")])
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ConfigError([Diagnostic(file: directory, code: "not-a-directory",
                message: "is not a directory; give the directory that holds the *.yaml files (such as mirrors.d)")])
        }
        guard let dir = opendir(directory) else {
            throw ConfigError([Diagnostic(file: directory, code: "unreadable", message: "cannot list the directory: \(String(cString: strerror(errno)))")])
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
            throw ConfigError([Diagnostic(file: directory, code: "no-files",
                message: "holds no *.yaml or *.yml files; the desired state needs at least a 'master'")])
        }
        var files: [(path: String, bytes: [UInt8])] = []
        var unreadable: [Diagnostic] = []
        for path in paths {
            do throws(ValueError) {
                files.append((path, try Self.readFile(path)))
            } catch {
                unreadable.append(Diagnostic(file: path, code: "unreadable", message: error.message))
            }
        }
        return try load(files: files, directory: directory, extra: unreadable)
    }

    /// Loads and validates files already in memory; `directory` names the whole for directory-level findings.
    public func load(files: [(path: String, bytes: [UInt8])], directory: String, extra: [Diagnostic] = []) throws(ConfigError) -> LoadedConfig {
        var assembly = Assembly(directory: directory)
        assembly.decoder.diagnostics.append(contentsOf: extra)
        for file in files {
            let result = reader.read(file.bytes, file: file.path)
            assembly.decoder.diagnostics.append(contentsOf: result.diagnostics)
            if let root = result.root { assembly.add(root, file: file.path) }
        }
        return try assembly.finish(files: files.map(\.path))
    }
}

/// Gathers the objects of every file, then checks what no single file can: duplicates, references, nesting.
private struct Assembly {
    let directory: String
    var decoder = SpecDecoder()
    var master: (spec: MasterSpec, mark: SourceMark)?
    var intervals: [String: IntervalSpec] = [:]
    var upstreams: [String: UpstreamSpec] = [:]
    var slaves: [String: SlaveSpec] = [:]
    var projects: [String: ProjectSpec] = [:]
    var projectRefs: [String: SpecDecoder.ProjectReferences] = [:]
    var sources: [ObjectRef: SourceMark] = [:]

    init(directory: String) { self.directory = directory }

    mutating func add(_ root: YAMLNode, file: String) {
        guard case .mapping(let sections) = root.content else {
            decoder.diagnostics.error(root.mark, "invalid-type",
                "a file in mirrors.d must be a mapping with keys such as 'projects:', but this one is \(root.kindName)")
            return
        }
        for section in sections {
            switch section.key {
            case "master":
                let ref = ObjectRef(.master, "master")
                guard claim(ref, at: section.keyMark) else { continue }
                if let spec = decoder.master(section.value, at: section.keyMark) { master = (spec, section.keyMark) }
            case "intervals":
                forEachObject(in: section, kind: .interval) { d, node, name, mark in d.interval(node, name: name, at: mark) }
                    .forEach { intervals[$0] = $1 }
            case "upstreams":
                forEachObject(in: section, kind: .upstream) { d, node, name, mark in d.upstream(node, name: name, at: mark) }
                    .forEach { upstreams[$0] = $1 }
            case "slaves":
                forEachObject(in: section, kind: .slave) { d, node, name, mark in d.slave(node, name: name, at: mark) }
                    .forEach { slaves[$0] = $1 }
            case "projects":
                for (name, (spec, refs)) in forEachObject(in: section, kind: .project, { d, node, name, mark in d.project(node, name: name, at: mark) }) {
                    projects[name] = spec
                    projectRefs[name] = refs
                }
            default:
                // `x-` keys hold anchors for `<<` merges and are otherwise ignored, as in docker-compose.
                if section.key.hasPrefix("x-") { continue }
                decoder.diagnostics.error(section.keyMark, "unknown-key",
                    "unknown top-level key '\(section.key)'\(Suggestion.hint(for: section.key, among: DesiredStateLoader.topLevelKeys))"
                    + " (top-level keys are \(DesiredStateLoader.topLevelKeys.joined(separator: ", ")), and x-* for anchors)")
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

    mutating func forEachObject<T>(in section: YAMLEntry, kind: ObjectKind,
                                   _ decode: (inout SpecDecoder, YAMLNode, String, SourceMark) -> T?) -> [(String, T)] {
        if let s = section.value.scalar, s.isNull { return [] }
        guard case .mapping(let entries) = section.value.content else {
            decoder.diagnostics.error(section.value.mark, "invalid-type",
                "'\(section.key)' must be a mapping from \(kind.rawValue) names to their specs, but it is \(section.value.kindName)")
            return []
        }
        var out: [(String, T)] = []
        for entry in entries {
            do throws(ValueError) {
                try ObjectName.validate(entry.key)
            } catch {
                decoder.diagnostics.error(entry.keyMark, "invalid-name", "invalid \(kind.rawValue) name: \(error.message)")
                continue
            }
            guard claim(ObjectRef(kind, entry.key), at: entry.keyMark) else { continue }
            if let spec = decode(&decoder, entry.value, entry.key, entry.keyMark) { out.append((entry.key, spec)) }
        }
        return out
    }

    mutating func finish(files: [String]) throws(ConfigError) -> LoadedConfig {
        if sources[ObjectRef(.master, "master")] == nil {
            decoder.diagnostics.append(Diagnostic(file: directory, code: "missing-master",
                message: "no file defines 'master'; the desired state needs one master (api, tokenFile, root)"))
        }
        checkReferences()
        checkPaths()
        checkAgents()
        // Warnings about unused objects only make sense once every project could be read.
        guard !decoder.diagnostics.hasErrors, let master else { throw ConfigError(decoder.diagnostics.all) }
        let warnings = unusedObjects()
        let state = DesiredState(master: master.spec, intervals: intervals, upstreams: upstreams, slaves: slaves,
                                 projects: projects, sources: sources, files: files)
        return LoadedConfig(state: state, warnings: warnings.sorted(by: Diagnostic.inSourceOrder))
    }

    /// Every project's upstream, interval and slaves must exist; near misses get a did-you-mean.
    mutating func checkReferences() {
        for name in projectRefs.keys.sorted() {
            let spec = projects[name]!, refs = projectRefs[name]!
            func check(_ kind: ObjectKind, _ target: String, _ mark: SourceMark) {
                guard sources[ObjectRef(kind, target)] == nil else { return }
                let known = sources.keys.filter { $0.kind == kind }.map(\.name)
                decoder.diagnostics.error(mark, "unknown-reference",
                    "project '\(name)' refers to \(kind.rawValue) '\(target)', which no file defines\(Suggestion.hint(for: target, among: known))")
            }
            check(.upstream, spec.upstream, refs.upstream)
            check(.interval, spec.interval, refs.interval)
            for slave in refs.slaves { check(.slave, slave.name, slave.mark) }
        }
    }

    /// No two projects may share a path, or nest one inside another: one sync would delete the other's files.
    mutating func checkPaths() {
        let entries = projects.map { (name: $0.key, segments: MirrorPath.segments($0.value.path)) }
            .sorted { $0.segments.lexicographicallyPrecedes($1.segments) || ($0.segments == $1.segments && $0.name < $1.name) }
        var ancestors: [(name: String, segments: [Substring])] = []
        for entry in entries {
            while let top = ancestors.last, !entry.segments.starts(with: top.segments) { ancestors.removeLast() }
            if let top = ancestors.last {
                let mark = projectRefs[entry.name]?.path ?? sources[ObjectRef(.project, entry.name)]!
                let path = entry.segments.joined(separator: "/")
                if top.segments == entry.segments {
                    decoder.diagnostics.error(mark, "path-conflict",
                        "project '\(entry.name)' has path '\(path)', the same as project '\(top.name)'; each project needs a tree of its own")
                } else {
                    decoder.diagnostics.error(mark, "path-conflict",
                        "project '\(entry.name)' has path '\(path)', inside project '\(top.name)' (path '\(top.segments.joined(separator: "/"))'); a sync of one would delete the other's files")
                }
                continue
            }
            ancestors.append(entry)
        }
    }

    /// Two agents at one address would receive each other's specs.
    mutating func checkAgents() {
        var seen: [String: ObjectRef] = [:]
        if let master { seen[master.spec.api] = ObjectRef(.master, "master") }
        for name in slaves.keys.sorted() {
            let api = slaves[name]!.api
            if let other = seen[api] {
                decoder.diagnostics.error(sources[ObjectRef(.slave, name)]!, "duplicate-agent",
                    "slave '\(name)' has api \(api), the same as \(other); every agent needs an address of its own")
            } else {
                seen[api] = ObjectRef(.slave, name)
            }
        }
    }

    /// Intervals, upstreams and slaves that no project uses: allowed, but likely a mistake.
    func unusedObjects() -> [Diagnostic] {
        var used = Set<ObjectRef>()
        for spec in projects.values {
            used.insert(ObjectRef(.upstream, spec.upstream))
            used.insert(ObjectRef(.interval, spec.interval))
            switch spec.slaves {
            case .all: slaves.keys.forEach { used.insert(ObjectRef(.slave, $0)) }
            case .named(let names): names.forEach { used.insert(ObjectRef(.slave, $0)) }
            }
        }
        return sources.filter { $0.key.kind != .master && $0.key.kind != .project && !used.contains($0.key) }
            .map { Diagnostic(.warning, at: $0.value, code: "unused", message: "\($0.key) is not used by any project") }
    }
}
