import Foundation

/// A length of time written as `90s`, `15m`, `1h30m` or `1d`; stored in whole seconds.
public struct TimeSpan: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public static let pattern = "^(?=.*[1-9])([0-9]{1,8}d)?([0-9]{1,8}h)?([0-9]{1,8}m)?([0-9]{1,8}s)?$"
    public var seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    public static func parse(_ text: String) throws(ValueError) -> TimeSpan {
        let hint = "write a duration such as 90s, 15m, 1h30m or 1d"
        var total = 0
        var digits = ""
        var lastUnit = -1
        var sawUnit = false
        let units: [Character: (rank: Int, seconds: Int)] = [
            "d": (0, 86_400), "h": (1, 3_600), "m": (2, 60), "s": (3, 1),
        ]
        for ch in text {
            if ch.isASCII && ch.isNumber {
                digits.append(ch)
            } else if let unit = units[ch] {
                guard !digits.isEmpty, digits.count <= 8, unit.rank > lastUnit, let n = Int(digits) else {
                    throw ValueError("'\(text)' is not a duration; \(hint)")
                }
                total += n * unit.seconds
                lastUnit = unit.rank
                digits = ""
                sawUnit = true
            } else {
                throw ValueError("'\(text)' is not a duration; \(hint)")
            }
        }
        guard digits.isEmpty, sawUnit else {
            if !digits.isEmpty && !sawUnit { throw ValueError("'\(text)' has no unit; \(hint)") }
            throw ValueError("'\(text)' is not a duration; \(hint)")
        }
        guard total > 0 else { throw ValueError("a duration must be longer than zero") }
        return TimeSpan(seconds: total)
    }

    /// The shortest spelling: `5400` seconds is `1h30m`.
    public var description: String {
        var rest = seconds
        var out = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out.isEmpty ? "0s" : out
    }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.seconds < b.seconds }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try TimeSpan.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
