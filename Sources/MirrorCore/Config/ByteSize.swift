import Foundation

/// A rate or size such as `500K`, `20MiB` or `1.5GB`; K, M and G (and KiB, MiB, GiB) are powers of 1024, KB, MB and GB of 1000.
public struct ByteSize: Sendable, Hashable, Codable, CustomStringConvertible {
    public static let pattern = "^(?=.*[1-9])[0-9]+(\\.[0-9]+)?(B|K|KB|KiB|M|MB|MiB|G|GB|GiB)$"
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func parse(_ text: String) throws(ValueError) -> ByteSize {
        let hint = "write a size such as 500K, 20MiB or 1GB"
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = text.dropFirst(number.count)
        let factors: [Substring: Double] = [
            "B": 1, "K": 1024, "KiB": 1024, "KB": 1000, "M": 1_048_576, "MiB": 1_048_576, "MB": 1e6,
            "G": 1_073_741_824, "GiB": 1_073_741_824, "GB": 1e9,
        ]
        guard !number.isEmpty, number.first != ".", number.last != ".",
            number.filter({ $0 == "." }).count <= 1, let value = Double(number)
        else {
            throw ValueError("'\(text)' is not a size; \(hint)")
        }
        guard !unit.isEmpty else { throw ValueError("'\(text)' has no unit; \(hint)") }
        guard let factor = factors[unit] else {
            throw ValueError("'\(text)' has an unknown unit '\(unit)'; \(hint)")
        }
        let bytes = value * factor
        guard bytes >= 1, bytes < 1e15 else { throw ValueError("'\(text)' is out of range; \(hint)") }
        return ByteSize(bytes: Int64(bytes.rounded()))
    }

    /// Canonical spelling in whole bytes, so that `1K` and `1024B` are the same spec.
    public var description: String { "\(bytes)B" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try ByteSize.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
