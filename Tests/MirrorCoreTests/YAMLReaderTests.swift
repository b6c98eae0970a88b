import Testing
@testable import MirrorCore

@Suite("The YAML reader")
struct YAMLReaderTests {
    func read(_ text: String, limits: YAMLReader.Limits = .init()) -> YAMLReader.Result {
        YAMLReader(limits: limits).read(Array(text.utf8), file: "t.yaml")
    }

    func entries(_ node: YAMLNode?) -> [YAMLEntry] {
        if case .mapping(let e)? = node?.content { return e }
        return []
    }

    @Test("every node knows its file, line and column, counted from 1")
    func marks() throws {
        let result = read("projects:\n  linux:\n    path: kernel\n")
        #expect(result.diagnostics.isEmpty)
        let projects = try #require(entries(result.root).first)
        #expect(projects.keyMark == SourceMark(file: "t.yaml", line: 1, column: 1))
        let linux = try #require(entries(projects.value).first)
        #expect(linux.keyMark == SourceMark(file: "t.yaml", line: 2, column: 3))
        let path = try #require(entries(linux.value).first)
        #expect(path.keyMark.line == 3 && path.keyMark.column == 5)
        #expect(path.value.mark.line == 3 && path.value.mark.column == 11)
        #expect(path.value.scalar == YAMLScalar("kernel"))
    }

    @Test("YAML 1.1 surprises stay text as written, with their quoting style kept")
    func scalarsAreText() {
        let result = read("a: no\nb: on\nc: 1.10\nd: 0777\ne: 'yes'\nf: ~\n")
        let values = entries(result.root).map { $0.value.scalar! }
        #expect(values.map(\.text) == ["no", "on", "1.10", "0777", "yes", "~"])
        #expect(values[4].style == .singleQuoted)
        #expect(values[5].isNull && !values[0].isNull)
    }

    @Test("anchors and aliases expand, and << merges keys without overriding explicit ones")
    func anchorsAndMerges() throws {
        let result = read(
            """
            base: &b { upstream: up, interval: hourly }
            p:
              interval: nightly
              <<: *b
            """)
        #expect(result.diagnostics.isEmpty)
        let p = try #require(entries(result.root).last)
        let keys = entries(p.value).map { "\($0.key)=\($0.value.scalar!.text)" }
        #expect(keys == ["interval=nightly", "upstream=up"])
    }

    @Test("a billion laughs file is refused at the cap, not expanded")
    func billionLaughs() {
        var text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let name = String(UnicodeScalar(UInt8(97 + level)))
            let previous = String(UnicodeScalar(UInt8(96 + level)))
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        let result = read(text, limits: .init(maxAliasExpansion: 10_000))
        #expect(result.root == nil)
        #expect(result.diagnostics.map(\.code) == ["yaml-alias-expansion"])
        #expect(result.diagnostics.first?.line == 4)  // b and c add 1,220 nodes; the tenth *c of d passes 10,000
    }

    @Test("a duplicate key is an error naming both lines, in small and large mappings")
    func duplicateKeys() {
        for count in [3, 40] {
            var text = (0..<count).map { "k\($0): v\n" }.joined()
            text += "k1: again\n"
            let result = read(text)
            #expect(result.diagnostics.count == 1)
            let d = result.diagnostics.first
            #expect(d?.line == count + 1 && d?.column == 1)
            #expect(d?.message.contains("first given at line 2, column 1") == true)
        }
    }

    @Test("a second document is an error at its start")
    func multipleDocuments() {
        let result = read("a: 1\n---\nb: 2\n")
        #expect(result.root == nil)
        #expect(result.diagnostics.first?.code == "yaml-multiple-documents")
        #expect(result.diagnostics.first?.line == 2)
    }

    @Test("tags are refused, plain and custom")
    func tags() {
        #expect(read("a: !!int 3\n").diagnostics.map(\.code) == ["yaml-tag"])
        #expect(read("a: !secret x\n").diagnostics.first?.message.contains("!secret") == true)
        #expect(read("a: !!map {}\n").diagnostics.map(\.code) == ["yaml-tag"])
    }

    @Test("bytes that are not UTF-8 are refused with the place of the bad byte")
    func invalidUTF8() {
        let bytes = Array("a: ok\nb: x".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        let result = YAMLReader().read(bytes, file: "t.yaml")
        #expect(result.root == nil)
        #expect(result.diagnostics.first?.code == "yaml-encoding")
        #expect(result.diagnostics.first?.line == 2)
    }

    @Test("an empty file, or one of comments only, is an error; an explicit null document is a null root")
    func emptyInputs() {
        for text in ["", "\n\n", "# nothing here\n"] {
            #expect(read(text).diagnostics.map(\.code) == ["yaml-empty"], "\(text.debugDescription)")
        }
        #expect(read("---\n").root?.scalar?.isNull == true)
    }

    @Test("syntax errors carry libyaml's place, converted to count from 1")
    func syntaxError() {
        let result = read("a:\n  b: c\n d: e\n")
        #expect(result.root == nil)
        let d = result.diagnostics.first
        #expect(d?.code == "yaml-syntax")
        #expect(d?.line == 3 && d?.column == 2)
    }

    @Test("nesting deeper than the limit is refused")
    func depth() {
        let text = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(read(text, limits: .init(maxDepth: 5)).diagnostics.map(\.code) == ["yaml-depth"])
        #expect(read(text, limits: .init(maxDepth: 10)).diagnostics.isEmpty)
    }

    @Test("an alias to an anchor not yet defined, including itself, is refused")
    func unknownAlias() {
        #expect(read("a: *x\n").diagnostics.map(\.code) == ["yaml-alias"])
        #expect(read("a: &x [*x]\n").diagnostics.map(\.code) == ["yaml-alias"])
    }

    @Test("inputs over the size limit are refused before parsing")
    func sizeLimit() {
        let result = read(String(repeating: "a", count: 100), limits: .init(maxBytes: 10))
        #expect(result.root == nil && result.diagnostics.map(\.code) == ["yaml-too-large"])
    }
}
