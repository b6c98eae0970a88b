import Foundation

/// A field that is one of a few words.
public protocol WordChoice: RawRepresentable<String>, CaseIterable {
    /// What the field is, after "is not": "a stage".
    static var what: String { get }
}

extension WordChoice {
    public static func parse(_ text: String) throws(ValueError) -> Self {
        guard let choice = Self(rawValue: text) else {
            throw ValueError("'\(text)' is not \(what); it is " + allCases.map(\.rawValue).joined(separator: " or "))
        }
        return choice
    }
}
