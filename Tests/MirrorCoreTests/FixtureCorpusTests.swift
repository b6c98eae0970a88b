import Foundation
import Testing
@testable import MirrorCore

@Suite("The fixture corpus")
struct FixtureCorpusTests {
    static let invalid = Corpus.names(in: "invalid")
    static let valid = Corpus.names(in: "valid")
    static let invalidDirectories = Corpus.names(in: "invalid-dirs", suffix: "")
    static let validDirectories = Corpus.names(in: "valid-dirs", suffix: "")

    @Test("the negative corpus holds at least 40 broken or hostile configs")
    func corpusSize() {
        #expect(Self.invalid.count + Self.invalidDirectories.count >= 40)
        #expect(Self.valid.count >= 5)
    }

    @Test("each negative fixture is rejected with exactly its errors, where they are", arguments: invalid)
    func negative(_ name: String) {
        let fixture = Corpus.fixture("invalid/" + name)
        #expect(!fixture.expectations.isEmpty, "fixture \(name) states no expectation")
        switch Corpus.load(fixture) {
        case .success:
            Issue.record("\(name) loaded; expected \(fixture.expectations)")
        case .failure(let error):
            let errors = error.errors
            #expect(errors.count == fixture.expectations.count, "\(name): got\n\(error)")
            for (diagnostic, expectation) in zip(errors, fixture.expectations) {
                #expect(diagnostic.file == name, "\(diagnostic)")
                #expect(expectation.matches(diagnostic), "\(name): expected \(expectation), got \(diagnostic)")
            }
        }
    }

    @Test("each positive fixture loads without an error", arguments: valid)
    func positive(_ name: String) throws {
        let fixture = Corpus.fixture("valid/" + name)
        let loaded = try Corpus.load(fixture).get()
        #expect(!loaded.state.projects.isEmpty || name.contains("null"))
    }

    @Test(
        "each broken directory is rejected with its errors, and yields no desired state", arguments: invalidDirectories)
    func negativeDirectory(_ name: String) throws {
        let directory = Corpus.root + "/invalid-dirs/" + name
        let expected = try String(contentsOfFile: directory + "/expect.txt", encoding: .utf8)
            .split(separator: "\n").map { Corpus.Expectation(String($0), withFile: true) }
        do {
            let loaded = try DesiredStateLoader().load(directory: directory)
            Issue.record("\(name) loaded \(loaded.state.projects.count) projects; expected \(expected)")
        } catch {
            #expect(error.errors.count == expected.count, "\(error)")
            for (diagnostic, expectation) in zip(error.errors, expected) {
                let file = expectation.file == "." ? directory : directory + "/" + (expectation.file ?? "")
                #expect(diagnostic.file == file, "\(diagnostic)")
                #expect(expectation.matches(diagnostic), "expected \(expectation), got \(diagnostic)")
            }
        }
    }

    @Test("each good directory loads, reading only its config files", arguments: validDirectories)
    func positiveDirectory(_ name: String) throws {
        let directory = Corpus.root + "/valid-dirs/" + name
        let loaded = try DesiredStateLoader().load(directory: directory)
        let names = loaded.state.files.map { ($0 as NSString).lastPathComponent }
        #expect(
            names.allSatisfy {
                !$0.hasPrefix(".") && !$0.hasPrefix("#") && !$0.hasSuffix("~")
                    && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml"))
            })
        #expect(names == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
    }

    @Test("the shipped mirrors.d is valid and warns about nothing")
    func shippedExample() throws {
        let loaded = try DesiredStateLoader().load(directory: Corpus.repositoryRoot + "/mirrors.d")
        #expect(loaded.state.projects.count >= 12)
        #expect(loaded.state.slaves.count >= 2)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
    }
}
