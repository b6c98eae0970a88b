// `startup`: the binary users install, as whole processes started fresh, beside the floors built by this run:
// `mirrorsync --version` against a Swift program that imports Foundation (linked statically and dynamically), and
// `mirrorsync validate` of a large mirrors.d against the bare libyaml event scan as a C program of its own.
// Contenders are alternated (the order reversed every round) so that whichever runs later is not always the same.
import Foundation
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// One fresh process: its wall time from spawn to reaped, and the CPU time the kernel charged it (user + system).
struct ProcessTiming {
    var wall: Double
    var cpu: Double
}

/// Spawns `argv` with stdout and stderr on /dev/null and waits for it; fails unless it exits 0.
func timeProcess(_ argv: [String]) throws -> ProcessTiming {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    var pid: pid_t = 0
    let start = ContinuousClock.now
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    guard rc == 0 else { throw BenchError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let wall = seconds(ContinuousClock.now - start)
    // A normal exit leaves the low 7 bits 0; the code is in the next byte.
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
        throw BenchError("\(argv.joined(separator: " ")) failed (status \(status))")
    }
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return ProcessTiming(wall: wall, cpu: s(usage.ru_utime) + s(usage.ru_stime))
}

/// Runs a build step of the benchmark's floors; its output is shown only when it fails.
func buildFloor(_ argv: [String]) async throws {
    let (status, stdout, stderr) = try await runProgram("/usr/bin/env", argv)
    guard status == 0 else { throw BenchError("\(argv.joined(separator: " ")) failed:\n\(stdout)\(stderr)") }
}

/// The C scan as a program: the config files of a directory in byte order (as the loader picks them), each read
/// whole and scanned by `yaml_scan_floor` (Benchmarks/YAMLScanFloor/scan.c, the same function `load` calls in-process).
let scanMain = """
    #include <dirent.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include "YAMLScanFloor.h"
    static int config(const struct dirent *e) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || e->d_name[0] == '#' || e->d_name[n - 1] == '~') return 0;
        return (n > 5 && !strcmp(e->d_name + n - 5, ".yaml")) || (n > 4 && !strcmp(e->d_name + n - 4, ".yml"));
    }
    static int bytewise(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }
    int main(int argc, char **argv) {
        struct dirent **names;
        int n = scandir(argv[1], &names, config, bytewise);
        if (n <= 0) return 1;
        long events = 0;
        char path[4096];
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/%s", argv[1], names[i]->d_name);
            FILE *f = fopen(path, "rb");
            if (!f) return 1;
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            rewind(f);
            unsigned char *bytes = malloc(size > 0 ? size : 1);
            if (fread(bytes, 1, size, f) != (size_t)size) return 1;
            fclose(f);
            long count = yaml_scan_floor(bytes, size);
            free(bytes);
            if (count < 0) return 1;
            events += count;
        }
        printf("%ld events in %d files\\n", events, n);
        return 0;
    }
    """

/// A Swift program importing Foundation that does what `--version` does: print one line.
let helloFoundation = """
    import Foundation
    print(ProcessInfo.processInfo.arguments.count > 5 ? "" : "0.1.0")
    """

/// The binary users install: `--binary`, else the release build of scripts/release.sh (.build-release), else the
/// `mirrorsync` built beside this benchmark.
func installedBinary(_ options: [String: String], packageRoot: String) -> String? {
    let sibling = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("mirrorsync").path
    let candidates = [options["binary"], packageRoot + "/.build-release/release/mirrorsync", sibling].compactMap { $0 }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

func startupBenchmark(_ options: [String: String]) async throws -> Int32 {
    let runs = max(1, Int(options["runs"] ?? "") ?? 15)
    let projects = Int(options["projects"] ?? "") ?? 10_000
    let files = Int(options["files"] ?? "") ?? 100
    // Benchmarks/MirrorBench/StartupBenchmark.swift: the package is two folders up.
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    guard let binary = installedBinary(options, packageRoot: packageRoot) else {
        throw BenchError(
            "no mirrorsync binary: run scripts/release.sh (or swift build -c release --product mirrorsync), or give --binary"
        )
    }
    let work = NSTemporaryDirectory() + "mirrorsync-startup-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: work) }

    print("building the floors in \(work) ...")
    try helloFoundation.write(toFile: work + "/hello.swift", atomically: false, encoding: .utf8)
    try await buildFloor(["swiftc", "-O", work + "/hello.swift", "-o", work + "/hello-dynamic"])
    try await buildFloor(["swiftc", "-O", "-static-stdlib", work + "/hello.swift", "-o", work + "/hello-static"])
    try scanMain.write(toFile: work + "/scan-main.c", atomically: false, encoding: .utf8)
    let floorSources = packageRoot + "/Benchmarks/YAMLScanFloor"
    try await buildFloor([
        "cc", "-O2", "-I", floorSources + "/include", work + "/scan-main.c", floorSources + "/scan.c", "-lyaml", "-o",
        work + "/yaml-scan",
    ])

    let directory = work + "/mirrors.d"
    let bytes = try generate(into: directory, projects: projects, slaves: 100, upstreams: 200, files: files)
    print("binary: \(binary)")
    print(
        "mirrors.d: \(files + 1) files, \(String(format: "%.2f", Double(bytes) / 1e6)) MB, \(projects) projects; \(runs) rounds, contenders alternated"
    )

    let contenders: [(name: String, argv: [String])] = [
        ("mirrorsync --version", [binary, "--version"]),
        ("Swift + Foundation, static", [work + "/hello-static"]),
        ("Swift + Foundation, dynamic", [work + "/hello-dynamic"]),
        ("mirrorsync validate", [binary, "validate", directory]),
        ("libyaml event scan (C)", [work + "/yaml-scan", directory]),
    ]
    // Warm the page cache and the loader's caches once, unmeasured.
    for contender in contenders { _ = try timeProcess(contender.argv) }
    var timings = [[ProcessTiming]](repeating: [], count: contenders.count)
    for round in 0..<runs {
        let order = round % 2 == 0 ? Array(contenders.indices) : contenders.indices.reversed()
        for i in order { timings[i].append(try timeProcess(contenders[i].argv)) }
    }

    print("")
    print("contender                        median ms    min ms    max ms   CPU ms (median)")
    for (i, contender) in contenders.enumerated() {
        let wall = timings[i].map { $0.wall * 1000 }
        print(
            contender.name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(
                    format: "  %9.2f %9.2f %9.2f %12.2f", Bench.median(wall), wall.min()!, wall.max()!,
                    Bench.median(timings[i].map { $0.cpu * 1000 })))
    }
    let version = Bench.median(timings[0].map { $0.wall * 1000 })
    // Each round's validate over the same round's scan: "within 2x every run" is about the worst round.
    let ratios = zip(timings[3], timings[4]).map { $0.wall / $1.wall }
    print("")
    print(
        String(
            format: "start-up: mirrorsync --version %.2f ms, %.2fx the static Foundation floor, %.2fx the dynamic one",
            version,
            version / Bench.median(timings[1].map { $0.wall * 1000 }),
            version / Bench.median(timings[2].map { $0.wall * 1000 })))
    print(
        String(
            format: "validate / scan, same round: median %.2fx, best %.2fx, worst %.2fx", Bench.median(ratios),
            ratios.min()!, ratios.max()!))
    let startupMet = version < 5
    let loadMet = ratios.max()! <= 2
    print("target --version under 5 ms: \(startupMet ? "met" : "MISSED")")
    print("target validate within 2x the scan, every round: \(loadMet ? "met" : "MISSED")")
    return startupMet && loadMet ? 0 : 1
}
