import Foundation
import Testing
@testable import MirrorCLI
import MirrorCore
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// `validate` says offline what an agent's `--allow-exec` would say of the hooks' programs, and the binary's agents
/// refuse to start with a directory the rule refuses; `up --allow-exec` hands the flag on.
@Suite("mirrorsync validate --allow-exec, the agents' --allow-exec and up's")
struct ValidateExecTests {
    static func site(_ scratch: Scratch, hook: String) throws -> String {
        let directory = scratch.sub("mirrors.d")
        try """
        master: { api: "http://127.0.0.1:7070", tokenFile: /etc/mirrorsync/token, root: \(scratch.path)/root }
        intervals: { hourly: { every: 1h } }
        upstreams: { up: { url: "rsync://rsync.example.org/pub/" } }
        projects:
          p: { upstream: up, interval: hourly, hooks: { onSuccess: [\(hook), x] } }
        """.write(toFile: directory + "/site.yaml", atomically: true, encoding: .utf8)
        return directory
    }

    @Test(
        "without the flag each hook's program is a warning naming it; with it, a program the agent would refuse is an error at the project"
    )
    func validate() throws {
        let scratch = Scratch("validate-exec")
        chmod(scratch.path, 0o755)
        let hooks = scratch.sub("hooks")
        let program = hooks + "/notify"
        try "#!/bin/sh\n".write(toFile: program, atomically: true, encoding: .utf8)
        chmod(program, 0o755)
        let shell = try Self.site(scratch, hook: "/bin/sh")
        let unchecked = ValidationReport(directory: shell)
        #expect(
            unchecked.isValid && unchecked.diagnostics.map(\.code) == ["exec-unchecked"], "\(unchecked.diagnostics)")
        #expect(
            unchecked.diagnostics.first?.message.contains("/bin/sh") == true
                && unchecked.diagnostics.first?.message.contains("--allow-exec") == true)
        let refused = ValidationReport(directory: shell, allowExec: [hooks])
        #expect(!refused.isValid && refused.diagnostics.map(\.code) == ["forbidden-exec"], "\(refused.diagnostics)")
        #expect(
            refused.diagnostics.first?.line == 5
                && refused.diagnostics.first?.message.contains("program '/bin/sh' is refused") == true
                && refused.diagnostics.first?.message.contains("--allow-exec \(hooks)") == true)
        let other = Scratch("validate-exec-ok")
        let allowed = ValidationReport(directory: try Self.site(other, hook: program), allowExec: [hooks])
        #expect(allowed.isValid && allowed.diagnostics.isEmpty, "\(allowed.diagnostics)")
        chmod(hooks, 0o777)
        let open = ValidationReport(directory: shell, allowExec: [hooks])
        #expect(
            !open.isValid
                && open.diagnostics.first?.message
                    == "--allow-exec \(hooks) is refused: it is writable by group or others (mode 777); run: chmod go-w \(hooks)"
        )
    }

    @Test("the binary: an agent given a group-writable --allow-exec says so in one line and exits 1")
    func agentRefusesToStart() async throws {
        let scratch = Scratch("exec-binary")
        chmod(scratch.path, 0o755)
        let hooks = scratch.sub("hooks")
        chmod(hooks, 0o775)
        let token = scratch.path + "/token"
        try "t-\(UUID().uuidString)".write(toFile: token, atomically: true, encoding: .utf8)
        chmod(token, 0o600)
        let result = try await Binary.run([
            "master", "--token-file", token, "--state-dir", scratch.path + "/state", "--allow-exec", hooks,
        ])
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "mirrorsync master: error: --allow-exec \(hooks) is refused: it is writable by group or others (mode 775); run: chmod go-w \(hooks)\n"
        )
    }
}
