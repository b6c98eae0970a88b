import Foundation
import Testing
@testable import MirrorCLI
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// The built `mirrorsync` binary sits beside the test bundle in the build folder.
enum Binary {
    static let path = builtProduct("mirrorsync")

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Runs the binary to its end off the cooperative pool, so that waiting for it never holds up the tasks of
    /// agents running in this process.
    static func run(_ arguments: [String], environment: [String: String] = ["NO_COLOR": "1"]) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try await runProgram(path, arguments, in: repositoryRoot, environment: environment)
    }
}

@Suite("mirrorsync validate")
struct ValidateCommandTests {
    static let brokenDirectory: String = {
        let path = NSTemporaryDirectory() + "mirrorsync-cli-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try? "projects:\n  linux:\n    upstream: kernel-org\n    intervall: hourly\n".write(
            toFile: path + "/20-projects.yaml", atomically: true, encoding: .utf8)
        return path
    }()

    @Test("the shipped mirrors.d validates: exit 0 and a one-line summary")
    func validExample() async throws {
        let result = try await Binary.run(["validate", "mirrors.d"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("mirrors.d: valid: "))
        #expect(result.stderr.isEmpty)
    }

    @Test("DIR defaults to mirrors.d")
    func defaultDirectory() async throws {
        #expect(try await Binary.run(["validate"]).stdout.hasPrefix("mirrors.d: valid: "))
    }

    @Test("an invalid directory: exit 1, compiler-style errors on stderr, nothing on stdout")
    func invalid() async throws {
        let result = try await Binary.run(["validate", Self.brokenDirectory])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(
            lines.contains(
                "\(Self.brokenDirectory)/20-projects.yaml:4:5: error: unknown key 'intervall' in project 'linux'; did you mean 'interval'?"
            ))
        #expect(
            lines.contains(
                "\(Self.brokenDirectory): error: no file defines 'master'; the desired state needs one master (api, tokenFile, root)"
            ))
        // The misspelt key is one error, not also a missing 'interval'.
        #expect(!result.stderr.contains("has no 'interval'"))
        #expect(lines.last == "\(Self.brokenDirectory): invalid: 2 errors; nothing would be applied")
    }

    @Test("--output json reports the same findings with stable fields")
    func json() async throws {
        let result = try await Binary.run(["validate", Self.brokenDirectory, "--output", "json"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["formatVersion"] as? Int == 1)
        #expect(object["valid"] as? Bool == false)
        #expect(object["errors"] as? Int == 2)
        let diagnostics = try #require(object["diagnostics"] as? [[String: Any]])
        let unknown = try #require(diagnostics.first { $0["code"] as? String == "unknown-key" })
        #expect(
            unknown["line"] as? Int == 4 && unknown["column"] as? Int == 5 && unknown["severity"] as? String == "error")

        let valid = try await Binary.run(["validate", "mirrors.d", "-o", "json"])
        let ok = try #require(try JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [String: Any])
        #expect(ok["valid"] as? Bool == true)
        #expect((ok["counts"] as? [String: Int])?["projects"] ?? 0 >= 12)
    }

    @Test("a missing directory is one clear line and exit 1")
    func missingDirectory() async throws {
        let result = try await Binary.run(["validate", "/nonexistent/mirrors.d"])
        #expect(result.status == 1)
        #expect(
            result.stderr.hasPrefix("/nonexistent/mirrors.d: error: cannot read the desired state: no such directory\n")
        )
    }

    @Test("a bad flag is a usage error, and --help explains the command")
    func usage() async throws {
        let bad = try await Binary.run(["validate", "--output", "yaml"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("yaml"))
        let help = try await Binary.run(["validate", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("Exit status: 0 when the desired state is valid, 1 when it is not."))
        #expect(try await Binary.run(["--help"]).stdout.contains("validate"))
    }

    @Test("colour appears only when asked for by a terminal, and names the severity")
    func color() {
        let d = Diagnostic(file: "a.yaml", line: 1, column: 2, code: "x", message: "boom")
        #expect(Terminal.colored(d, color: false) == "a.yaml:1:2: error: boom")
        #expect(Terminal.colored(d, color: true).contains("\u{1B}[1;31merror:\u{1B}[0m"))
    }
}

@Suite("mirrorsync master and slave: start-up errors")
struct AgentStartupTests {
    let scratch = NSTemporaryDirectory() + "mirrorsync-startup-\(UUID().uuidString.prefix(8))"

    func tokenFile(mode: mode_t) throws -> String {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let path = scratch + "/token-\(mode)"
        try "secret-token".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test(
        "a world-readable or missing token file, a state directory that cannot be made, an allowance that allows nothing: one line and exit 1"
    )
    func badFiles() async throws {
        let open = try await Binary.run([
            "master", "--token-file", try tokenFile(mode: 0o644), "--state-dir", scratch + "/state",
        ])
        #expect(open.status == 1)
        #expect(
            open.stderr
                == "mirrorsync master: error: the token file \(scratch)/token-420 is readable by every user (mode 644); run: chmod 600 \(scratch)/token-420\n"
        )
        #expect(!open.stderr.contains("secret-token"))
        let missing = try await Binary.run([
            "slave", "--name", "ftp1", "--token-file", scratch + "/nope", "--state-dir", scratch + "/state",
        ])
        #expect(
            missing.status == 1
                && missing.stderr.hasPrefix(
                    "mirrorsync slave: error: cannot read the token file \(scratch)/nope: No such file or directory")
        )
        let noDir = try await Binary.run([
            "master", "--token-file", try tokenFile(mode: 0o600), "--state-dir", "/proc/mirrorsync/state",
        ])
        #expect(noDir.status == 1 && noDir.stderr.contains("cannot create the state directory /proc/mirrorsync/state"))
        let uselessRoot = try await Binary.run([
            "master", "--token-file", try tokenFile(mode: 0o600), "--state-dir", scratch + "/state",
            "--allow-root", "/srv/mirror", "--allow-root", "/etc/mirror",
        ])
        #expect(uselessRoot.status == 1)
        #expect(
            uselessRoot.stderr
                == "mirrorsync master: error: --allow-root /etc/mirror would allow nothing: it is inside the system directory /etc\n"
        )
        let uselessUpstream = try await Binary.run([
            "slave", "--name", "ftp1", "--token-file", try tokenFile(mode: 0o600), "--state-dir", scratch + "/state",
            "--allow-local-upstream", scratch + "/state/x",
        ])
        #expect(uselessUpstream.status == 1)
        #expect(
            uselessUpstream.stderr.hasPrefix(
                "mirrorsync slave: error: --allow-local-upstream \(scratch)/state/x would allow nothing: it is inside the agent's state directory"
            ))
        #expect(
            try await Binary.run(["slave", "--name", "Bad Name", "--token-file", "x", "--state-dir", "y"]).status == 64)
        #expect(
            try await Binary.run(["master", "--listen", "nowhere", "--token-file", "x", "--state-dir", "y"]).status
                == 64)
    }

    @Test("a port already in use: one line and exit 1")
    func portInUse() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let result = try await Binary.run([
            "master", "--listen", "127.0.0.1:\(port)", "--token-file", try tokenFile(mode: 0o600),
            "--state-dir", scratch + "/state", "--log-level", "error",
        ])
        #expect(result.status == 1)
        #expect(
            result.stderr.hasSuffix(
                "mirrorsync master: error: cannot listen on 127.0.0.1:\(port): the address is already in use\n"))
    }
}
