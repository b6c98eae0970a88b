import Foundation

/// How much one sync may delete before it is stopped with nothing deleted.
public enum DeletionLimit: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A share of the files the tree held after its last sync, in percent.
    case percent(Double)
    /// An absolute number of files.
    case files(Int)

    public static let `default` = DeletionLimit.percent(10)

    public var isShare: Bool {
        if case .percent = self { return true }
        return false
    }
    public static let percentPattern = "^(100(\\.0+)?|[0-9]{1,2}(\\.[0-9]+)?)%$"

    public static func parse(_ text: String, plain: Bool) throws(ValueError) -> DeletionLimit {
        let hint = "write a share such as 10% or a number of files such as 5000"
        let digits = { (t: Substring) in !t.isEmpty && t.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        if text.hasSuffix("%") {
            let number = text.dropLast()
            let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard digits(parts[0]), parts[0].count <= 3, parts.count == 1 || digits(parts[1]),
                let value = Double(number), value <= 100
            else {
                throw ValueError("'\(text)' is not a share between 0% and 100%; \(hint)")
            }
            return .percent(value)
        }
        guard plain, digits(Substring(text)), text == "0" || !text.hasPrefix("0"), let value = Int(text) else {
            throw ValueError("'\(text)' is not a deletion limit; \(hint)")
        }
        return .files(value)
    }

    public var description: String {
        switch self {
        case .percent(let p): return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        case .files(let n): return "\(n)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let n = try? container.decode(Int.self) {
            guard n >= 0 else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "a deletion limit may not be negative"))
            }
            self = .files(n)
            return
        }
        let text = try container.decode(String.self)
        do { self = try DeletionLimit.parse(text, plain: false) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .percent: try container.encode(description)
        case .files(let n): try container.encode(n)
        }
    }
}
