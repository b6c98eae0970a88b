import Foundation
@testable import MirrorCore

/// The fixture corpus under `Fixtures/`: single files checked with `base.yaml`, and whole directories.
///
/// A fixture's leading comments say what must happen to it:
/// `# expect: LINE:COLUMN: words | more words` (one line per error, in source order; `-` for a whole-file error),
/// `# schema: reject | accept | exempt REASON | skip REASON`, and `# load: alone` for a file loaded without the base.
enum Corpus {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        .path
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    struct Expectation: Sendable, CustomStringConvertible {
        var file: String?
        var line: Int?
        var column: Int?
        var keywords: [String]

        var description: String {
            "\(file ?? "-"):\(line.map(String.init) ?? "-"):\(column.map(String.init) ?? "-"): \(keywords.joined(separator: " | "))"
        }

        /// Parses `L:C: words | words`, `-: words`, or with a leading file name, `FILE:L:C: words` and `FILE: words`.
        init(_ text: String, withFile: Bool) {
            var rest = Substring(text)
            if withFile, let colon = rest.firstIndex(of: ":") {
                file = String(rest[..<colon])
                rest = rest[rest.index(after: colon)...].drop { $0 == " " }
            }
            let parts = rest.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 3, let l = Int(parts[0]), let c = Int(parts[1]) {
                line = l
                column = c
                rest = parts[2]
            } else if rest.hasPrefix("-:") {
                rest = rest.dropFirst(2)
            }
            keywords = rest.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func matches(_ d: Diagnostic) -> Bool {
            d.line == line && d.column == column && keywords.allSatisfy { d.message.contains($0) }
        }
    }

    enum SchemaVerdict: Sendable, Equatable {
        case reject, accept, exempt(String), skip(String)
    }

    struct Fixture: Sendable {
        var name: String
        var bytes: [UInt8]
        var expectations: [Expectation]
        var schema: SchemaVerdict
        var alone: Bool
    }

    static func names(in folder: String, suffix: String = ".yaml") -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + folder)) ?? []
        return all.filter { suffix.isEmpty || $0.hasSuffix(suffix) }.filter { !$0.hasPrefix(".") }.sorted()
    }

    static func bytes(_ relative: String) -> [UInt8] {
        (try? DesiredStateLoader.readFile(root + "/" + relative)) ?? []
    }

    static func fixture(_ relative: String) -> Fixture {
        let data = bytes(relative)
        var expectations: [Expectation] = []
        var schema = SchemaVerdict.accept
        var alone = false
        // Headers are ASCII comment lines at the top; the body may hold anything, even bytes that are not UTF-8.
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            guard line.first == UInt8(ascii: "#") else { break }
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("# expect: ") {
                expectations.append(Expectation(String(text.dropFirst("# expect: ".count)), withFile: false))
            } else if text.hasPrefix("# schema: ") {
                let value = text.dropFirst("# schema: ".count)
                if value == "reject" {
                    schema = .reject
                } else if value == "accept" {
                    schema = .accept
                } else if value.hasPrefix("exempt ") {
                    schema = .exempt(String(value.dropFirst(7)))
                } else if value.hasPrefix("skip ") {
                    schema = .skip(String(value.dropFirst(5)))
                }
            } else if text == "# load: alone" {
                alone = true
            }
        }
        return Fixture(
            name: (relative as NSString).lastPathComponent, bytes: data, expectations: expectations, schema: schema,
            alone: alone)
    }

    /// Loads a single-file fixture the way `validate` would load a directory holding it (and the base, unless alone).
    static func load(_ fixture: Fixture) -> Result<LoadedConfig, ConfigError> {
        var files: [(path: String, bytes: [UInt8])] = fixture.alone ? [] : [("base.yaml", bytes("base.yaml"))]
        files.append((fixture.name, fixture.bytes))
        do {
            return .success(try DesiredStateLoader().load(files: files, directory: "fixtures"))
        } catch {
            return .failure(error)
        }
    }
}
