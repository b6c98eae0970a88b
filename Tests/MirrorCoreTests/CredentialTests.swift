import Foundation
import Testing
@testable import MirrorCore
import MirrorTestSupport

@Suite("Credentials: SHA-256, HMAC and accept files")
struct CredentialTests {
    @Test("SHA-256 agrees with sha256sum on lengths around the block's edges; HMAC with RFC 4231's vectors")
    func digests() async throws {
        let scratch = Scratch("sha256")
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let file = scratch.path + "/\(length)"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let result = try await runProgram("/usr/bin/sha256sum", [file])
            #expect(String(result.stdout.prefix(64)) == SHA256.hex(SHA256.hash(bytes)), "length \(length)")
        }
        // RFC 4231, test cases 1 and 2.
        #expect(
            SHA256.hex(SHA256.hmac(key: [UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            SHA256.hex(SHA256.hmac(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("an accept file gives each token its role; a wrong line is refused, naming the file, the line and why")
    func acceptFile() throws {
        let lines = [
            CredentialVerifier(role: .operator, token: "op").line,
            CredentialVerifier(role: .slave("www"), token: "w").line,
            CredentialVerifier(role: .master, token: "m").line,
        ]
        let accepted = try AcceptedCredentials.parse(
            "# comment\n\n" + lines.joined(separator: "\n") + "\n", file: "acc")
        #expect(accepted.role(of: "op") == .operator)
        #expect(accepted.role(of: "w") == .slave("www"))
        #expect(accepted.role(of: "m") == .master)
        #expect(accepted.role(of: "other") == nil)
        #expect(!accepted.acceptsShared && accepted.slaves.map(\.name) == ["www"])
        #expect(lines[1].hasPrefix("slave www sha256:") && lines[1].count == "slave www sha256:".count + 64)

        func refusal(_ text: String) -> String? {
            do {
                _ = try AcceptedCredentials.parse(text, file: "acc")
                return nil
            } catch { return error.message }
        }
        #expect(refusal("operator sha256:abc")?.hasPrefix("acc:1: a line is ROLE [NAME] sha256:HEX") == true)
        #expect(
            refusal("\nroot sha256:" + String(repeating: "a", count: 64))?.hasPrefix(
                "acc:2: a credential is for operator, master") == true)
        #expect(
            refusal("slave ../x sha256:" + String(repeating: "a", count: 64))?.hasPrefix("acc:1: slave:../x") == true)
        #expect(refusal(lines[1] + "\n" + lines[1])?.contains("acc:2: slave www has a line already (line 1)") == true)

        // A rotated slave's line takes the place of its old one; the other lines stay.
        let rotated = CredentialVerifier(role: .slave("www"), token: "w2")
        let text = AcceptedCredentials.replacing(lines.joined(separator: "\n") + "\n", with: rotated)
        let after = try AcceptedCredentials.parse(text, file: "acc")
        #expect(
            after.role(of: "w") == nil && after.role(of: "w2") == .slave("www") && after.role(of: "op") == .operator
                && after.role(of: "m") == .master)
    }

    @Test(
        "validate warns of a shared token in the accept file beside master.tokenFile, saying what to do; scoped, it says nothing"
    )
    func sharedTokenWarning() throws {
        let scratch = Scratch("shared-token")
        let state = DesiredState(
            master: MasterSpec(api: "http://127.0.0.1:7070", tokenFile: scratch.path + "/token", root: "/srv/mirror"))
        #expect(SharedTokenCheck.diagnostics(state).isEmpty)
        let file = scratch.path + "/accepted"
        try (CredentialVerifier(role: .shared, token: "t").line + "\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o640)
        let warning = try #require(SharedTokenCheck.diagnostics(state).first)
        #expect(warning.severity == .warning && warning.code == "shared-token" && warning.file == file)
        #expect(
            warning.message.contains("mirrorsync credential token")
                && warning.message.contains("delete the 'shared' line"))
        try (CredentialVerifier(role: .operator, token: "t").line + "\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        #expect(SharedTokenCheck.diagnostics(state).isEmpty)
    }
}
