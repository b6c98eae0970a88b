/// A place in a source file; line and column count from 1, as editors show them.
public struct SourceMark: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (a: SourceMark, b: SourceMark) -> Bool {
        if a.file != b.file { return a.file.utf8.lexicographicallyPrecedes(b.file.utf8) }
        return (a.line, a.column) < (b.line, b.column)
    }
}

/// One finding about the desired state, printed compiler style.
public struct Diagnostic: Sendable, Hashable, Codable, Error, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }

    public var severity: Severity
    /// The file (or directory) the finding is about, as the user named it.
    public var file: String
    /// 1-based; nil when the finding is about a whole file or directory.
    public var line: Int?
    public var column: Int?
    /// A stable identifier of the rule, e.g. `unknown-key`; for scripts and tests.
    public var code: String
    public var message: String
    /// The key the finding is about, where there is one; the API's error bodies name it.
    public var field: String?

    public init(
        _ severity: Severity = .error, file: String, line: Int? = nil, column: Int? = nil, code: String,
        message: String,
        field: String? = nil
    ) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.code = code
        self.message = message
        self.field = field
    }

    public init(_ severity: Severity = .error, at mark: SourceMark, code: String, message: String, field: String? = nil)
    {
        self.init(
            severity, file: mark.file, line: mark.line, column: mark.column, code: code, message: message, field: field)
    }

    /// `file:line:column: error: message`, as compilers print it.
    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return "\(place): \(severity.rawValue): \(message)"
    }

    /// Sorts by file, then line, then column; whole-file findings first.
    public static func inSourceOrder(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        if a.file != b.file { return a.file.utf8.lexicographicallyPrecedes(b.file.utf8) }
        if (a.line ?? 0, a.column ?? 0) != (b.line ?? 0, b.column ?? 0) {
            return (a.line ?? 0, a.column ?? 0) < (b.line ?? 0, b.column ?? 0)
        }
        return a.message < b.message
    }
}

/// Collects findings while a loader or validator walks the input, so that every error is reported in one run.
public struct Diagnostics: Sendable {
    public private(set) var all: [Diagnostic] = []

    public init() {}

    public var hasErrors: Bool { all.contains { $0.severity == .error } }

    public mutating func error(_ mark: SourceMark, _ code: String, _ message: String, field: String? = nil) {
        all.append(Diagnostic(at: mark, code: code, message: message, field: field))
    }

    public mutating func append(_ diagnostic: Diagnostic) { all.append(diagnostic) }
    public mutating func append(contentsOf other: [Diagnostic]) { all.append(contentsOf: other) }

    public var sorted: [Diagnostic] { all.sorted(by: Diagnostic.inSourceOrder) }
}
