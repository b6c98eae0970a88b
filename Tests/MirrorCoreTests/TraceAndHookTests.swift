import Foundation
import Testing
@testable import MirrorCore

@Suite("Debian trace files and hooks (pure)")
struct TraceAndHookTests {
    @Test("the archive serial, the list of traces and what rsync must leave alone")
    func helpers() {
        #expect(
            DebianTrace.archiveSerial(
                inMasterTrace: "Tue Oct 27 06:46:34 UTC 2026\nDate: x\nArchive serial: 2026102701\n") == "2026102701")
        #expect(DebianTrace.archiveSerial(inMasterTrace: "Tue Oct 27 06:46:34 UTC 2026\nDate: x\n") == nil)
        let t = Date(timeIntervalSince1970: 0)
        #expect(
            DebianTrace.list(
                of: ["master", "_traces", "ftp1.example.org", "ftp1.example.org.new", "_hierarchy"].map { ($0, t) })
                == "master\nftp1.example.org\n")
    }

    @Test("hooks: an argv per event, the environment a hook gets, and the rules on its program")
    func hooks() throws {
        let spec = HookSpec(onSuccess: ["/usr/local/bin/reindex", "a b"], onFailure: ["/bin/mail", "root"])
        #expect(spec.argv(after: .success)?.argv == ["/usr/local/bin/reindex", "a b"])
        #expect(spec.argv(after: .warning)?.event == "onSuccess")
        #expect(spec.argv(after: .failed)?.event == "onFailure")
        #expect(spec.argv(after: .interrupted) == nil)
        #expect(HookSpec(onFailure: ["/bin/false"]).argv(after: .success) == nil)
        let env = HookSpec.environment(
            project: "linux", host: "ftp1", result: .failed, exitCode: 23, revision: nil,
            directory: "/srv/ftp/linux", log: "/var/lib/mirrorsync/hook-logs/linux.log")
        #expect(
            env == [
                "MIRRORSYNC_PROJECT": "linux", "MIRRORSYNC_HOST": "ftp1", "MIRRORSYNC_RESULT": "failed",
                "MIRRORSYNC_EXIT_CODE": "23", "MIRRORSYNC_REVISION": "", "MIRRORSYNC_DIR": "/srv/ftp/linux",
                "MIRRORSYNC_LOG": "/var/lib/mirrorsync/hook-logs/linux.log",
                "TUNASYNC_MIRROR_NAME": "linux", "TUNASYNC_WORKING_DIR": "/srv/ftp/linux", "TUNASYNC_UPSTREAM_URL": "",
                "TUNASYNC_LOG_DIR": "/var/lib/mirrorsync/hook-logs",
                "TUNASYNC_LOG_FILE": "/var/lib/mirrorsync/hook-logs/linux.log", "TUNASYNC_JOB_EXIT_STATUS": "failure",
            ])
        #expect(throws: ValueError.self) { try HookSpec.check(argv: []) }
        #expect(throws: ValueError.self) { try HookSpec.check(argv: ["reindex"]) }
        try HookSpec.check(argv: ["/bin/true"])
    }

    @Test(
        "mirrors.d: trace and hooks are read, and a hook that would need a shell or a search path is refused where it is written"
    )
    func decoding() throws {
        let ok = """
            linux: { upstream: up, interval: hourly, trace: true, hooks: { onSuccess: [/usr/bin/touch, /tmp/x], timeout: 30s } }
            """
        var decoder = SpecDecoder()
        let doc = try #require(YAMLReader().read(Array(ok.utf8), file: "p.yaml").root)
        let decoded = decoder.project(doc.entry("linux")!.value, name: "linux")
        let spec = try #require(decoded?.0)
        #expect(decoder.diagnostics.all.isEmpty)
        #expect(spec.trace == true)
        #expect(spec.hooks == HookSpec(onSuccess: ["/usr/bin/touch", "/tmp/x"], timeout: TimeSpan(seconds: 30)))

        let bad = """
            linux: { upstream: up, interval: hourly, hooks: { onSucess: [/bin/true], onFailure: ["mail root"] } }
            """
        var badDecoder = SpecDecoder()
        let badDoc = try #require(YAMLReader().read(Array(bad.utf8), file: "p.yaml").root)
        _ = badDecoder.project(badDoc.entry("linux")!.value, name: "linux")
        let messages = badDecoder.diagnostics.all.map(\.message)
        #expect(messages.contains { $0.contains("onSucess") && $0.contains("onSuccess") }, "\(messages)")
        #expect(messages.contains { $0.contains("onFailure") && $0.contains("not an absolute path") }, "\(messages)")
    }

    @Test(
        "defaults: a project that leaves hooks, trace or logRetention out takes the site's; one that writes them keeps its own; defined twice is an error"
    )
    func siteDefaults() throws {
        let site =
            LoaderTests.site + """
                defaults:
                  trace: false
                  hooks: { onFailure: [/usr/local/bin/page, admin], timeout: 1m }
                  logRetention: 200
                projects:
                  linux: { upstream: kernel-org, interval: hourly }
                  debian: { upstream: kernel-org, interval: hourly, trace: true, hooks: { onSuccess: [/bin/true] }, logRetention: 5 }
                """
        let scratch = try LoaderTests.Scratch(["site.yaml": site])
        let state = try DesiredStateLoader().load(directory: scratch.path).state
        #expect(state.projects["linux"]?.trace == false)
        #expect(
            state.projects["linux"]?.hooks
                == HookSpec(onFailure: ["/usr/local/bin/page", "admin"], timeout: TimeSpan(seconds: 60)))
        #expect(state.projects["linux"]?.logRetention == 200)
        #expect(state.projects["debian"]?.trace == true)
        #expect(state.projects["debian"]?.hooks == HookSpec(onSuccess: ["/bin/true"]))
        #expect(state.projects["debian"]?.logRetention == 5)

        // Out of range in defaults is refused where it is written, as in a project.
        let bad = try LoaderTests.Scratch(["site.yaml": LoaderTests.site + "defaults: { logRetention: 0 }\n"])
        #expect {
            try DesiredStateLoader().load(directory: bad.path)
        } throws: { error in
            let errors = (error as! ConfigError).errors
            return errors.count == 1 && errors[0].line == 5
                && errors[0].message.contains("logRetention: 0 is outside 1...10000")
        }

        let twice = try LoaderTests.Scratch(["a.yaml": site, "b.yaml": "defaults: { trace: true }\n"])
        #expect {
            try DesiredStateLoader().load(directory: twice.path)
        } throws: { error in
            "\(error)".contains("'defaults' is defined twice")
        }
    }
}
