import Foundation
import MirrorCore
import MirrorSite
import MirrorTestSupport
import ServiceLifecycle
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
    import Glibc
#endif

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite("init: the starter mirrors.d")
struct StarterSiteTests {
    @Test("writes five commented files that load without an error, with the schema beside them")
    func writesAValidSite() throws {
        let scratch = Scratch("init")
        let directory = scratch.path + "/conf d"
        let starter = StarterSite(
            stateDirectory: scratch.path + "/state", root: scratch.path + "/my \"root\"",
            publicDir: scratch.path + "/public")
        let written = try starter.write(into: directory)
        #expect(
            written.map { ($0 as NSString).lastPathComponent }
                == [
                    "00-master.yaml", "10-intervals.yaml", "20-upstreams.yaml", "30-slaves.yaml", "40-projects.yaml",
                    "mirrors.schema.json",
                ])
        let loaded = try DesiredStateLoader().load(directory: directory)
        #expect(loaded.state.master.root == scratch.path + "/my \"root\"")
        #expect(loaded.state.master.tokenFile == scratch.path + "/state/token")
        #expect(loaded.state.slaves["www"]?.publicDir == scratch.path + "/public")
        #expect(loaded.state.projects.keys.sorted() == ["gnu-hello"])
        for path in written where path.hasSuffix(".yaml") {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("# yaml-language-server: $schema=mirrors.schema.json\n"), "\(path)")
            #expect(
                text.split(separator: "\n").count(where: { $0.contains("#") }) >= 3, "\(path) should explain itself")
        }
        #expect(
            try String(contentsOfFile: directory + "/mirrors.schema.json", encoding: .utf8)
                == String(contentsOfFile: repositoryRoot + "/schemas/mirrors.schema.json", encoding: .utf8))
    }

    @Test("the JSON Schema finds nothing wrong with the files either")
    func schemaAgrees() async throws {
        let scratch = Scratch("init")
        let written = try StarterSite(stateDirectory: "/var/lib/ms", root: "/srv/mirror", publicDir: "/srv/pub").write(
            into: scratch.path)
        let result = try await runProgram(
            "/usr/bin/env",
            [
                "python3", repositoryRoot + "/Tests/MirrorCoreTests/schema_check.py",
                repositoryRoot + "/schemas/mirrors.schema.json",
            ] + written.filter { $0.hasSuffix(".yaml") })
        #expect(
            result.status == 0,
            "schema_check.py failed; is python3 with jsonschema and PyYAML installed (make deps)? \(result.stderr)")
        let data = Data(result.stdout.utf8)
        let verdicts = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] ?? [:]
        #expect(verdicts.count == 5)
        for (file, verdict) in verdicts {
            #expect(verdict["valid"] as? Bool == true, "\(file): \(verdict["errors"] ?? "")")
        }
    }

    @Test("refuses when any of its files exists, and writes none of them")
    func refusesToOverwrite() throws {
        let scratch = Scratch("init")
        let directory = scratch.sub("mirrors.d")
        try "mine\n".write(toFile: directory + "/30-slaves.yaml", atomically: true, encoding: .utf8)
        let starter = StarterSite(stateDirectory: "/s", root: "/r", publicDir: "/p")
        #expect(throws: ValueError.self) { try starter.write(into: directory) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["30-slaves.yaml"])
        #expect(try String(contentsOfFile: directory + "/30-slaves.yaml", encoding: .utf8) == "mine\n")
    }

    @Test("the schema it writes is the binary's own, as `mirrorsync schema` prints it")
    func writesTheBinarysSchema() throws {
        let scratch = Scratch("init")
        _ = try StarterSite(stateDirectory: "/s", root: "/r", publicDir: "/p").write(into: scratch.path)
        let written = try String(contentsOfFile: scratch.path + "/" + StarterSite.schemaFileName, encoding: .utf8)
        #expect(written == ConfigSchema.json)
    }
}

@Suite("up: which processes run here")
struct LocalSitePlanTests {
    let state: DesiredState = {
        var state = DesiredState(
            master: MasterSpec(api: "http://127.0.0.1:7070", tokenFile: "/etc/site/token", root: "/srv/mirror"))
        state.slaves = [
            "b": SlaveSpec(api: "http://ftp-b.example.org:7071", publicDir: "/srv/b"),
            "a": SlaveSpec(api: "http://[::1]:7072", publicDir: "/srv/a"),
        ]
        return state
    }()

    @Test("the master and the slaves whose API is here, then the reconciler; the others are expected elsewhere")
    func plansLocalComponents() {
        let site = LocalSite.plan(state, directory: "/conf", stateDirectory: "/st", tokenFileExists: true) { host in
            host == "127.0.0.1" || host == "::1"
        }
        #expect(site.components.map(\.name) == ["master", "a", "reconcile"])
        #expect(
            site.components[0].arguments
                == [
                    "master", "--listen", "127.0.0.1:7070", "--state-dir", "/st/master", "--token-file",
                    "/st/master/credential",
                    "--accept-file", "/st/master/accepted", "--log-level", "info",
                    "--allow-root", "/srv/mirror",
                ])
        #expect(
            site.components[1].arguments
                == [
                    "slave", "--name", "a", "--listen", "[::1]:7072", "--state-dir", "/st/slave-a", "--token-file",
                    "/st/slave-a/credential",
                    "--accept-file", "/st/slave-a/accepted", "--log-level", "info",
                    "--allow-root", "/srv/a",
                ])
        #expect(site.components[2].arguments == ["reconcile", "/conf", "--watch", "--token-file", "/etc/site/token"])
        #expect(site.components[1].listen?.host == "::1" && site.components[1].listen?.port == 7072)
        #expect(site.elsewhere == [LocalSite.AgentElsewhere(name: "b", api: "http://ftp-b.example.org:7071")])
        #expect(!site.tokenIsGenerated)
    }

    @Test("up --allow-exec hands each directory to every agent it starts, not to the reconciler")
    func allowExec() {
        let site = LocalSite.plan(
            state, directory: "/conf", stateDirectory: "/st", tokenFileExists: true,
            allowExec: ["/etc/hooks", "/opt/hooks"]
        ) { _ in true }
        for component in site.components {
            let given = component.arguments.indices.filter { component.arguments[$0] == "--allow-exec" }.map {
                component.arguments[$0 + 1]
            }
            #expect(
                given == (component.kind == .reconciler ? [] : ["/etc/hooks", "/opt/hooks"]), "\(component.arguments)")
        }
    }

    @Test(
        "each agent may write in its root or publicDir only, and the master read the local upstreams; a leftover is known without them"
    )
    func bounds() throws {
        var state = self.state
        state.upstreams = [
            "up": UpstreamSpec(url: try UpstreamLocation.parse("/data/upstream/")),
            "same": UpstreamSpec(url: try UpstreamLocation.parse("/data/upstream")),
            "other": UpstreamSpec(url: try UpstreamLocation.parse("/data/other")),
            "remote": UpstreamSpec(url: try UpstreamLocation.parse("rsync://mirror.example.org/pub/")),
        ]
        let site = LocalSite.plan(state, directory: "/conf", stateDirectory: "/st", tokenFileExists: true) { _ in true }
        let master = site.components[0].arguments
        #expect(
            Array(master.suffix(6))
                == [
                    "--allow-root", "/srv/mirror", "--allow-local-upstream", "/data/other", "--allow-local-upstream",
                    "/data/upstream",
                ])
        #expect(
            site.components.filter { $0.kind == .slave }.map { Array($0.arguments.suffix(2)) }
                == [["--allow-root", "/srv/a"], ["--allow-root", "/srv/b"]])
        #expect(!site.components.contains { $0.kind != .master && $0.arguments.contains("--allow-local-upstream") })
        // A process of an `up` started before mirrors.d moved the root is the same component.
        var moved = state
        moved.master.root = "/srv/elsewhere"
        let before = LocalSite.plan(moved, directory: "/conf", stateDirectory: "/st", tokenFileExists: true) { _ in true
        }
        #expect(before.components[0].arguments != master)
        #expect(LocalSite.identity(before.components[0].arguments) == LocalSite.identity(master))
        #expect(LocalSite.identity(master) == Array(master.prefix(11)))
    }

    @Test("an operator's token file that does not exist yet becomes STATE/token, for the reconciler alone")
    func generatedToken() {
        let site = LocalSite.plan(state, directory: "/conf", stateDirectory: "/st", tokenFileExists: false) { _ in true
        }
        #expect(site.tokenIsGenerated)
        #expect(site.tokenFile == "/st/token")
        #expect(site.components.count == 4)
        #expect(
            site.components.allSatisfy {
                $0.arguments.contains("/st/token") == ($0.kind == .reconciler)
                    && !$0.arguments.contains("/etc/site/token")
            })
    }

    @Test(
        "up gives each agent its own credential and an accept file of verifiers: a slave holds no other token; made once, other lines kept"
    )
    func scopedCredentials() throws {
        let scratch = Scratch("scoped-up")
        let operatorFile = scratch.path + "/operator.token"
        try SiteToken.ensure(operatorFile)
        let site = LocalSite.plan(
            state, directory: "/conf", stateDirectory: scratch.path + "/st", tokenFileExists: true
        ) { _ in true }
        let notes = try SiteCredentials.prepare(site, operatorTokenFile: operatorFile)
        #expect(notes.isEmpty)
        let dir = { (name: String) in scratch.path + "/st/" + name }
        let token = { (name: String) in try TokenFile.read(SiteCredentials.tokenFile(dir(name))) }
        let accepted = { (name: String) in try AcceptedCredentials.read(SiteCredentials.acceptFile(dir(name))) }
        let op = try TokenFile.read(operatorFile)
        #expect(Set([op, try token("master"), try token("slave-a"), try token("slave-b")]).count == 4)
        #expect(try accepted("master").role(of: op) == .operator)
        #expect(try accepted("master").role(of: token("slave-a")) == .slave("a"))
        #expect(try accepted("master").role(of: token("slave-b")) == .slave("b"))
        #expect(try accepted("master").role(of: token("master")) == nil)
        for slave in ["slave-a", "slave-b"] {
            #expect(try accepted(slave).role(of: op) == .operator)
            #expect(try accepted(slave).role(of: token("master")) == .master)
            #expect(try accepted(slave).verifiers.count == 2)
            // The slave's files hold its own token and verifiers, never another secret.
            for file in try FileManager.default.contentsOfDirectory(atPath: dir(slave)) {
                let text = try String(contentsOfFile: dir(slave) + "/" + file, encoding: .utf8)
                for secret in [op, try token("master"), try token(slave == "slave-a" ? "slave-b" : "slave-a")] {
                    #expect(!text.contains(secret))
                }
            }
            var info = stat()
            stat(SiteCredentials.acceptFile(dir(slave)), &info)
            #expect(info.st_mode & 0o777 == 0o600)
        }
        // Again: the tokens stay, and a line for a slave elsewhere, added by hand, too.
        let before = try token("slave-a")
        let remote = CredentialVerifier(role: .slave("c"), token: "far")
        try SiteCredentials.accept([remote], in: SiteCredentials.acceptFile(dir("master")))
        _ = try SiteCredentials.prepare(site, operatorTokenFile: operatorFile)
        #expect(try token("slave-a") == before)
        #expect(try accepted("master").role(of: "far") == .slave("c"))
        #expect(try accepted("master").verifiers.count == 4)
    }

    @Test(
        "up scopes credentials per hop in a chain: b, pulling from a, accepts a as its master; the master does not know b, even after b moved into the tier"
    )
    func tierCredentials() throws {
        let scratch = Scratch("scoped-tiers")
        let operatorFile = scratch.path + "/operator.token"
        try SiteToken.ensure(operatorFile)
        let flat = LocalSite.plan(
            state, directory: "/conf", stateDirectory: scratch.path + "/st", tokenFileExists: true
        ) { _ in true }
        _ = try SiteCredentials.prepare(flat, operatorTokenFile: operatorFile)
        var tiered = state
        tiered.slaves["b"]!.from = "a"
        let site = LocalSite.plan(
            tiered, directory: "/conf", stateDirectory: scratch.path + "/st", tokenFileExists: true
        ) { _ in true }
        #expect(site.tiers == ["b": "a"])
        _ = try SiteCredentials.prepare(site, operatorTokenFile: operatorFile)
        let dir = { (name: String) in scratch.path + "/st/" + name }
        let token = { (name: String) in try TokenFile.read(SiteCredentials.tokenFile(dir(name))) }
        let accepted = { (name: String) in try AcceptedCredentials.read(SiteCredentials.acceptFile(dir(name))) }
        #expect(try accepted("master").role(of: token("slave-a")) == .slave("a"))
        #expect(try accepted("master").role(of: token("slave-b")) == nil, "b's line left the master's file")
        #expect(try accepted("slave-a").role(of: token("master")) == .master)
        #expect(try accepted("slave-a").role(of: token("slave-b")) == .slave("b"))
        #expect(try accepted("slave-b").role(of: token("slave-a")) == .master)
        #expect(try accepted("slave-b").role(of: token("master")) == nil, "the master is not b's master")
        #expect(try accepted("slave-b").verifiers.count == 2)
    }

    @Test(
        "up says what to do for a slave on another host: the master's and the operator's lines to accept there, and where its line goes here"
    )
    func credentialsElsewhere() throws {
        let scratch = Scratch("scoped-elsewhere")
        let operatorFile = scratch.path + "/operator.token"
        try SiteToken.ensure(operatorFile)
        let site = LocalSite.plan(
            state, directory: "/conf", stateDirectory: scratch.path + "/st", tokenFileExists: true
        ) { $0 != "ftp-b.example.org" }
        let notes = try SiteCredentials.prepare(site, operatorTokenFile: operatorFile)
        let master = CredentialVerifier(
            role: .master, token: try TokenFile.read(scratch.path + "/st/master/credential")
        ).line
        let op = CredentialVerifier(role: .operator, token: try TokenFile.read(operatorFile)).line
        #expect(notes.count == 1)
        #expect(
            notes.first?.hasPrefix(
                "slave b is on another host: there, 'mirrorsync credential token FILE --for slave:b'") == true,
            "\(notes)")
        #expect(notes.first?.contains(master) == true && notes.first?.contains(op) == true)
        #expect(notes.first?.contains("mirrorsync credential accept \(scratch.path)/st/master/accepted LINE") == true)
        #expect(try AcceptedCredentials.read(scratch.path + "/st/master/accepted").slaves.map(\.name) == ["a"])
    }

    @Test("an API without a port listens on its scheme's")
    func defaultPorts() {
        #expect(LocalSite.listenAddress("http://mirror.example.org")?.text == "mirror.example.org:80")
        #expect(LocalSite.listenAddress("https://10.1.2.3/api")?.text == "10.1.2.3:443")
    }

    @Test("this host: loopback, its own interfaces and name; never a documentation address")
    func localAddresses() {
        let here = LocalAddresses.current()
        #expect(here.contains("127.0.0.1"))
        #expect(here.contains("127.0.1.1"))
        #expect(here.contains("::1"))
        #expect(here.contains("localhost"))
        #expect(here.contains(here.hostName))
        #expect(!here.contains("192.0.2.1"))
        #expect(!here.contains("2001:db8::1"))
        #expect(LocalAddresses(addresses: ["10.9.8.7"], hostName: "box").contains("10.9.8.7"))
        #expect(!LocalAddresses(addresses: ["10.9.8.7"], hostName: "box").contains("10.9.8.6"))
    }

    @Test(
        "a rotated token is fresh and keeps its file's group and mode (the package's 0640 root:mirrorsync), never writable by others"
    )
    func rotationKeepsOwnership() throws {
        let scratch = Scratch("rotate")
        let path = scratch.path + "/agent.token"
        try SiteToken.ensure(path)
        let before = try TokenFile.read(path)
        chmod(path, 0o660)
        chown(path, getuid(), 1)
        try SiteToken.rotate(path)
        var info = stat()
        stat(path, &info)
        #expect(try TokenFile.read(path) != before)
        #expect(info.st_mode & 0o777 == 0o640)
        #expect(getuid() != 0 || info.st_gid == 1)
    }

    @Test("the token is made once, mode 0600 in a 0700 directory, and kept after")
    func tokenMadeOnce() throws {
        let scratch = Scratch("token")
        let path = scratch.path + "/state/token"
        #expect(try SiteToken.ensure(path))
        let first = try String(contentsOfFile: path, encoding: .utf8)
        #expect(first.count == 65)
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        stat(scratch.path + "/state", &info)
        #expect(info.st_mode & 0o777 == 0o700)
        #expect(try !SiteToken.ensure(path))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == first)
        #expect(try TokenFile.read(path) == String(first.dropLast()))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/state") == ["token"])
    }
}

/// When a process ended, seen by a thread of its own polling /proc every 5 ms (a task could be woken late).
final class DeathWatch: Sendable {
    private let end = Mutex<Date?>(nil)

    init(_ pid: pid_t) {
        Thread.detachNewThread { [self] in
            while alive(pid) { usleep(5_000) }
            end.withLock { $0 = Date() }
        }
    }

    /// The time it ended, waiting (on this thread) up to 10 s for it.
    var ended: Date? {
        for _ in 0..<2_000 {
            if let date = end.withLock({ $0 }) { return date }
            usleep(5_000)
        }
        return nil
    }
}

/// Whether a process runs: it exists and is not a zombie waiting to be reaped.
func alive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

@Suite("up: a child process of the site")
struct SiteProcessTests {
    /// Output written by SiteOutput into a file, read back.
    final class Capture: Sendable {
        let path: String
        let fd: Int32
        init(_ scratch: Scratch) {
            path = scratch.path + "/out.log"
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        }
        deinit { close(fd) }
        var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        /// The bound only ends a test that hangs: generous, for a machine that runs every suite at once beside other builds.
        func wait(for needle: String, count: Int = 1, seconds: Double = 90) async throws {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if text.components(separatedBy: needle).count - 1 >= count { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("never saw \(count) × '\(needle)' in:\n\(text)")
        }
    }

    func component(_ script: String) -> SiteComponent {
        SiteComponent(name: "child", kind: .slave, arguments: ["-c", script], listen: nil, stateDirectory: nil)
    }

    @Test("a child that dies is started again, and the terminal says so with its prefix")
    func restarts() async throws {
        let scratch = Scratch("child")
        let capture = Capture(scratch)
        let output = SiteOutput(names: ["child", "up"], color: false, fileDescriptor: capture.fd)
        let service = SiteProcess(
            component("echo started; exit 3"), executable: "/bin/sh", output: output,
            restartBase: 0.01, restartMax: 0.05)
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await capture.wait(for: "child | started", count: 3)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(capture.text.contains("up    | child exited with status 3; restarting it\n"))
        #expect(capture.text.contains("child | started\n"))
    }

    @Test("stopping ends the child and everything in its process group, even what ignores SIGTERM")
    func stopsTheWholeGroup() async throws {
        let scratch = Scratch("child")
        let capture = Capture(scratch)
        let output = SiteOutput(names: ["child", "up"], color: false, fileDescriptor: capture.fd)
        // The child's own child ignores SIGTERM: only the SIGKILL after the grace ends it.
        let script = "sh -c 'trap \"\" TERM; echo grandchild $$; while :; do sleep 0.1; done' & echo child $$; wait"
        let service = SiteProcess(component(script), executable: "/bin/sh", output: output, grace: .milliseconds(500))
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        var pids: [pid_t] = []
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await capture.wait(for: "child | grandchild ")
            try await capture.wait(for: "child | child ")
            pids = capture.text.split(separator: "\n").compactMap { line in
                line.split(separator: " ").last.flatMap { pid_t($0) }
            }
            #expect(pids.count == 2)
            #expect(pids.allSatisfy(alive))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(pids.allSatisfy { !alive($0) }, "left running: \(pids.filter(alive))")
        #expect(capture.text.contains("up    | child stopped\n"))
        #expect(!capture.text.contains("restarting"))
    }

    @Test(
        "a child started again is stopped as surely: the one that ignores SIGTERM is killed after the grace",
        .timeLimit(.minutes(1)))
    func stopsARestartedChild() async throws {
        let scratch = Scratch("child")
        let capture = Capture(scratch)
        let output = SiteOutput(names: ["child", "up"], color: false, fileDescriptor: capture.fd)
        // The first run ends by itself; the second notes when SIGTERM came and goes on.
        let script =
            "if [ ! -e \(scratch.path)/ran ]; then touch \(scratch.path)/ran; exit 3; fi; trap 'date +%s.%N > \(scratch.path)/term' TERM; echo second $$; while :; do sleep 0.1; done"
        let service = SiteProcess(component(script), executable: "/bin/sh", output: output, grace: .milliseconds(500))
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        var pid: pid_t = 0
        var death: DeathWatch?
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await capture.wait(for: "child | second ")
            pid =
                capture.text.split(separator: "\n").first { $0.hasPrefix("child | second ") }.flatMap {
                    $0.split(separator: " ").last
                }.flatMap { pid_t($0) } ?? 0
            death = DeathWatch(pid)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(capture.text.contains("child exited with status 3; restarting it"))
        #expect(pid > 0 && !alive(pid), "the second run was left running")
        // Timed from the process's side (its trap's clock, a thread watching /proc), not from this task's wake-up,
        // which a loaded machine's busy cooperative pool delayed by 11 s once.
        let term = try String(contentsOfFile: scratch.path + "/term", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        let died = try #require(death?.ended?.timeIntervalSince1970)
        let afterTerm = died - (try #require(Double(term)))
        #expect(afterTerm > 0.3 && afterTerm < 5, "the SIGKILL comes 0.5 s after SIGTERM, here \(afterTerm) s")
    }
}
