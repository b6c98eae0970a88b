import Foundation
import MirrorTestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// A TCP connection to a loopback port made by hand: a client that sends nothing, or a byte at a time, as no HTTP
/// library will. Its calls block: the tests make them off Swift's pool (`offPool`).
final class RawConnection: Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = connectLoopback(port: port)
        guard fd >= 0 else {
            throw RawConnectionError(
                message: "cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Ends both directions now, as a client that goes away does: an agent still reading from it sees the end.
    func hangUp() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    /// False once the agent has closed its end (the write fails).
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// What the agent sent until it closed the connection or `seconds` passed, and whether it closed it.
    /// What arrives within `seconds`, or until the agent closes the connection, or until what arrived satisfies
    /// `enough` (a whole response head, say).
    func read(seconds: Double, until enough: ((String) -> Bool)? = nil) -> (text: String, closed: Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return (String(decoding: received, as: UTF8.self), false) }
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiting, 1, Int32(max(1, left * 1000)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[..<n]
            if let enough, enough(String(decoding: received, as: UTF8.self)) {
                return (String(decoding: received, as: UTF8.self), false)
            }
        }
    }
}

struct RawConnectionError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
