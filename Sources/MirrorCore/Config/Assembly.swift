import Dispatch
import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Gathers the objects of every file, then checks what no single file can: duplicates, references, nesting.
struct Assembly {
    let directory: String
    var decoder = SpecDecoder()
    var master: (spec: MasterSpec, mark: SourceMark)?
    var tls: (spec: TLSSpec?, mark: SourceMark)?
    var intervals: [String: IntervalSpec] = [:]
    var upstreams: [String: UpstreamSpec] = [:]
    var slaves: [String: SlaveSpec] = [:]
    /// Where each tier slave's `from` is written.
    var slaveFrom: [String: SourceMark] = [:]
    var projects: [String: ProjectSpec] = [:]
    var projectRefs: [String: SpecDecoder.ProjectReferences] = [:]
    var site: SiteSpec?
    var sources: [ObjectRef: SourceMark] = [:]
    var defaults: (spec: ProjectDefaults, mark: SourceMark)?
    var notify: (spec: NotifySpec?, routes: [String: SourceMark], mark: SourceMark)?

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
        if let section = file.notify {
            if let first = notify {
                decoder.diagnostics.error(
                    section.mark, "duplicate-name", "'notify' is defined twice: here and at \(first.mark)")
            } else {
                notify = section
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
            case .slave(let spec, let from):
                if let spec { slaves[ref.name] = spec }
                if let from { slaveFrom[ref.name] = from }
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
        checkRoutes()
        checkPaths()
        checkAgents()
        checkTiers()
        // Warnings about unused objects only make sense once every project could be read.
        guard !decoder.diagnostics.hasErrors, let master else { throw ConfigError(decoder.diagnostics.all) }
        // The decoder's own warnings (`insecure: true`) with them.
        let warnings =
            decoder.diagnostics.all.filter { $0.severity == .warning } + unusedObjects() + programsInPlace()
        let state = DesiredState(
            master: master.spec, intervals: intervals, upstreams: upstreams, slaves: slaves,
            projects: projects, site: site, sources: sources, files: files, tls: tls?.spec,
            notify: notify?.spec)
        return LoadedConfig(state: state, warnings: warnings.sorted(by: Diagnostic.inSourceOrder))
    }

    /// A program that writes the served tree in place has no deletion cap (nothing counts what it deletes before it
    /// does), and a reader sees its files change as it writes; with `publish: atomic` it works on a copy that is
    /// published only when its deletions are within `maxDelete`.
    func programsInPlace() -> [Diagnostic] {
        projects.keys.sorted().compactMap { name in
            let project = projects[name]!
            guard project.tree.publish == .inPlace, upstreams[project.upstream]?.command != nil,
                let mark = sources[ObjectRef(.project, name)]
            else { return nil }
            return Diagnostic(
                .warning, at: mark, code: "program-in-place",
                message:
                    "project '\(name)' comes from upstream '\(project.upstream)', a program, and publishes in place: no maxDelete can stop it emptying the tree; write publish: atomic, so that it works on a copy published only within maxDelete"
            )
        }
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
