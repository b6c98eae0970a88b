import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A Debian trace file read back as Debian's mirror checker reads it: the first line with strptime's
/// `%a %b %d %H:%M:%S UTC %Y`, then each line split on its first colon into a key and a value.
public struct CheckedTrace: Sendable {
    public var date: Date
    public var fields: [String: String]
    /// The keys in the file's order.
    public var keys: [String]

    public init?(_ text: String) {
        var lines = text.split(separator: "\n").map(String.init)
        guard !lines.isEmpty, let date = Self.strptime(lines.removeFirst(), "%a %b %d %H:%M:%S UTC %Y") else {
            return nil
        }
        self.date = date
        fields = [:]
        keys = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let key = String(line[..<colon])
            fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            keys.append(key)
        }
    }

    public init?(file: String) {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        self.init(text)
    }

    /// An RFC 2822 field (`Date`, `Date-Started`) as the checker reads it.
    public func rfc2822(_ key: String) -> Date? {
        fields[key].flatMap { Self.strptime($0, "%a, %d %b %Y %H:%M:%S +0000") }
    }

    /// The C library's strptime (Glibc's module map leaves it out), the whole text consumed, read as UTC.
    static func strptime(_ text: String, _ format: String) -> Date? {
        typealias Parse =
            @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutablePointer<tm>) ->
            UnsafeMutablePointer<CChar>?
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "strptime") else { return nil }
        let parse = unsafeBitCast(symbol, to: Parse.self)
        var parts = tm()
        let consumed = text.withCString { t in format.withCString { f in parse(t, f, &parts).map { $0.pointee == 0 } } }
        guard consumed == true else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
