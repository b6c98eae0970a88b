import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// One terminal for a whole site: each line of each process prefixed by its component (`master | `, `ftp1 | `,
/// `reconcile | `), names padded to one width, lines never interleaved mid-way.
public final class SiteOutput: Sendable {
    private let width: Int
    private let colors: [String: String]
    private let fileDescriptor: Int32
    private let lock = Mutex(())

    /// - Parameters:
    ///   - names: every component that will write, to pad the prefixes to one width and give each a colour.
    ///   - color: whether to colour the prefixes (a terminal, and no `NO_COLOR`).
    public init(names: [String], color: Bool, fileDescriptor: Int32 = 1) {
        width = names.map(\.count).max() ?? 0
        let palette = ["36", "33", "32", "35", "34", "91", "92", "93", "94", "95", "96"]
        colors =
            color ? Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, palette[$0 % palette.count]) }) : [:]
        self.fileDescriptor = fileDescriptor
    }

    /// `name | line`, the name padded to the widest.
    public func write(_ name: String, _ line: String) {
        let padded = name.padding(toLength: max(width, name.count), withPad: " ", startingAt: 0)
        let prefix = colors[name].map { "\u{1B}[\($0)m\(padded) |\u{1B}[0m " } ?? "\(padded) | "
        let bytes = Array((prefix + line + "\n").utf8)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(fileDescriptor, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
