import Foundation
import Testing
@testable import MirrorCLI
import MirrorCore

/// The built `mirrorsync` binary sits beside the test bundle in the build folder.
enum Binary {
    static let path: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("mirrorsync").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/mirrorsync"
    }()

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Runs the binary; the outputs here are small, so reading them after exit cannot stall it.
    static func run(_ arguments: [String], environment: [String: String] = ["NO_COLOR": "1"]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

@Suite("mirrorsync validate")
struct ValidateCommandTests {
    static let brokenDirectory: String = {
        let path = NSTemporaryDirectory() + "mirrorsync-cli-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try? "projects:\n  linux:\n    upstream: kernel-org\n    intervall: hourly\n".write(toFile: path + "/20-projects.yaml", atomically: true, encoding: .utf8)
        return path
    }()

    @Test("the shipped mirrors.d validates: exit 0 and a one-line summary")
    func validExample() throws {
        let result = try Binary.run(["validate", "mirrors.d"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("mirrors.d: valid: "))
        #expect(result.stderr.isEmpty)
    }

    @Test("DIR defaults to mirrors.d")
    func defaultDirectory() throws {
        #expect(try Binary.run(["validate"]).stdout.hasPrefix("mirrors.d: valid: "))
    }

    @Test("an invalid directory: exit 1, compiler-style errors on stderr, nothing on stdout")
    func invalid() throws {
        let result = try Binary.run(["validate", Self.brokenDirectory])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(Self.brokenDirectory)/20-projects.yaml:4:5: error: unknown key 'intervall' in project 'linux'; did you mean 'interval'?"))
        #expect(lines.contains("\(Self.brokenDirectory): error: no file defines 'master'; the desired state needs one master (api, tokenFile, root)"))
        // The misspelt key is one error, not also a missing 'interval'.
        #expect(!result.stderr.contains("has no 'interval'"))
        #expect(lines.last == "\(Self.brokenDirectory): invalid: 2 errors; nothing would be applied")
    }

    @Test("--output json reports the same findings with stable fields")
    func json() throws {
        let result = try Binary.run(["validate", Self.brokenDirectory, "--output", "json"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["formatVersion"] as? Int == 1)
        #expect(object["valid"] as? Bool == false)
        #expect(object["errors"] as? Int == 2)
        let diagnostics = try #require(object["diagnostics"] as? [[String: Any]])
        let unknown = try #require(diagnostics.first { $0["code"] as? String == "unknown-key" })
        #expect(unknown["line"] as? Int == 4 && unknown["column"] as? Int == 5 && unknown["severity"] as? String == "error")

        let valid = try Binary.run(["validate", "mirrors.d", "-o", "json"])
        let ok = try #require(try JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [String: Any])
        #expect(ok["valid"] as? Bool == true)
        #expect((ok["counts"] as? [String: Int])?["projects"] ?? 0 >= 12)
    }

    @Test("a missing directory is one clear line and exit 1")
    func missingDirectory() throws {
        let result = try Binary.run(["validate", "/nonexistent/mirrors.d"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("/nonexistent/mirrors.d: error: cannot read the desired state: no such directory\n"))
    }

    @Test("a bad flag is a usage error, and --help explains the command")
    func usage() throws {
        let bad = try Binary.run(["validate", "--output", "yaml"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("yaml"))
        let help = try Binary.run(["validate", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("Exit status: 0 when the desired state is valid, 1 when it is not."))
        #expect(try Binary.run(["--help"]).stdout.contains("validate"))
    }

    @Test("colour appears only when asked for by a terminal, and names the severity")
    func color() {
        let d = Diagnostic(file: "a.yaml", line: 1, column: 2, code: "x", message: "boom")
        #expect(Terminal.colored(d, color: false) == "a.yaml:1:2: error: boom")
        #expect(Terminal.colored(d, color: true).contains("\u{1B}[1;31merror:\u{1B}[0m"))
    }
}
