import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

@Suite("Change lists: their text, their union over revisions, and when a pull walks the whole tree")
struct ChangeListTests {
    @Test("every byte of a name comes back from its escaped text, newlines and bytes that are not UTF-8 included")
    func escaping() throws {
        let every = (0...255).map { UInt8($0) }
        let text = PathEscaping.escape(every)
        #expect(!text.contains("\n") && text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
        #expect(try PathEscaping.unescape(text) == every)
        #expect(PathEscaping.escape(Array("a b\nc\\".utf8)) == "a b\\#012c\\#134")
        #expect(PathEscaping.escape([0xFF, 0xFE]) == "\\#377\\#376")
        // rsync's own spelling reads back: `\#ooo`, three octal digits.
        #expect(try PathEscaping.unescape("Packages\\#303\\#251") == Array("Packagesé".utf8))
        for bad in ["a\\b", "a\\#38", "a\\#9999", "trailing\\", "a\\#40"] {
            #expect(throws: ValueError.self, "\(bad)") { try PathEscaping.unescape(bad) }
        }
    }

    @Test("a list reads back entry for entry: operations, types, the two-stage mark, the top, odd names")
    func lines() throws {
        let list = ChangeList(
            revision: 7,
            entries: [
                ChangeEntry(.changed, .directory, []),
                ChangeEntry(.deleted, .directory, Array("dists".utf8), twoStage: true),
                ChangeEntry(.created, .file, Array("dists".utf8), twoStage: true),
                ChangeEntry(.created, .symlink, Array("-x y".utf8) + [0x0A, 0xC3, 0x28]),
                ChangeEntry(.changed, .file, Array("a/ b".utf8)),
                ChangeEntry(.created, .file, Array("Release".utf8), twoStage: true, hardLinked: true),
            ])
        #expect(list.text.split(separator: "\n").first == "m d 1 .")
        #expect(list.text.split(separator: "\n").last == "c f 2h Release")
        #expect(try ChangeList.parse(list.text, revision: 7) == list)
        for bad in ["x f 1 a", "c q 1 a", "c f 3 a", "c f h1 a", "c f 1", "c f 1 bad\\name"] {
            #expect(throws: ValueError.self, "\(bad)") { try ChangeList.parse(bad + "\n", revision: 1) }
        }
        let response = ChangesResponse(project: "p", from: 6, to: 7, lists: [list])
        #expect(try response.lists() == [list])
        #expect(throws: ValueError.self) { try ChangesResponse(project: "p", from: 5, to: 7, lists: [list]).lists() }
    }

    func path(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("the union: a path ends as its last list says, a change of type stands as a creation, parents come along")
    func union() {
        let lists = [
            ChangeList(
                revision: 2,
                entries: [
                    ChangeEntry(.created, .file, path("gone/soon")),
                    // A directory became a file: its child deleted, the directory deleted, the file created.
                    ChangeEntry(.deleted, .file, path("d/x")), ChangeEntry(.created, .file, path("d")),
                    ChangeEntry(.deleted, .directory, path("d")),
                    ChangeEntry(.created, .file, path("pool/a/b"), twoStage: false),
                ]),
            ChangeList(
                revision: 3,
                entries: [
                    ChangeEntry(.deleted, .file, path("gone/soon")),
                    ChangeEntry(.created, .file, path("dists/Release"), twoStage: true),
                    ChangeEntry(.changed, .file, path("d")),
                ]),
        ]
        let union = ChangeUnion(lists)
        let transfers = union.transfers.map { String(decoding: $0.path, as: UTF8.self) }
        #expect(transfers == ["", "d", "dists", "dists/Release", "gone", "pool", "pool/a", "pool/a/b"])
        #expect(union.transfers.first { $0.path == path("d") }?.kind == .file)
        #expect(union.transfers.first { $0.path == path("dists/Release") }?.twoStage == true)
        #expect(union.deletions.map { String(decoding: $0.path, as: UTF8.self) } == ["gone/soon", "d/x"])
        #expect(union.deletedFiles == 2)
        // The directories whose times the deletions change: "d" is a file at N (its time is not looked for).
        #expect(union.deletionParents.map { String(decoding: $0, as: UTF8.self) } == ["d", "gone"])
        let nested = ChangeUnion([
            ChangeList(
                revision: 6,
                entries: [
                    ChangeEntry(.deleted, .file, path("x/y/z")), ChangeEntry(.deleted, .directory, path("x/y")),
                    ChangeEntry(.deleted, .directory, path("x")), ChangeEntry(.deleted, .file, path("k/l")),
                ])
        ])
        // A deleted directory's parent, not the directory itself; the top among them.
        #expect(nested.deletionParents.map { String(decoding: $0, as: UTF8.self) } == ["", "k"])
        // Created again after its deletion: fetched, not deleted.
        let back = ChangeUnion([
            ChangeList(revision: 4, entries: [ChangeEntry(.deleted, .file, path("f"))]),
            ChangeList(revision: 5, entries: [ChangeEntry(.created, .symlink, path("f"))]),
        ])
        #expect(back.deletions.isEmpty && back.transfers.contains { $0.path == path("f") && $0.kind == .symlink })
    }

    @Test("two-stage patterns as rsync's excludes read them: names at any depth, directories and what they hold")
    func stagePatterns() {
        let patterns = StagePatterns(["dists/", "Release*", "/top/*.gz", "a/**/z"])
        #expect(patterns.matches(path("dists"), isDirectory: true))
        #expect(patterns.matches(path("debian/dists/stable/Packages"), isDirectory: false))
        #expect(!patterns.matches(path("dists"), isDirectory: false))
        #expect(patterns.matches(path("x/Release.gpg"), isDirectory: false))
        #expect(patterns.matches(path("top/p.gz"), isDirectory: false))
        #expect(!patterns.matches(path("sub/top/p.gz"), isDirectory: false))
        #expect(patterns.matches(path("a/b/c/z"), isDirectory: false))
        #expect(!patterns.matches(path("pool/main/p.deb"), isDirectory: false))
        #expect(!StagePatterns([]).matches(path("dists"), isDirectory: true))
    }

    @Test(
        "a pull walks the whole tree the first time, when the chain breaks, when the change is too large, and lists then walks once verifyEvery has passed"
    )
    func fallbacks() {
        let clock = ManualClock()
        let day = TimeSpan(seconds: 86_400)
        #expect(
            PullPlan.before(served: 0, pulling: 3, lastFullWalk: nil, verifyEvery: nil, now: clock.now())
                == .full(reason: "the first pull"))
        if case .full = PullPlan.before(served: 3, pulling: nil, lastFullWalk: nil, verifyEvery: nil, now: clock.now())
        {
        } else {
            Issue.record("a pull that names no revision walks the whole tree")
        }
        let walked = clock.now()
        clock.advance(by: 3600)
        #expect(
            PullPlan.before(served: 3, pulling: 5, lastFullWalk: walked, verifyEvery: day, now: clock.now())
                == .listed(from: 3, to: 5, verify: false))
        clock.advance(by: 86_400)
        #expect(
            PullPlan.before(served: 3, pulling: 5, lastFullWalk: walked, verifyEvery: nil, now: clock.now())
                == .listed(from: 3, to: 5, verify: true))
        #expect(
            PullPlan.before(
                served: 3, pulling: 5, lastFullWalk: walked, verifyEvery: TimeSpan(seconds: 7 * 86_400),
                now: clock.now()) == .listed(from: 3, to: 5, verify: false))
        // Never walked since the slave kept the time: the next pull is checked by a walk.
        #expect(
            PullPlan.before(served: 3, pulling: 4, lastFullWalk: nil, verifyEvery: day, now: clock.now())
                == .listed(from: 3, to: 4, verify: true))
        func union(_ count: Int) -> ChangeUnion {
            ChangeUnion([
                ChangeList(revision: 1, entries: (0..<count).map { ChangeEntry(.created, .file, path("f\($0)")) })
            ])
        }
        #expect(PullPlan.after(union(10), treeEntries: nil) == nil)
        #expect(PullPlan.after(union(2000), treeEntries: 100_000) == nil)
        #expect(PullPlan.after(union(2000), treeEntries: 4000) != nil)
        #expect(PullPlan.after(union(2000), treeEntries: nil) != nil)
    }
}
