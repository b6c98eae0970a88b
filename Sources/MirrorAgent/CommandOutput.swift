import Foundation
import MirrorCore

/// A program's output read as it comes, line by line (a line ends at '\n' or '\r', as a progress meter redraws
/// itself): whether a line matched `failOnMatch`, what the last match of `sizePattern` caught in its first group, and
/// the last lines. Lines longer than `maxLine` bytes are read by their beginning.
struct CommandOutput: Sendable {
    private let failOnMatch: NSRegularExpression?
    private let sizePattern: NSRegularExpression?
    private let tailLines: Int
    private let maxLine = 64 * 1024
    private var line: [UInt8] = []
    /// The first line that matched `failOnMatch`.
    private(set) var failedOn: String?
    /// The first group of `sizePattern`'s last match.
    private(set) var size: String?
    private(set) var tail: [String] = []

    init(upstream: CommandUpstream, tailLines: Int) {
        // The patterns were checked as the run began (`CommandUpstream.check`).
        failOnMatch = upstream.failOnMatch.flatMap { try? NSRegularExpression(pattern: $0) }
        sizePattern = upstream.sizePattern.flatMap { try? NSRegularExpression(pattern: $0) }
        self.tailLines = tailLines
    }

    /// Reads a buffer of output.
    mutating func take(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                end()
            } else if line.count < maxLine {
                line.append(byte)
            }
        }
    }

    /// Reads the last line, if the output did not end with a line break.
    mutating func finish() { end() }

    private mutating func end() {
        guard !line.isEmpty else { return }
        let text = String(decoding: line, as: UTF8.self)
        line.removeAll(keepingCapacity: true)
        tail.append(text)
        if tail.count > tailLines { tail.removeFirst(tail.count - tailLines) }
        let range = NSRange(text.startIndex..., in: text)
        if failedOn == nil, let failOnMatch, failOnMatch.firstMatch(in: text, range: range) != nil {
            failedOn = text
        }
        if let sizePattern, let match = sizePattern.firstMatch(in: text, range: range), match.numberOfRanges > 1,
            let group = Range(match.range(at: 1), in: text)
        {
            size = String(text[group])
        }
    }
}
