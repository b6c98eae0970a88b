import Foundation
import MirrorTestSupport
import Testing

@Suite("mirrorsync init (the built binary)")
struct InitCommandTests {
    @Test("init writes a starter that validate passes, with absolute paths; a second init writes nothing and exits 1")
    func initThenValidate() async throws {
        let scratch = Scratch("init-cli")
        let directory = scratch.path + "/site/mirrors.d"
        let made = try await Binary.run([
            "init", directory, "--state-dir", scratch.path + "/state", "--root", scratch.path + "/m",
            "--public-dir", scratch.path + "/p",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("wrote \(directory)/00-master.yaml\n"))
        #expect(made.stdout.contains("mirrorsync up \(directory)"))
        let checked = try await Binary.run(["validate", directory])
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stderr.isEmpty, "a starter should validate without a warning: \(checked.stderr)")
        #expect(
            checked.stdout.contains("valid: 1 project, 1 slave, 1 upstream, 1 interval in 5 files\n"),
            "\(checked.stdout)")
        let master = try String(contentsOfFile: directory + "/00-master.yaml", encoding: .utf8)
        #expect(master.contains("tokenFile: \"\(scratch.path)/state/token\""))
        #expect(master.contains("root: \"\(scratch.path)/m\""))

        let before = try String(contentsOfFile: directory + "/40-projects.yaml", encoding: .utf8)
        let again = try await Binary.run(["init", directory])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exist; init writes nothing over a file"), "\(again.stderr)")
        #expect(try String(contentsOfFile: directory + "/40-projects.yaml", encoding: .utf8) == before)
    }
}
