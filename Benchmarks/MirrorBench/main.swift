// mirrorsync-bench: release-build benchmarks that print figures side by side.
//
//   swift run -c release mirrorsync-bench load    [--projects N] [--slaves N] [--upstreams N] [--files N] [--runs N] [--keep DIR]
//   swift run -c release mirrorsync-bench runner  [--files N] [--mib N] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench agent   [--projects N] [--requests N]
//   swift run -c release mirrorsync-bench plan    [--projects N] [--slaves N] [--changed SHARE]
//   swift run -c release mirrorsync-bench chain   [--files N] [--mib N] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench watch   [--projects N] [--slaves N] [--edits N] [--debounce-ms N]
//   swift run -c release mirrorsync-bench push    [--files N] [--mib N] [--changed SHARE] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench startup [--binary PATH] [--runs N] [--projects N] [--files N]
//   swift run -c release mirrorsync-bench twostage [--files N] [--mib N] [--runs N] [--dir DIR] [--arguments 1]
//   swift run -c release mirrorsync-bench atomic  [--files N] [--mib N] [--changed SHARE] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench fanout  [--slaves N] [--files N] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench fanout1000 [--slaves N] [--files N] [--pool N] [--max-connections N] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench probe   [--files N] [--mib N] [--runs N] [--dir DIR]
//   swift run -c release mirrorsync-bench status  [--projects N] [--runs N] [--requests N]
//   swift run -c release mirrorsync-bench incremental [--files N] [--changed SHARE] [--runs N] [--dir DIR]
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

func parseOptions(_ arguments: ArraySlice<String>) -> [String: String] {
    var options: [String: String] = [:]
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        guard argument.hasPrefix("--") else { continue }
        options[String(argument.dropFirst(2))] = iterator.next() ?? ""
    }
    return options
}

let arguments = CommandLine.arguments
let usage = """
    usage: mirrorsync-bench load   [--projects N] [--slaves N] [--upstreams N] [--files N] [--runs N] [--keep DIR]
           mirrorsync-bench runner [--files N] [--mib N] [--runs N] [--dir DIR]
           mirrorsync-bench agent  [--projects N] [--requests N]
           mirrorsync-bench plan   [--projects N] [--slaves N] [--changed SHARE]
           mirrorsync-bench chain  [--files N] [--mib N] [--runs N] [--dir DIR]
           mirrorsync-bench watch  [--projects N] [--slaves N] [--edits N] [--debounce-ms N]
           mirrorsync-bench push   [--files N] [--mib N] [--changed SHARE] [--runs N] [--dir DIR]
           mirrorsync-bench startup [--binary PATH] [--runs N] [--projects N] [--files N]
           mirrorsync-bench twostage [--files N] [--mib N] [--runs N] [--dir DIR] [--arguments 1]
           mirrorsync-bench atomic [--files N] [--mib N] [--changed SHARE] [--runs N] [--dir DIR]
           mirrorsync-bench fanout [--slaves N] [--files N] [--runs N] [--dir DIR]
           mirrorsync-bench fanout1000 [--slaves N] [--files N] [--pool N] [--max-connections N] [--runs N] [--dir DIR]
           mirrorsync-bench probe  [--files N] [--mib N] [--runs N] [--dir DIR]
           mirrorsync-bench status [--projects N] [--runs N] [--requests N]
           mirrorsync-bench incremental [--files N] [--changed SHARE] [--runs N] [--dir DIR]
    """

func report(_ body: () async throws -> Int32) async -> Never {
    do { exit(try await body()) } catch {
        FileHandle.standardError.write(Data("mirrorsync-bench: \(error)\n".utf8))
        exit(1)
    }
}

switch arguments.dropFirst().first {
case "_load": exit(measureLoad(arguments[2], parallel: true))
case "_load1": exit(measureLoad(arguments[2], parallel: false))
case "_scan": exit(measureScan(arguments[2]))
case "_read": exit(measureRead(arguments[2]))
case "_agent": await report { try await runAgent(parseOptions(arguments.dropFirst(2))) }
case "load": await report { try loadBenchmark(parseOptions(arguments.dropFirst(2))) }
case "runner": await report { try await runnerBenchmark(parseOptions(arguments.dropFirst(2))) }
case "agent": await report { try await agentBenchmark(parseOptions(arguments.dropFirst(2))) }
case "plan": await report { try planBenchmark(parseOptions(arguments.dropFirst(2))) }
case "chain": await report { try await chainBenchmark(parseOptions(arguments.dropFirst(2))) }
case "watch": await report { try await watchBenchmark(parseOptions(arguments.dropFirst(2))) }
case "push": await report { try await pushBenchmark(parseOptions(arguments.dropFirst(2))) }
case "startup": await report { try await startupBenchmark(parseOptions(arguments.dropFirst(2))) }
case "twostage": await report { try await twoStageBenchmark(parseOptions(arguments.dropFirst(2))) }
case "atomic": await report { try await atomicBenchmark(parseOptions(arguments.dropFirst(2))) }
case "fanout": await report { try await fanoutBenchmark(parseOptions(arguments.dropFirst(2))) }
case "fanout1000": await report { try await fanout1000Benchmark(parseOptions(arguments.dropFirst(2))) }
case "probe": await report { try await probeBenchmark(parseOptions(arguments.dropFirst(2))) }
case "status": await report { try await statusBenchmark(parseOptions(arguments.dropFirst(2))) }
case "incremental": await report { try await incrementalBenchmark(parseOptions(arguments.dropFirst(2))) }
default:
    print(usage)
    exit(2)
}
