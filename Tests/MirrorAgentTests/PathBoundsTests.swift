import Foundation
import Testing
@testable import MirrorAgent
import MirrorCore
import MirrorTestSupport

@Suite("Path bounds: what an agent's API may ask it to write and read")
struct PathBoundsTests {
    let scratch = Scratch("bounds")
    var state: String { scratch.path + "/state" }

    func bounds(roots: [String] = [], upstreams: [String] = []) throws(PathBoundsError) -> PathBounds {
        try PathBounds(allowRoots: roots, allowLocalUpstreams: upstreams, stateDirectory: state)
    }

    @Test("without --allow-root: any directory but /, the system's directories and anything holding one")
    func defaults() throws {
        let bounds = try bounds()
        #expect(bounds.checkRoot("/")?.reason.hasPrefix("it is the file system's root") == true)
        for path in [
            "/etc", "/etc/mirror", "/usr/lib/x", "/var/lib/mirrorsync", "/boot", "/proc/1", "/root/m", "/dev/sda1",
            "/run/m",
        ] {
            #expect(bounds.checkRoot(path) != nil, "\(path)")
        }
        let holder = try #require(bounds.checkRoot("/var"))
        #expect(holder.reason.hasPrefix("it holds the system directory /var/"))
        #expect(
            bounds.checkRoot("/etc")?.message
                == "root '/etc' is refused: it is the system directory /etc; no --allow-root allows it")
        #expect(bounds.checkRoot("/etc/mirror")?.reason.hasPrefix("it is inside the system directory /etc") == true)
        for path in [
            "/srv/mirror", "/var/www/pub", "/home/me/mirror", "/opt/mirror", scratch.path + "/root", "/dev/shm/bench",
            "/dev/shm",
        ] {
            #expect(bounds.checkRoot(path) == nil, "\(path)")
        }
        // /dev/shm is memory every user may write to, but the rest of /dev is not.
        #expect(bounds.checkRoot("/dev/sda")?.reason.hasPrefix("it is inside the system directory /dev") == true)
        #expect(try self.bounds(roots: ["/dev/shm"]).checkRoot("/dev/shm/m") == nil)
        // Root's home opens only where the operator names a directory in it (a site tried out in a clone there); its
        // other parts, and the home itself, stay refused.
        let home = try self.bounds(roots: ["/root/site"])
        #expect(home.checkRoot("/root/site/master") == nil)
        #expect(home.checkRoot("/root/.ssh")?.reason.hasPrefix("it is inside the system directory /root") == true)
        #expect(throws: PathBoundsError.self) { try self.bounds(roots: ["/root"]) }
    }

    @Test(
        "the state directory, anything inside it and anything holding it are refused; a sibling sharing its prefix is not"
    )
    func stateDirectory() throws {
        let bounds = try bounds()
        #expect(bounds.checkRoot(state)?.reason.hasPrefix("it is the agent's state directory") == true)
        #expect(
            bounds.checkRoot(state + "/rsyncd")?.reason.hasPrefix("it is inside the agent's state directory") == true)
        #expect(bounds.checkRoot(scratch.path)?.reason.hasPrefix("it holds the agent's state directory") == true)
        #expect(bounds.checkRoot(state + "2") == nil)
        #expect(bounds.checkLocalUpstream(state + "/rsyncd", field: "upstream.url") != nil)
    }

    @Test("paths are compared resolved: '..', '.', repeated slashes and links, also a link in the middle and a loop")
    func resolution() throws {
        #expect(PathBounds.resolve("/srv/../etc") == "/etc")
        #expect(PathBounds.resolve("/srv//./mirror/") == "/srv/mirror")
        #expect(PathBounds.resolve("/srv/missing/../../etc/x") == "/etc/x")
        #expect(PathBounds.resolve("relative") == FileManager.default.currentDirectoryPath + "/relative")
        let link = scratch.path + "/to-etc"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/etc")
        let relative = scratch.sub("dir") + "/up"
        try FileManager.default.createSymbolicLink(atPath: relative, withDestinationPath: "../to-etc/..")
        #expect(PathBounds.resolve(link + "/not/yet") == "/etc/not/yet")
        #expect(PathBounds.resolve(relative + "/srv") == "/srv")
        try FileManager.default.createSymbolicLink(atPath: scratch.path + "/loop", withDestinationPath: "loop")
        #expect(PathBounds.resolve(scratch.path + "/loop/x").hasPrefix(scratch.path))

        let bounds = try bounds()
        let refused = try #require(bounds.checkRoot(link + "/mirror"))
        #expect(refused.resolved == "/etc/mirror")
        #expect(
            refused.message
                == "root '\(link)/mirror' (resolves to /etc/mirror) is refused: it is inside the system directory /etc; no --allow-root allows it"
        )
        #expect(bounds.checkRoot("/srv/../etc")?.resolved == "/etc")
    }

    @Test("with --allow-root: only inside the directories named, and the default refusals still hold")
    func allowRoots() throws {
        let allowed = scratch.sub("allowed")
        let bounds = try bounds(roots: [allowed, "/srv/mirror"])
        #expect(bounds.checkRoot(allowed + "/m") == nil)
        #expect(bounds.checkRoot("/srv/mirror") == nil)
        let outside = try #require(bounds.checkRoot(scratch.path + "/other"))
        #expect(
            outside.message.contains(
                "not inside a directory this agent may write to (--allow-root \(allowed), --allow-root /srv/mirror)"))
        #expect(outside.message.contains("start the agent with --allow-root"))
        // A link inside an allowed directory that leads out of it.
        try FileManager.default.createSymbolicLink(
            atPath: allowed + "/out", withDestinationPath: scratch.path + "/other")
        #expect(bounds.checkRoot(allowed + "/out/m") != nil)
        // `--allow-root /` allows everything the defaults leave, not /etc.
        let everywhere = try self.bounds(roots: ["/"])
        #expect(everywhere.checkRoot("/etc") != nil && everywhere.checkRoot("/srv/x") == nil)
        // An allowance holding a system directory still allows the rest of it.
        #expect(try self.bounds(roots: ["/var"]).checkRoot("/var/www") == nil)
    }

    @Test("an allowance that could never allow anything is an error naming the flag")
    func uselessAllowances() throws {
        #expect(throws: PathBoundsError.self) { try bounds(roots: ["/etc"]) }
        #expect(throws: PathBoundsError.self) { try bounds(roots: [state + "/x"]) }
        #expect(throws: PathBoundsError.self) { try bounds(upstreams: [state]) }
        do throws(PathBoundsError) {
            _ = try bounds(roots: ["/usr/local/mirror"])
            Issue.record("accepted")
        } catch {
            #expect(
                error.message
                    == "--allow-root /usr/local/mirror would allow nothing: it is inside the system directory /usr")
        }
    }

    @Test(
        "local upstreams: none without --allow-local-upstream; inside one only, links followed, never the state directory"
    )
    func localUpstreams() throws {
        let none = try bounds()
        let refused = try #require(none.checkLocalUpstream("/etc", field: "upstream.url"))
        #expect(
            refused.message
                == "upstream.url '/etc' is refused: this agent reads no local directory (no --allow-local-upstream); "
                + "start the agent with --allow-local-upstream naming it or a directory above it to allow it")
        let allowed = scratch.sub("upstreams")
        let bounds = try bounds(upstreams: [allowed])
        #expect(bounds.checkLocalUpstream(allowed + "/debian") == nil)
        #expect(bounds.checkLocalUpstream("/etc")?.message.contains("(--allow-local-upstream \(allowed))") == true)
        try FileManager.default.createSymbolicLink(atPath: allowed + "/etc", withDestinationPath: "/etc")
        #expect(bounds.checkLocalUpstream(allowed + "/etc") != nil)
        // A project's source under an allowed upstream that is a link out of it names the field `source`.
        var spec = AgentProjectSpec(
            upstream: UpstreamSpec(url: try UpstreamLocation.parse(allowed)), source: "etc", path: "p",
            interval: .every(TimeSpan(seconds: 3600)))
        #expect(bounds.check(spec, root: nil)?.field == "source")
        spec.source = "debian"
        #expect(bounds.check(spec, root: nil) == nil)
        #expect(bounds.check(spec, root: "/etc")?.field == "path")
        spec.upstream = UpstreamSpec(url: try UpstreamLocation.parse("rsync://mirror.example.org/pub/"))
        #expect(none.check(spec, root: scratch.path + "/root") == nil)
        // Allowed to read a directory holding the state directory, the agent still does not read the state directory.
        #expect(try self.bounds(upstreams: [scratch.path]).checkLocalUpstream(scratch.path) != nil)
    }

    @Test("a run is checked again as it starts: its source and its destination")
    func jobs() throws {
        let bounds = try bounds(roots: [scratch.sub("allowed")], upstreams: [scratch.sub("upstreams")])
        let good = SyncJob(
            project: "p", source: .test(scratch.path + "/upstreams/p/"), destination: scratch.path + "/allowed/p/")
        #expect(bounds.check(good) == nil)
        var job = good
        job.destination = scratch.path + "/other/p/"
        #expect(bounds.check(job)?.field == "path")
        job = good
        job.source = .test("/etc/")
        #expect(bounds.check(job)?.field == "upstream.url")
        job.source = .test("rsync://127.0.0.1:873/pub/")
        #expect(bounds.check(job) == nil)
    }
}
