import MirrorCore

/// rsync's standard output as it comes, a buffer at a time: its statistics read, its progress lines
/// (`--info=progress2`, ended by carriage returns) taken as progress and left out of the log, and every other line
/// (the file list with `--itemize-changes` or `--verbose`, the statistics) handed on whole for the run's log. Memory is
/// bounded by one buffer and one line (a line longer than `longestLine` is handed on in pieces).
struct RsyncOutput {
    /// Which pass this is, for the progress.
    let pass: Int
    private(set) var report = RsyncReport()
    private(set) var progress: RunProgress?
    private var partial: [UInt8] = []
    static let longestLine = 64 << 10

    init(pass: Int) { self.pass = pass }

    /// Takes one buffer of output; returns the whole lines to log, each ended by a newline, and whether the progress
    /// changed.
    mutating func take(_ bytes: UnsafeRawBufferPointer) -> (log: [UInt8], progressed: Bool) {
        var log: [UInt8] = []
        log.reserveCapacity(bytes.count + partial.count)
        var progressed = false
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A || bytes[index] == 0x0D {
            partial.append(contentsOf: bytes[start..<index])
            start = index + 1
            progressed = line(ended: bytes[index], into: &log) || progressed
        }
        partial.append(contentsOf: bytes[start...])
        if partial.count > Self.longestLine {
            log += partial
            partial.removeAll(keepingCapacity: true)
        }
        return (log, progressed)
    }

    /// The last line, when the output ended without a newline.
    mutating func finish() -> (log: [UInt8], progressed: Bool) {
        var log: [UInt8] = []
        let progressed = partial.isEmpty ? false : line(ended: 0x0A, into: &log)
        return (log, progressed)
    }

    /// The line in `partial`, ended by `terminator`: progress, or a line to log (and perhaps a statistic).
    private mutating func line(ended terminator: UInt8, into log: inout [UInt8]) -> Bool {
        defer { partial.removeAll(keepingCapacity: true) }
        // rsync begins each progress line with a carriage return: the empty line before it is nothing.
        if partial.isEmpty {
            if terminator == 0x0A { log.append(0x0A) }
            return false
        }
        let first = partial[0]
        if first == 0x20,
            let next = RunProgress.parse(Substring(decoding: partial, as: UTF8.self), pass: pass, previous: progress)
        {
            progress = next
            return true
        }
        // The statistics begin "Number of", "Total" or "Deletions"; no other line need be read.
        if first == UInt8(ascii: "N") || first == UInt8(ascii: "T") || first == UInt8(ascii: "D") {
            report.read(Substring(decoding: partial, as: UTF8.self))
        }
        log += partial
        log.append(0x0A)
        return false
    }
}
