import Foundation
import Logging
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// One tree's Debian trace files on disk (the text comes from `DebianTrace`): the in-progress marker at the top of
/// the tree, `project/trace/<host>` written to `.new`, fsynced and renamed, and `project/trace/_traces`.
struct TraceFiles: Sendable {
    /// The tree, ending in '/'.
    let tree: String
    let host: String
    /// The project's `trace`: true, false, or nil for "when the tree has a `project/trace/` directory".
    let setting: Bool?

    var traceDirectory: String { tree + DebianTrace.directory }
    var marker: String { tree + DebianTrace.markerName(host: host) }

    /// Whether this tree is traced now: asked before the sync for the marker, and after it for the trace, so that a
    /// first sync that brings an upstream's `project/trace/` writes a trace at once.
    var enabled: Bool {
        if let setting { return setting }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: traceDirectory, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }

    func markStart(logger: Logger) {
        guard enabled else { return }
        let text = Array((DebianTrace.dateLine(Date()) + "\n").utf8)
        do throws(AtomicFile.Failure) { try AtomicFile.write(text, to: marker, mode: 0o644) } catch {
            logger.warning(
                "cannot create the in-progress marker", metadata: ["marker": "\(marker)", "error": "\(error)"])
        }
    }

    /// Removes the marker, whatever became of the run.
    func markEnd(logger: Logger) {
        if unlink(marker) != 0 && errno != ENOENT {
            logger.warning(
                "cannot remove the in-progress marker",
                metadata: ["marker": "\(marker)", "error": "\(String(cString: strerror(errno)))"])
        }
    }

    /// Writes the trace of a successful sync and the list; returns why not, if it could not.
    func write(started: Date, ended: Date, creator: String, upstream: String, outcome: SyncOutcome) -> String? {
        guard enabled else { return nil }
        do {
            try FileManager.default.createDirectory(atPath: traceDirectory, withIntermediateDirectories: true)
        } catch {
            return "cannot create \(traceDirectory): \(error.localizedDescription)"
        }
        let serial = (try? String(contentsOfFile: traceDirectory + "/master", encoding: .utf8)).flatMap(
            DebianTrace.archiveSerial(inMasterTrace:))
        let record = DebianTrace.Record(
            started: started, ended: ended, archiveSerial: serial, creator: creator, host: host, upstream: upstream,
            bytesReceived: outcome.bytesReceived, passSeconds: outcome.passSeconds.map { Int($0.rounded()) })
        do throws(AtomicFile.Failure) {
            try Self.replace(traceDirectory + "/" + host, with: record.text)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: traceDirectory)) ?? []
            try Self.replace(traceDirectory + "/" + DebianTrace.listName, with: DebianTrace.list(of: names))
        } catch {
            return error.message
        }
        return nil
    }

    /// Writes `path.new`, fsyncs it and renames it over `path`, as ftpsync does.
    static func replace(_ path: String, with text: String) throws(AtomicFile.Failure) {
        try AtomicFile.write(Array(text.utf8), to: path + ".new", mode: 0o644)
        guard rename(path + ".new", path) == 0 else {
            throw AtomicFile.Failure(
                message: "cannot rename \(path).new to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the in-progress markers a stopped or killed agent left at the top of `tree`; returns their paths.
    @discardableResult
    static func removeStaleMarkers(in tree: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: tree)) ?? []
        return names.filter { $0.hasPrefix(DebianTrace.markerPrefix) }.map { tree + "/" + $0 }.filter {
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
