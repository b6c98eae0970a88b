import Foundation
import Testing
@testable import MirrorCore

@Suite("Loading mirrors.d")
struct LoaderTests {
    /// A scratch directory of config files, removed when the test ends.
    final class Scratch {
        let path: String
        init(_ files: [String: String]) throws {
            path = NSTemporaryDirectory() + "mirrorsync-loader-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for (name, text) in files { try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8) }
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static let site = """
        master: { api: "http://127.0.0.1:7070", tokenFile: /etc/mirrorsync/token, root: /srv/mirror }
        intervals: { hourly: { every: 1h } }
        upstreams: { kernel-org: { url: "rsync://rsync.kernel.org/pub/" } }
        slaves: { ftp1: { api: "http://127.0.0.1:7071", publicDir: /srv/ftp } }

        """

    @Test("reordered keys, other formatting and defaults spelled out give the same desired state")
    func equivalentSpellings() throws {
        let terse = try Scratch([
            "a.yaml": Self.site + """
                projects:
                  linux: { upstream: kernel-org, interval: hourly, source: linux/ }
                """
        ])
        let verbose = try Scratch([
            "b.yaml": """
            projects:
              linux:
                suspended: false
                maxDelete: 10%
                slaves: all
                interval: "hourly"
                path: linux/
                source: 'linux'
                upstream: kernel-org
                exclude: []
            """,
            "a.yaml": """
            upstreams:
              kernel-org:
                url: rsync://RSYNC.kernel.org/pub
                timeout: 6h
                ioTimeout: 600s
            intervals:
              hourly:
                every: 60m
            slaves:
              ftp1: { publicDir: /srv/ftp/, api: "http://127.0.0.1:7071/" }
            master:
              root: /srv/mirror/
              tokenFile: /etc/mirrorsync/token
              api: HTTP://127.0.0.1:7070
              rsyncd: { address: 0.0.0.0, port: 873 }
              maxConcurrentSyncs: 4
            """,
        ])
        let a = try DesiredStateLoader().load(directory: terse.path).state
        let b = try DesiredStateLoader().load(directory: verbose.path).state
        #expect(a.master == b.master)
        #expect(a.intervals == b.intervals)
        #expect(a.upstreams == b.upstreams)
        #expect(a.slaves == b.slaves)
        #expect(a.projects == b.projects)
    }

    @Test("one bad file among good ones means no desired state at all, and every error is reported")
    func allOrNothing() throws {
        let scratch = try Scratch([
            "00-site.yaml": Self.site,
            "10-good.yaml": "projects:\n  linux: { upstream: kernel-org, interval: hourly }\n",
            "20-bad.yaml":
                "projects:\n  gnu: { upstream: gnu-org, interval: hourly }\n  debian: { upstream: kernel-org, intervall: hourly }\n",
        ])
        #expect {
            try DesiredStateLoader().load(directory: scratch.path)
        } throws: { error in
            let errors = (error as! ConfigError).errors
            return errors.count == 2 && errors.allSatisfy { $0.file.hasSuffix("20-bad.yaml") }
                && errors.map(\.line) == [2, 3]
        }
    }

    @Test("a missing directory, a file instead of a directory, and an empty directory are each a clear error")
    func badDirectories() throws {
        let scratch = try Scratch(["notes.txt": "hello"])
        let cases: [(String, String)] = [
            (scratch.path + "/nope", "no such directory"),
            (scratch.path + "/notes.txt", "is not a directory"),
            (scratch.path, "holds no *.yaml or *.yml files"),
        ]
        for (path, words) in cases {
            #expect {
                try DesiredStateLoader().load(directory: path)
            } throws: { error in
                let d = (error as! ConfigError).diagnostics
                return d.count == 1 && d[0].file == path && d[0].message.contains(words)
            }
        }
    }

    @Test("an unreadable file is named with the system's reason")
    func unreadableFile() throws {
        let scratch = try Scratch(["00-site.yaml": Self.site])
        // A dangling link is listed like a file but cannot be opened, even by root.
        try FileManager.default.createSymbolicLink(
            atPath: scratch.path + "/10-gone.yaml", withDestinationPath: scratch.path + "/missing")
        #expect {
            try DesiredStateLoader().load(directory: scratch.path)
        } throws: { error in
            let d = (error as! ConfigError).errors
            return d.count == 1 && d[0].file.hasSuffix("10-gone.yaml") && d[0].message.contains("No such file")
        }
    }

    @Test(
        "loading again with the files decoded last gives what a fresh load gives: after an edit, an invalid edit, a file removed, added, unreadable and back"
    )
    func decodedFilesKept() throws {
        let scratch = try Scratch([
            "00-site.yaml": Self.site,
            "10-a.yaml": "projects:\n  linux: { upstream: kernel-org, interval: hourly }\n",
            "20-b.yaml": "projects:\n  gnu: { upstream: kernel-org, interval: hourly, exclude: [\"*.tmp\"] }\n",
        ])
        var kept = DesiredStateLoader()
        kept.decodedFiles = DecodedFiles()
        /// The kept loader and a fresh one agree: the same state and warnings, or the same errors.
        func agree(_ step: String) {
            let fresh = Result { () throws(ConfigError) in try DesiredStateLoader().load(directory: scratch.path) }
            let again = Result { () throws(ConfigError) in try kept.load(directory: scratch.path) }
            switch (fresh, again) {
            case (.success(let f), .success(let a)):
                #expect(f.state == a.state && f.warnings.map(\.description) == a.warnings.map(\.description), "\(step)")
            case (.failure(let f), .failure(let a)):
                #expect(f.diagnostics.map(\.description) == a.diagnostics.map(\.description), "\(step)")
            default:
                Issue.record("\(step): a fresh load gives \(fresh), the kept one \(again)")
            }
        }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: scratch.path + "/" + name, atomically: false, encoding: .utf8)
        }
        agree("first load")
        agree("nothing changed")
        try write("20-b.yaml", "projects:\n  gnu: { upstream: kernel-org, interval: hourly, exclude: [\"*.iso\"] }\n")
        agree("an edit")
        #expect(try kept.load(directory: scratch.path).state.projects["gnu"]?.exclude == ["*.iso"])
        try write("20-b.yaml", "projects:\n  gnu: { upstream: kernel-org, intervall: hourly }\n")
        agree("an invalid edit")
        try write("20-b.yaml", "projects:\n  gnu: { upstream: kernel-org, interval: hourly }\n")
        agree("mended")
        try FileManager.default.removeItem(atPath: scratch.path + "/10-a.yaml")
        agree("a file removed")
        #expect(try kept.load(directory: scratch.path).state.projects["linux"] == nil)
        try write("10-a.yaml", "projects:\n  linux: { upstream: kernel-org, interval: hourly, suspended: true }\n")
        agree("a file added")
        try FileManager.default.removeItem(atPath: scratch.path + "/10-a.yaml")
        try FileManager.default.createSymbolicLink(
            atPath: scratch.path + "/10-a.yaml", withDestinationPath: scratch.path + "/missing")
        agree("unreadable")
        try FileManager.default.removeItem(atPath: scratch.path + "/10-a.yaml")
        try write("10-a.yaml", "")
        agree("back, empty")
    }

    @Test("unused intervals, upstreams and slaves are warnings, not errors")
    func unusedWarnings() throws {
        let scratch = try Scratch(["a.yaml": Self.site + "projects: {}\n"])
        let loaded = try DesiredStateLoader().load(directory: scratch.path)
        #expect(
            Set(loaded.warnings.map(\.message)) == [
                "interval 'hourly' is not used by any project", "upstream 'kernel-org' is not used by any project",
                "slave 'ftp1' is not used by any project",
            ])
        #expect(loaded.warnings.allSatisfy { $0.severity == .warning })
    }

    @Test("the desired state says which slaves serve a project")
    func slavesServing() throws {
        let fixed = try Scratch([
            "a.yaml": Self.site.replacingOccurrences(
                of: "slaves: { ftp1: { api: \"http://127.0.0.1:7071\", publicDir: /srv/ftp } }",
                with:
                    "slaves: { ftp1: { api: \"http://127.0.0.1:7071\", publicDir: /srv/ftp }, ftp2: { api: \"http://127.0.0.1:7072\", publicDir: /srv/ftp } }"
            ) + """
                projects:
                  linux: { upstream: kernel-org, interval: hourly }
                  gnu: { upstream: kernel-org, interval: hourly, slaves: [ftp2] }
                  local-only: { upstream: kernel-org, interval: hourly, slaves: [] }
                """
        ])
        let state = try DesiredStateLoader().load(directory: fixed.path).state
        #expect(state.slaves(serving: state.projects["linux"]!) == ["ftp1", "ftp2"])
        #expect(state.slaves(serving: state.projects["gnu"]!) == ["ftp2"])
        #expect(state.slaves(serving: state.projects["local-only"]!) == [])
    }
}
