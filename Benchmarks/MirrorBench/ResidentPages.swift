// What a process's resident pages are, from /proc/PID/smaps: the `agent` benchmark prints it under its figures.
import Foundation
import MirrorCore

/// Resident memory of one process, summed by what maps it: the binary, each shared library, the heap, the rest.
struct ResidentPages {
    struct Part {
        var name: String
        /// Resident KiB, and of them the anonymous ones (written by this process: relocated data, heap, stacks).
        var rssKiB = 0
        var anonymousKiB = 0
    }

    var parts: [Part] = []
    var threads = 0

    /// Reads `/proc/PID/smaps`; anonymous mappings without a name are summed as one part.
    init?(pid: Int32) {
        // Read to the end: procfs reports a size of 0, and a read by the file's size would stop after the first page.
        guard let bytes = try? DesiredStateLoader.readFile("/proc/\(pid)/smaps") else { return nil }
        let smaps = String(decoding: bytes, as: UTF8.self)
        var byName: [String: Part] = [:]
        var current = ""
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-") && !first.hasSuffix(":") {
                // A mapping's header: address perms offset dev inode [path]
                current = fields.count >= 6 ? fields[5...].joined(separator: " ") : "[anonymous]"
                if current.hasPrefix("/") { current = (current as NSString).lastPathComponent }
                continue
            }
            guard fields.count >= 2, let kib = Int(fields[1]) else { continue }
            switch first {
            case "Rss:": byName[current, default: Part(name: current)].rssKiB += kib
            case "Anonymous:": byName[current, default: Part(name: current)].anonymousKiB += kib
            default: break
            }
        }
        parts = byName.values.filter { $0.rssKiB > 0 }.sorted { $0.rssKiB > $1.rssKiB }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        threads =
            status.split(separator: "\n").first { $0.hasPrefix("Threads:") }.flatMap {
                Int($0.split(separator: "\t").last ?? "")
            } ?? 0
    }

    /// The largest parts, one per line, then the rest summed.
    func lines(top: Int = 8) -> [String] {
        func mib(_ kib: Int) -> String { String(format: "%6.1f", Double(kib) / 1024) }
        var out = parts.prefix(top).map {
            "  \(mib($0.rssKiB)) MiB  \($0.name) (anonymous \(mib($0.anonymousKiB).trimmingCharacters(in: .whitespaces)) MiB)"
        }
        let rest = parts.dropFirst(top).reduce(0) { $0 + $1.rssKiB }
        if rest > 0 { out.append("  \(mib(rest)) MiB  \(parts.count - top) other mappings") }
        return out
    }
}
