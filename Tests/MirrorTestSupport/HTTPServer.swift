import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// `python3 -m http.server` over `directory` on a free loopback port, stopped with `stop`.
public final class HTTPServer: Sendable {
    let process: Process
    /// `http://127.0.0.1:PORT/`.
    public let url: String

    public init(serving directory: String) async throws {
        let port = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", directory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        url = "http://127.0.0.1:\(port)/"
        try await eventually("http.server listens on \(port)", seconds: 20) {
            let fd = connectLoopback(port: port)
            if fd >= 0 { close(fd) }
            return fd >= 0
        }
    }

    /// SIGKILL: a child that Foundation's `Process` starts here inherits the test runner's blocked signals, SIGTERM
    /// among them.
    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
