import ArgumentParser
import Foundation
import MirrorCore
import Testing

@testable import MirrorCLI

/// The README and docs/ hold what a stranger reads first: their links lead somewhere, every `mirrorsync` command
/// line they show is one the current commands take, and the configuration reference is the binary's own.
@Suite("The docs: links resolve, command lines parse, the reference is current")
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// README.md and every page of docs/, by their paths from the repository's root.
    static func pages() throws -> [String] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: root + "/docs").filter { $0.hasSuffix(".md") }
        return ["README.md"] + docs.sorted().map { "docs/" + $0 }
    }

    static func text(_ page: String) throws -> String { try String(contentsOfFile: root + "/" + page, encoding: .utf8) }

    /// The lines outside fenced code blocks, and the lines inside them, each with whether its block is a shell's
    /// (```sh, ```bash, ```shell), of a Markdown page.
    static func split(_ text: String) -> (prose: [Substring], code: [(line: Substring, shell: Bool)]) {
        var prose: [Substring] = []
        var code: [(Substring, Bool)] = []
        var fence: Substring?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                fence = fence == nil ? line.dropFirst(3) : nil
                continue
            }
            if let fence { code.append((line, ["sh", "bash", "shell"].contains(fence))) } else { prose.append(line) }
        }
        return (prose, code)
    }

    /// The anchor GitHub gives a heading: lower case, punctuation but '-' and '_' dropped, spaces as '-'.
    static func anchor(_ heading: Substring) -> String {
        let title = heading.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
        return String(
            title.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || " -_".unicodeScalars.contains($0) }
                .map(Character.init)
        ).replacingOccurrences(of: " ", with: "-")
    }

    static func anchors(_ page: String) throws -> Set<String> {
        Set(split(try text(page)).prose.filter { $0.hasPrefix("#") }.map(anchor))
    }

    @Test("every relative link in README.md and docs/ leads to a file that exists, and to a heading in it")
    func links() throws {
        let link = /\]\(([^)\s]+)\)/
        var checked = 0
        for page in try Self.pages() {
            let directory = (page as NSString).deletingLastPathComponent
            for line in Self.split(try Self.text(page)).prose {
                // Inside `code` a "](" is text (a regular expression in the reference), never a link.
                for match in line.replacing(/`[^`]*`/, with: "").matches(of: link) {
                    let target = String(match.output.1)
                    if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") {
                        continue
                    }
                    let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                    let file =
                        parts[0].isEmpty
                        ? page
                        : ((directory as NSString).appendingPathComponent(String(parts[0])) as NSString)
                            .standardizingPath
                    checked += 1
                    #expect(
                        FileManager.default.fileExists(atPath: Self.root + "/" + file), "\(page): \(target): no \(file)"
                    )
                    if parts.count == 2, file.hasSuffix(".md") {
                        #expect(
                            try Self.anchors(file).contains(String(parts[1])),
                            "\(page): \(target): \(file) has no heading #\(parts[1])")
                    }
                }
            }
        }
        #expect(checked >= 40, "only \(checked) links")
    }

    /// A command line as a shell would split it, for the commands the docs show: quotes kept together, a comment,
    /// a pipe or a redirection ending it, `\` joining lines, `$VAR` standing for a word.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var word = ""
        var quote: Character?
        var started = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
                continue
            }
            switch c {
            case "'", "\"":
                quote = c
                started = true
            case " ", "\t":
                if started { words.append(word) }
                word = ""
                started = false
            case "#" where !started, "|", ">", "<", ";", "&": return started ? words + [word] : words
            default:
                word.append(c)
                started = true
            }
        }
        return started ? words + [word] : words
    }

    @Test("every mirrorsync command line in README.md and docs/ parses against the current commands")
    func commandLines() throws {
        var parsed = 0
        for page in try Self.pages() {
            var pending = ""
            for (line, shell) in Self.split(try Self.text(page)).code {
                var text = pending + line.trimmingCharacters(in: .whitespaces)
                pending = ""
                if text.hasSuffix("\\") {
                    pending = String(text.dropLast()) + " "
                    continue
                }
                // In a shell's block every line is a command; elsewhere only those after a prompt (the rest is output).
                if text.hasPrefix("$ ") { text.removeFirst(2) } else if !shell { continue }
                guard text.hasPrefix("mirrorsync ") else { continue }
                let arguments = Array(Self.words(text).dropFirst())
                parsed += 1
                do { _ = try MirrorsyncCommand.parseAsRoot(arguments) } catch {
                    // --help and --version end the parse, successfully.
                    if MirrorsyncCommand.exitCode(for: error) == .success { continue }
                    Issue.record("\(page): `\(text)` does not parse: \(MirrorsyncCommand.message(for: error))")
                }
            }
        }
        #expect(parsed > 20, "only \(parsed) command lines")
    }

    @Test("docs/configuration.md holds, between its markers, what `mirrorsync schema --reference` prints")
    func configurationReference() throws {
        let text = try Self.text("docs/configuration.md")
        let begin = try #require(
            text.firstRange(of: ConfigReference.begin + "\n"),
            "no line \(ConfigReference.begin) in docs/configuration.md")
        let end = try #require(
            text[begin.upperBound...].firstRange(of: ConfigReference.end + "\n"),
            "no line \(ConfigReference.end) after the first marker in docs/configuration.md")
        #expect(
            String(text[begin.upperBound..<end.lowerBound]) == ConfigSchema.reference,
            "the reference in docs/configuration.md is stale: run `make schema`")
    }
}
