import Foundation
import NIOCore
#if canImport(Glibc)
    import Glibc
#endif

/// An agent that cannot start, and why, in one line.
public struct AgentStartError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// The agent's services stopped with `error`: the API's socket could not be bound to `address` (by the
    /// system's error number, not the error's text), or something else stopped it.
    static func stopped(by error: any Error, listening address: String) -> AgentStartError {
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return AgentStartError("cannot listen on \(address): the address is already in use")
            case EADDRNOTAVAIL, EACCES:
                return AgentStartError("cannot listen on \(address): \(String(cString: strerror(io.errnoCode)))")
            default: break
            }
        }
        return AgentStartError("the agent stopped: \(error)")
    }
}
