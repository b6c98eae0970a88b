import Foundation

/// Why a value was refused; the caller adds where.
public struct ValueError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
