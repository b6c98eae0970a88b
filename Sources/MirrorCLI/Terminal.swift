#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import MirrorCore

/// Writing to the terminal: colour only where a person is looking, and never when `NO_COLOR` is set.
enum Terminal {
    enum Stream { case standardOutput, standardError }

    static func wantsColor(fileDescriptor: Int32) -> Bool {
        guard getenv("NO_COLOR") == nil else { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return isatty(fileDescriptor) == 1
    }

    static func write(_ text: String, to stream: Stream) {
        var bytes = Array(text.utf8)
        let fd: Int32 = stream == .standardOutput ? 1 : 2
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    static func colored(_ diagnostic: Diagnostic, color: Bool) -> String {
        guard color else { return diagnostic.description }
        let text = diagnostic.description
        let label = "\(diagnostic.severity.rawValue):"
        let code = diagnostic.severity == .error ? "\u{1B}[1;31m" : "\u{1B}[1;35m"
        guard let range = text.range(of: label) else { return text }
        return "\u{1B}[1m" + text[..<range.lowerBound] + "\u{1B}[0m" + code + label + "\u{1B}[0m"
            + text[range.upperBound...]
    }

    /// A plan as text, in colour when `color`: headings bold, creations green, updates yellow, removals and
    /// refusals red, unmanaged projects magenta.
    static func plan(_ plan: Plan, color: Bool) -> String {
        guard color else { return PlanText.render(plan) }
        return PlanText.render(plan) { text, tone in
            let code =
                switch tone {
                case .heading: "1"
                case .create: "32"
                case .update: "33"
                case .remove, .refusal: "31"
                case .unmanaged: "35"
                }
            return "\u{1B}[\(code)m\(text)\u{1B}[0m"
        }
    }
}
