// `load`: writes a large mirrors.d, then times, each in a fresh process so that peak memory is its own:
// mirrorsync's load+validate, a bare libyaml event scan in C (the floor under any libyaml-based loader), and
// Python's PyYAML CSafeLoader merely loading the same files.
import Foundation
import MirrorCore
import YAMLScanFloor

#if canImport(Glibc)
    import Glibc
#endif

struct Measurement: Codable {
    var seconds: Double
    var peakKiB: Int
    /// User and system CPU time of the whole process, start-up included: what a parallel loader spends on all cores.
    var cpuSeconds: Double?
}

func peakKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(usage.ru_utime) + s(usage.ru_stime)
}

func emit(_ m: Measurement) {
    let data = (try? JSONEncoder().encode(m)) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Child: mirrorsync's loader, reading and validating the directory, on every core or on one.
func measureLoad(_ directory: String, parallel: Bool) -> Int32 {
    let clock = ContinuousClock()
    let start = clock.now
    do {
        let loaded = try DesiredStateLoader(parallel: parallel).load(directory: directory)
        let elapsed = clock.now - start
        guard loaded.state.projects.count > 0 else { return 1 }
        emit(Measurement(seconds: seconds(elapsed), peakKiB: peakKiB(), cpuSeconds: cpuSeconds()))
        return 0
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        return 1
    }
}

/// Child: mirrorsync's YAML reader alone, building node trees with marks but validating nothing.
func measureRead(_ directory: String) -> Int32 {
    let clock = ContinuousClock()
    let start = clock.now
    guard let paths = try? DesiredStateLoader.configFiles(in: directory) else { return 1 }
    var nodes = 0
    for path in paths {
        guard let bytes = try? DesiredStateLoader.readFile(path), let root = YAMLReader().read(bytes, file: path).root
        else { return 1 }
        nodes += root.weight
    }
    let elapsed = clock.now - start
    emit(Measurement(seconds: seconds(elapsed), peakKiB: peakKiB(), cpuSeconds: cpuSeconds()))
    return nodes > 0 ? 0 : 1
}

/// Child: libyaml's parser over every file, events discarded.
func measureScan(_ directory: String) -> Int32 {
    let clock = ContinuousClock()
    let start = clock.now
    guard let paths = try? DesiredStateLoader.configFiles(in: directory) else { return 1 }
    var events = 0
    for path in paths {
        guard let bytes = try? DesiredStateLoader.readFile(path) else { return 1 }
        let n = bytes.withUnsafeBufferPointer { yaml_scan_floor($0.baseAddress, $0.count) }
        guard n > 0 else { return 1 }
        events += n
    }
    let elapsed = clock.now - start
    emit(Measurement(seconds: seconds(elapsed), peakKiB: peakKiB(), cpuSeconds: cpuSeconds()))
    return events > 0 ? 0 : 1
}

let pythonLoad = """
    import glob, json, os, resource, sys, time, yaml
    Loader = getattr(yaml, "CSafeLoader", None)
    if Loader is None:
        sys.exit("PyYAML has no CSafeLoader (libyaml) here")
    start = time.perf_counter()
    docs = 0
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
        with open(path, "rb") as f:
            yaml.load(f, Loader=Loader)
            docs += 1
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": elapsed, "peakKiB": usage.ru_maxrss, "cpuSeconds": usage.ru_utime + usage.ru_stime}))
    """

/// Runs one contender in its own process and reads its one-line JSON report.
func run(_ executable: String, _ arguments: [String]) throws -> Measurement {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(
            domain: "bench", code: Int(process.terminationStatus),
            userInfo: [NSLocalizedDescriptionKey: "\(executable) \(arguments.joined(separator: " ")) failed"])
    }
    return try JSONDecoder().decode(Measurement.self, from: data)
}

func findExecutable(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Writes a mirrors.d of the given size: the site and intervals in the first file, the rest spread evenly.
func generate(into directory: String, projects: Int, slaves: Int, upstreams: Int, files: Int) throws -> Int {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var total = 0
    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: false, encoding: .utf8)
        total += text.utf8.count
    }
    try write(
        "000-site.yaml",
        """
        # yaml-language-server: $schema=../schemas/mirrors.schema.json
        master:
          api: http://127.0.0.1:7070
          tokenFile: /etc/mirrorsync/token
          root: /srv/mirror
          rsyncd: { address: 0.0.0.0, port: 873 }
          maxConcurrentSyncs: 8
        intervals:
          frequent: { every: 15m, jitter: 1m }
          hourly: { every: 1h }
          six-hourly: { every: 6h, jitter: 10m }
          nightly: { cron: "30 2 * * *", timezone: UTC }

        """)
    let intervals = ["frequent", "hourly", "six-hourly", "nightly"]
    for f in 0..<files {
        var text = "# part \(f + 1) of \(files)\n"
        let upstreamRange = (upstreams * f / files)..<(upstreams * (f + 1) / files)
        if !upstreamRange.isEmpty {
            text += "upstreams:\n"
            for u in upstreamRange {
                text += "  up-\(u):\n    url: rsync://rsync\(u).example.org/pub/\n    timeout: 4h\n"
                if u % 10 == 0 { text += "    bandwidthLimit: 50MiB\n" }
            }
        }
        let slaveRange = (slaves * f / files)..<(slaves * (f + 1) / files)
        if !slaveRange.isEmpty {
            text += "slaves:\n"
            for s in slaveRange {
                text +=
                    "  ftp\(s): { api: \"http://10.0.\(s / 250).\(s % 250 + 1):7071\", insecure: true, publicDir: /srv/ftp/pub }\n"
            }
        }
        text += "projects:\n"
        for p in (projects * f / files)..<(projects * (f + 1) / files) {
            text += """
                  project-\(p):
                    upstream: up-\(p % upstreams)
                    source: dists/project-\(p)/
                    path: pub/project-\(p)
                    interval: \(intervals[p % intervals.count])
                    slaves: \(p % 3 == 0 ? "all" : "[ftp\(p % slaves), ftp\((p + 1) % slaves)]")
                    exclude: ["*.tmp", ".~tmp~/"]
                    twoStage: ["Packages*", "Release*"]
                    rsyncOptions: ["--no-owner", "--no-group"]
                    maxDelete: 10%

                """
        }
        try write(String(format: "%03d-part.yaml", f + 1), text)
    }
    return total
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func loadBenchmark(_ options: [String: String]) throws -> Int32 {
    let projects = Int(options["projects"] ?? "") ?? 10_000
    let slaves = Int(options["slaves"] ?? "") ?? 100
    let upstreams = Int(options["upstreams"] ?? "") ?? 200
    let files = Int(options["files"] ?? "") ?? 100
    let runs = max(1, Int(options["runs"] ?? "") ?? 5)
    let directory = options["keep"] ?? NSTemporaryDirectory() + "mirrorsync-bench-\(getpid())/mirrors.d"
    let bytes = try generate(into: directory, projects: projects, slaves: slaves, upstreams: upstreams, files: files)
    defer {
        if options["keep"] == nil {
            try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
        }
    }
    print(
        "mirrors.d: \(files + 1) files, \(String(format: "%.2f", Double(bytes) / 1e6)) MB, \(projects) projects, \(slaves) slaves, \(upstreams) upstreams; \(runs) runs each, one process per run"
    )

    let me = "/proc/self/exe"
    let python = findExecutable("python3")
    var results: [(String, [Measurement])] = [
        ("libyaml event scan (C)", []), ("mirrorsync load+validate", []), ("  the same on one thread", []),
        ("  its YAML reader alone", []), ("PyYAML CSafeLoader load", []),
    ]
    for _ in 0..<runs {
        results[0].1.append(try run(me, ["_scan", directory]))
        results[1].1.append(try run(me, ["_load", directory]))
        results[2].1.append(try run(me, ["_load1", directory]))
        results[3].1.append(try run(me, ["_read", directory]))
        if let python { results[4].1.append(try run(python, ["-c", pythonLoad, directory])) }
    }
    let floor = median(results[0].1.map(\.seconds))
    print("")
    print("contender                      median s     min s   x scan   peak MiB   process CPU s")
    for (name, measurements) in results where !measurements.isEmpty {
        let med = median(measurements.map(\.seconds))
        let peak = Double(measurements.map(\.peakKiB).max()!) / 1024
        let cpu = median(measurements.compactMap(\.cpuSeconds))
        print(
            name.padding(toLength: 28, withPad: " ", startingAt: 0)
                + String(
                    format: "  %9.3f %9.3f %8.2f %10.1f %15.3f", med, measurements.map(\.seconds).min()!, med / floor,
                    peak, cpu))
    }
    print("(wall times exclude process start-up; CPU time includes it, and for Python the interpreter's start)")
    if python == nil { print("PyYAML: python3 not found; skipped") }
    let load = results[1].1
    let ratio = median(load.map(\.seconds)) / floor
    let peak = Double(load.map(\.peakKiB).max()!) / 1024
    let timeOK = ratio <= 3.0
    let memoryOK = peak < 100
    print("")
    print("target load+validate <= 3x the bare scan: \(String(format: "%.2fx", ratio)) \(timeOK ? "met" : "MISSED")")
    print("target peak memory < 100 MiB: \(String(format: "%.1f MiB", peak)) \(memoryOK ? "met" : "MISSED")")
    return timeOK && memoryOK ? 0 : 1
}
