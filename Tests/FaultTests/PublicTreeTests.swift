import Foundation
import MirrorCore
import MirrorTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// An apt-like archive: package files under pool/ and an index, dists/Packages, that names them.
struct Archive {
    /// Package number → the version of its content.
    var packages: [Int: Int]

    func path(_ number: Int) -> String { "pool/\(number % 10)/pkg\(number).deb" }

    /// Writes the packages and the index into `root`, removing the packages no longer in it.
    func write(to root: String, removing gone: [Int] = []) throws {
        for number in gone { try FileManager.default.removeItem(atPath: root + "/" + path(number)) }
        for (number, version) in packages {
            let file = root + "/" + path(number)
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number &+ version &* 13) }).write(
                to: URL(fileURLWithPath: file))
        }
        try FileManager.default.createDirectory(atPath: root + "/dists", withIntermediateDirectories: true)
        let index = packages.keys.sorted().map { "Filename: \(path($0))\n" }.joined()
        try Data(index.utf8).write(to: URL(fileURLWithPath: root + "/dists/Packages"))
    }
}

@Suite(
    "Faults across hosts: what a reader of a public tree sees during a pull", .serialized,
    .enabled(if: NetworkLab.unavailable == nil, Comment(rawValue: NetworkLab.unavailable ?? "")))
struct PublicTreeTests {
    @Test(
        "all through a pull that rewrites a third, deletes a tenth and adds new files: no file of both revisions is ever missing, and the index never names a file that is not there"
    )
    func readerDuringPull() async throws {
        let site = try LabSite(
            "lab-public", files: 0,
            project: """
                { upstream: up, source: linux, interval: hourly, slaves: all, twoStage: ["Packages*"] }
                """)
        var archive = Archive(packages: Dictionary(uniqueKeysWithValues: (0..<300).map { ($0, 1) }))
        try archive.write(to: site.upstream + "/linux")
        try await site.start()
        try await site.wait("served revision 1 on both slaves") { site.atRevision(1, slaves: ["a", "b"])($0) }

        // Revision 2: a third rewritten, a tenth deleted, 50 new.
        let kept = Set(0..<270)
        for number in 0..<100 { archive.packages[number] = 2 }
        for number in 270..<300 { archive.packages[number] = nil }
        for number in 300..<350 { archive.packages[number] = 2 }
        try archive.write(to: site.upstream + "/linux", removing: Array(270..<300))
        let both = kept.map { archive.path($0) } + ["dists/Packages"]
        try site.lab.throttle("b", rate: "8mbit")
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")

        let tree = site.publicTree("b")
        let added = (300..<350).map { archive.path($0) }
        var samples = 0
        var midPull = 0
        var consistent = 0
        var lastStatusAt = Date.distantPast
        var missing: [String] = []
        var unnamed: [String] = []
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            samples += 1
            let arrived = added.count { FileManager.default.fileExists(atPath: tree + "/" + $0) }
            let holding = (0..<10).contains { FileManager.default.fileExists(atPath: tree + "/pool/\($0)/.~tmp~") }
            if arrived < added.count && (arrived > 0 || holding) { midPull += 1 }
            missing += both.filter { !FileManager.default.fileExists(atPath: tree + "/" + $0) }
            // The index as a reader of it would use it: read, then its files checked, kept only if the index did not
            // change meanwhile (a reader that read the old index reads the old files).
            if let before = FileManager.default.contents(atPath: tree + "/dists/Packages") {
                let named = String(decoding: before, as: UTF8.self).split(separator: "\n").map {
                    String($0.dropFirst("Filename: ".count))
                }
                let absent = named.filter { !FileManager.default.fileExists(atPath: tree + "/" + $0) }
                if FileManager.default.contents(atPath: tree + "/dists/Packages") == before {
                    consistent += 1
                    unnamed += absent
                }
            }
            if Date().timeIntervalSince(lastStatusAt) > 0.5 {
                lastStatusAt = Date()
                if let status = try? await site.status(), site.atRevision(2, slaves: ["a", "b"])(status) { break }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(
            try Tree.snapshot(tree) == Tree.snapshot(site.upstream + "/linux"),
            "b did not end at revision 2\n\(site.logs())")
        #expect(midPull >= 5, "too few samples in the middle of the pull (\(midPull) of \(samples))")
        #expect(missing.isEmpty, "files of both revisions missing during the pull: \(Set(missing).sorted().prefix(10))")
        #expect(unnamed.isEmpty, "the index named files that were not there: \(Set(unnamed).sorted().prefix(10))")
        #expect(consistent > samples / 2)
    }

    @Test(
        "publish: atomic, the same pull: a reader that opens b's public path sees exactly revision 1 or revision 2 at every sample, never a mix"
    )
    func readerDuringAtomicPull() async throws {
        let site = try LabSite(
            "lab-atomic", files: 0,
            project: """
                { upstream: up, source: linux, interval: hourly, slaves: all, twoStage: ["Packages*"], publish: atomic }
                """)
        var archive = Archive(packages: Dictionary(uniqueKeysWithValues: (0..<300).map { ($0, 1) }))
        try archive.write(to: site.upstream + "/linux")
        try await site.start()
        try await site.wait("served revision 1 on both slaves") { site.atRevision(1, slaves: ["a", "b"])($0) }
        let revision1 = archive

        for number in 0..<100 { archive.packages[number] = 2 }
        for number in 270..<300 { archive.packages[number] = nil }
        for number in 300..<350 { archive.packages[number] = 2 }
        try archive.write(to: site.upstream + "/linux", removing: Array(270..<300))
        try site.lab.throttle("b", rate: "8mbit")
        _ = try await site.api("master", "POST", "/v1/projects/linux/sync")

        let views = [ReaderView(revision1), ReaderView(archive)]
        let tree = site.publicTree("b")
        var seen = [0, 0]
        var mixed: [String] = []
        var lastStatusAt = Date.distantPast
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            // A reader opens the path once and reads inside what it opened.
            if let view = ReaderView.read(URL(fileURLWithPath: tree).resolvingSymlinksInPath().path) {
                if let which = views.firstIndex(of: view) {
                    seen[which] += 1
                } else if mixed.count < 5 {
                    mixed.append(view.differences(from: views))
                }
            }
            if Date().timeIntervalSince(lastStatusAt) > 0.5 {
                lastStatusAt = Date()
                if let status = try? await site.status(), site.atRevision(2, slaves: ["a", "b"])(status) { break }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(mixed.isEmpty, "a reader saw a tree that is neither revision: \(mixed)")
        #expect(seen[0] >= 5, "too few samples of revision 1 while b pulled (\(seen))")
        #expect(seen[1] >= 1, "b never served revision 2 (\(seen))\n\(site.logs())")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: tree).hasPrefix(".mirrorsync-revisions/linux/2@"))
    }
}

/// A public tree as one reader sees it: each package's first byte (its version) and the index.
struct ReaderView: Equatable {
    var packages: [String: UInt8]
    var index: String

    /// What a reader sees of `archive` as `Archive.write` writes it.
    init(_ archive: Archive) {
        packages = [:]
        for (number, version) in archive.packages {
            packages[archive.path(number)] = UInt8(truncatingIfNeeded: number &+ version &* 13)
        }
        index = archive.packages.keys.sorted().map { "Filename: \(archive.path($0))\n" }.joined()
    }

    init(packages: [String: UInt8], index: String) {
        self.packages = packages
        self.index = index
    }

    /// Reads the revision at `root` (a directory, not the link to it); nil if it vanished meanwhile.
    static func read(_ root: String) -> ReaderView? {
        var packages: [String: UInt8] = [:]
        for bucket in 0..<10 {
            let folder = "pool/\(bucket)"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: root + "/" + folder) else {
                continue
            }
            for name in names where name.hasSuffix(".deb") {
                let fd = open(root + "/" + folder + "/" + name, O_RDONLY)
                guard fd >= 0 else { return nil }
                var byte: UInt8 = 0
                let count = Glibc.read(fd, &byte, 1)
                close(fd)
                guard count == 1 else { return nil }
                packages[folder + "/" + name] = byte
            }
        }
        guard let index = FileManager.default.contents(atPath: root + "/dists/Packages") else { return nil }
        return ReaderView(packages: packages, index: String(decoding: index, as: UTF8.self))
    }

    /// How this view differs from each of `views`, for the failure's message.
    func differences(from views: [ReaderView]) -> String {
        views.enumerated().map { i, view in
            let differing = Set(packages.keys).union(view.packages.keys).filter { packages[$0] != view.packages[$0] }
            return
                "revision \(i + 1): \(differing.count) packages differ (\(differing.sorted().prefix(3))), index \(index == view.index ? "same" : "differs")"
        }.joined(separator: "; ")
    }
}
