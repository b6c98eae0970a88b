import Dispatch
import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
        /// A slave, and where its `from` is written.
        case slave(SlaveSpec?, SourceMark?)
        case project(ProjectSpec?, SpecDecoder.ProjectReferences?)
        case site(SiteSpec?)
    }

    var path: String
    var objects: [(ref: ObjectRef, mark: SourceMark, object: Object)] = []
    /// The site's `tls:` section, if this file has one, and where.
    var tls: (spec: TLSSpec?, mark: SourceMark)?
    /// The file's `notify:` section, if it has one: the spec, where each route names its project, and where.
    var notify: (spec: NotifySpec?, routes: [String: SourceMark], mark: SourceMark)?
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
            case "notify":
                let decoded = decoder.notify(section.value, at: section.keyMark)
                notify = (decoded?.spec, decoded?.routes ?? [:], section.keyMark)
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
                case .slave:
                    let decoded = decoder.slaveWithTier(node, name: name, at: mark)
                    object = .slave(decoded.spec, decoded.from)
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
