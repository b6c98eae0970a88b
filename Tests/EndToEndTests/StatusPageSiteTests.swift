import Foundation
import MirrorCore
import MirrorTestSupport
import Testing

/// Debian's headless Chromium, when installed (`.ci/run` installs it).
enum Chromium {
    static let path: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let unavailable: String? =
        path == nil
        ? "chromium is not installed (apt-get install chromium; .ci/run installs it): the status page is not loaded in a browser"
        : nil

    /// Where the screenshots go for people to look at: the package's `.build/`.
    static let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build").path

    /// Chromium on `url` with `arguments`, in a profile of its own under `scratch`, kept off every network but
    /// loopback; at most a minute (SIGTERM, then SIGKILL 10 s later). Its standard output.
    static func run(_ url: String, _ arguments: [String], scratch: Scratch) async throws -> String {
        let profile = scratch.sub("chromium-\(UUID().uuidString)")
        let flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile)", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--disable-domain-reliability",
            "--metrics-recording-only",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ]
        let result = try await runProgram("/usr/bin/timeout", ["-k", "10", "60", path!] + flags + arguments + [url])
        guard result.status == 0 else {
            throw ValueError("chromium \(arguments) \(url) exited \(result.status): \(result.stderr.suffix(2000))")
        }
        return result.stdout
    }

    /// The page as Chromium built it: the DOM after parsing.
    static func dom(_ url: String, scratch: Scratch) async throws -> String {
        try await run(url, ["--dump-dom"], scratch: scratch)
    }

    /// A PNG of the page at `width` × `height`, saved under `.build/`.
    static func screenshot(_ url: String, name: String, width: Int, height: Int, scratch: Scratch) async throws
        -> String
    {
        let file = screenshots + "/" + name
        try? FileManager.default.removeItem(atPath: file)
        _ = try await run(url, ["--screenshot=\(file)", "--window-size=\(width),\(height)"], scratch: scratch)
        return file
    }
}

@Suite(
    "The status page in a browser (separate processes, real rsync, headless Chromium)", .serialized,
    .enabled(if: Chromium.unavailable == nil, Comment(rawValue: Chromium.unavailable ?? "")))
struct StatusPageSiteTests {
    @Test(
        "GET / shows every project on every host with its revision, a slave away and behind in red, a failing project in red; the project page its runs; screenshots in .build/"
    )
    func page() async throws {
        let site = try Site("page")
        // The page is public here (a browser sends no bearer token).
        var yaml = try String(contentsOfFile: site.directory + "/site.yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "  rsyncd: {", with: "  publicStatus: true\n  rsyncd: {")
        yaml += "  broken: { upstream: up, source: broken, interval: hourly, slaves: [a] }\n"
        try yaml.write(toFile: site.directory + "/site.yaml", atomically: true, encoding: .utf8)
        try Tree.generate(at: site.upstream + "/broken", files: 20, bytes: 100, seed: 5)
        for agent in [site.master, site.a, site.b] { try await agent.start() }
        try await site.reconcile()
        try await site.wait("served revision 1 everywhere", site.atRevision(1))
        // broken's upstream loses most of its files: the deletion cap fails its next sync at once (no retry).
        try await site.wait("synced broken") { $0.projects["broken"]?.revision == 1 }
        try FileManager.default.removeItem(atPath: site.upstream + "/broken/pool")
        #expect(try await site.master.request("POST", "/v1/projects/broken/sync").status == 202)
        try await site.wait("failed broken") { $0.projects["broken"]?.lastRun?.result == .failed }
        // b away while linux moves on: behind and unreachable.
        await site.b.stop()
        try await site.changeUpstream("second")
        try await site.wait("served revision 2 on a and saw b gone") {
            site.atRevision(2, slaves: ["a"])($0) && $0.slaves.first { $0.name == "b" }?.reachable == false
        }

        let dom = try await Chromium.dom(site.master.base + "/", scratch: site.scratch)
        #expect(dom.contains("<h1>master</h1>"), "\(dom.prefix(3000))")
        for project in ["broken", "linux", "tools"] {
            #expect(dom.contains("<a href=\"projects/\(project)\">\(project)</a>"), "\(project)")
        }
        for host in ["a", "b"] { #expect(dom.contains("<th>\(host)</th>"), "\(host)'s column") }
        // The rows as the browser parsed them: linux at revision 2, current on a, one behind on b (away: red);
        // tools on a alone; broken failed, in red.
        let linux = try row(dom, "linux")
        #expect(linux.contains("<td class=\"n\">2</td>") && linux.contains("✓ 2</td>"), "\(linux)")
        #expect(linux.contains("<td class=\"bad\"") && linux.contains(">1 behind"), "\(linux)")
        #expect(try row(dom, "tools").contains("✓ 1</td><td class=\"na\">–</td>"))
        let broken = try row(dom, "broken")
        #expect(broken.hasPrefix("<tr class=\"bad\"") && broken.contains(">failed"), "\(broken)")
        #expect(dom.contains("1 host unreachable") && dom.contains("unreachable · \(site.b.base)"))

        let project = try await Chromium.dom(site.master.base + "/projects/broken", scratch: site.scratch)
        #expect(project.contains("<h1>broken <span class=\"tag bad\">failed</span></h1>"), "\(project.prefix(3000))")
        #expect(project.contains("<article class=\"run bad\" id=\"run-"))
        // The public sees the failure's class, not the run's message, and no link to a log it may not read.
        #expect(project.contains("<p class=\"msg\">deletion cap</p>"), "the failure's class: \(project.prefix(6000))")
        #expect(!project.contains("maxDelete") && !project.contains("/log\">log</a>"), "\(project.prefix(6000))")
        // The operator, with the token, sees the message and the log's link.
        let operatorPage = try await site.master.request("GET", "/projects/broken")
        let full = String(decoding: operatorPage.body, as: UTF8.self)
        #expect(operatorPage.status == 200 && full.contains("more than maxDelete"), "\(full.prefix(6000))")
        #expect(full.contains("/runs/") && full.contains("/log\">log</a>"), "the link to the run's log")

        for (name, path, width, height) in [
            ("status-page-desktop.png", "/", 1280, 800), ("status-page-phone.png", "/", 390, 844),
            ("status-page-project.png", "/projects/broken", 1280, 900),
            ("status-page-project-phone.png", "/projects/broken", 390, 844),
        ] {
            let file = try await Chromium.screenshot(
                site.master.base + path, name: name, width: width, height: height, scratch: site.scratch)
            let png = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(file): \(png.count) bytes")
        }
        for agent in [site.master, site.a] { await agent.stop() }
    }

    /// The markup of a project's row, as the browser serialised it.
    func row(_ dom: String, _ project: String) throws -> String {
        let id = try #require(dom.range(of: "id=\"p-\(project)\""))
        let start = try #require(dom[..<id.lowerBound].range(of: "<tr", options: .backwards))
        let end = try #require(dom[id.upperBound...].range(of: "</tr>"))
        return String(dom[start.lowerBound..<end.upperBound])
    }
}
