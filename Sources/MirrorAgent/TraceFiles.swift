import Foundation
import Logging
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// One tree's Debian trace files on disk (the text comes from `DebianTrace`): the in-progress marker at the top of
/// the tree, `project/trace/<host>` written to `.new`, fsynced and renamed, `project/trace/_hierarchy` (and its
/// `.mirror` copy for the hosts downstream) and `project/trace/_traces`.
struct TraceFiles: Sendable {
    /// The tree, ending in '/'.
    let tree: String
    /// The public host name the files are named after (ftpsync's MIRRORNAME).
    let host: String
    /// The machine the sync runs on (ftpsync's TRACEHOST): the trace's `Running on host`.
    var machine: String
    /// The project's `trace`: true, false, or nil for "when the tree has a `project/trace/` directory".
    let setting: Bool?

    init(tree: String, host: String, machine: String? = nil, setting: Bool?) {
        self.tree = tree
        self.host = host
        self.machine = machine ?? host
        self.setting = setting
    }

    var traceDirectory: String { tree + DebianTrace.directory }
    var marker: String { tree + DebianTrace.markerName(host: host) }
    var required: String { tree + DebianTrace.requiredName(host: host) }

    /// Whether this tree is traced now: asked before the sync for the marker, and after it for the trace, so that a
    /// first sync that brings an upstream's `project/trace/` writes a trace at once.
    var enabled: Bool {
        if let setting { return setting }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: traceDirectory, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }

    /// Creates the in-progress marker and, as ftpsync does before its first pass, removes `Archive-Update-Required-`:
    /// the push it stood for is what this sync brings.
    func markStart(logger: Logger) {
        guard enabled else { return }
        removeRequired(logger: logger)
        let text = Array((DebianTrace.dateLine(Date()) + "\n").utf8)
        do throws(AtomicFile.Failure) { try AtomicFile.write(text, to: marker, mode: 0o644) } catch {
            logger.warning(
                "cannot create the in-progress marker", metadata: ["marker": "\(marker)", "error": "\(error)"])
        }
    }

    /// Removes the marker, whatever became of the run.
    func markEnd(logger: Logger) { Self.remove(marker, what: "the in-progress marker", logger: logger) }

    /// Says, at the top of the tree, that a push came while this host synced: another sync is due.
    func markRequired(logger: Logger) {
        guard enabled else { return }
        let text = Array((DebianTrace.dateLine(Date()) + "\n").utf8)
        do throws(AtomicFile.Failure) { try AtomicFile.write(text, to: required, mode: 0o644) } catch {
            logger.warning(
                "cannot create the update-required marker", metadata: ["marker": "\(required)", "error": "\(error)"])
        }
    }

    func removeRequired(logger: Logger) { Self.remove(required, what: "the update-required marker", logger: logger) }

    static func remove(_ path: String, what: String, logger: Logger) {
        if unlink(path) != 0 && errno != ENOENT {
            logger.warning(
                "cannot remove \(what)",
                metadata: ["marker": "\(path)", "error": "\(String(cString: strerror(errno)))"])
        }
    }

    /// What a trace says beyond the sync's own figures: the host's words, the trigger, the upstream, the stage.
    struct Context: Sendable {
        var creator: String
        var upstream: String
        var info: TraceSettings?
        var trigger: String?
        /// `ALL` when the project excludes nothing; nil otherwise.
        var architecturesConfiguration: String?
        var stage: SyncStage = .whole
    }

    /// Writes the trace of a successful sync, `_hierarchy` and the list; returns why not, if it could not. A first
    /// stage writes `<host>-stage1`, which its second stage reads its first stage's time from; a whole sync removes it.
    func write(started: Date, ended: Date, outcome: SyncOutcome, context: Context) -> String? {
        guard enabled else { return nil }
        do {
            try FileManager.default.createDirectory(atPath: traceDirectory, withIntermediateDirectories: true)
        } catch {
            return "cannot create \(traceDirectory): \(error.localizedDescription)"
        }
        let masterTrace = try? String(contentsOfFile: traceDirectory + "/master", encoding: .utf8)
        var seconds = outcome.passSeconds.map { Int($0.rounded()) }
        let stage1Name = host + DebianTrace.stage1Suffix
        if case .second = context.stage {
            let stage1 = (try? String(contentsOfFile: traceDirectory + "/" + stage1Name, encoding: .utf8))
                .flatMap { DebianTrace.field("Total time spent in stage1 rsync", in: $0) }.flatMap { Int($0) }
            seconds = [stage1 ?? 0] + seconds
        }
        let record = DebianTrace.Record(
            started: started, ended: ended,
            archiveSerial: masterTrace.map { DebianTrace.archiveSerial(inMasterTrace: $0) ?? "unknown" },
            creator: context.creator, host: machine, upstream: context.upstream,
            bytesReceived: outcome.bytesReceived, passSeconds: seconds, info: context.info, trigger: context.trigger,
            architectures: Self.architectures(in: tree), architecturesConfiguration: context.architecturesConfiguration)
        let name = context.stage == .first ? stage1Name : host
        do throws(AtomicFile.Failure) {
            try Self.replace(traceDirectory + "/" + name, with: record.text)
            if context.stage == .whole { unlink(traceDirectory + "/" + stage1Name) }
            let hierarchy = DebianTrace.hierarchy(
                upstream: Self.readCapped(traceDirectory + "/" + DebianTrace.hierarchyName + ".mirror"),
                line: DebianTrace.hierarchyLine(
                    traceFile: name, mirrorName: host, host: machine, upstream: context.upstream))
            try Self.replace(traceDirectory + "/" + DebianTrace.hierarchyName, with: hierarchy)
            try Self.replace(traceDirectory + "/" + DebianTrace.hierarchyName + ".mirror", with: hierarchy)
            try Self.replace(traceDirectory + "/" + DebianTrace.listName, with: DebianTrace.list(of: listing()))
        } catch {
            return error.message
        }
        return nil
    }

    /// The regular files of the trace directory and when each was last modified.
    func listing() -> [(name: String, modified: Date)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: traceDirectory)) ?? []
        var info = stat()
        return names.compactMap { name in
            guard lstat(traceDirectory + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
            let time = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            return (name, Date(timeIntervalSince1970: time))
        }
    }

    /// The upstream's `_hierarchy.mirror`, if it is a file of at most 64 KiB.
    static func readCapped(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= 65_536 else { return nil }
        return try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// The architectures in the tree's `dists/`, as ftpsync finds them; nil without `dists/`. The `by-hash`
    /// directories hold the same files under their hashes and are not walked.
    static func architectures(in tree: String) -> [String]? {
        let dists = tree + "dists"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dists, isDirectory: &isDirectory), isDirectory.boolValue,
            let walker = FileManager.default.enumerator(atPath: dists)
        else { return nil }
        var files: [(directory: String, file: String)] = []
        while let relative = walker.nextObject() as? String {
            let file = (relative as NSString).lastPathComponent
            if file == "by-hash" {
                walker.skipDescendants()
                continue
            }
            guard file.hasPrefix("Packages.") || file.hasPrefix("Sources.") else { continue }
            files.append((((relative as NSString).deletingLastPathComponent as NSString).lastPathComponent, file))
        }
        return DebianTrace.architectures(files)
    }

    /// Writes `path.new`, fsyncs it and renames it over `path`, as ftpsync does.
    static func replace(_ path: String, with text: String) throws(AtomicFile.Failure) {
        try AtomicFile.write(Array(text.utf8), to: path + ".new", mode: 0o644)
        guard rename(path + ".new", path) == 0 else {
            throw AtomicFile.Failure(
                message: "cannot rename \(path).new to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the in-progress and update-required markers a stopped or killed agent left at the top of `tree` (the
    /// pushes they stood for are not kept across a restart, and an interrupted run runs again); returns their paths.
    @discardableResult
    static func removeStaleMarkers(in tree: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: tree)) ?? []
        return names.filter {
            $0.hasPrefix(DebianTrace.markerPrefix) || $0.hasPrefix(DebianTrace.requiredPrefix)
        }.map { tree + "/" + $0 }.filter {
            unlink($0) == 0
        }
    }

    /// The machine's fully qualified name, as `hostname -f` gives it; its short name when the resolver knows no other.
    static func machineName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let short = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard !short.contains(".") else { return short }
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(short, nil, &hints, &result) == 0, let first = result else { return short }
        defer { freeaddrinfo(result) }
        guard let canonical = first.pointee.ai_canonname else { return short }
        let name = String(cString: canonical)
        return name.isEmpty ? short : name
    }
}
