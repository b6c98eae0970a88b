#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A bearer token (the operator's, or an agent's own), read from its file: never inline, never readable by every user.
public enum TokenFile {
    public static func read(_ path: String) throws(ValueError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValueError("cannot read the token file \(path): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & 0o004 != 0 {
            throw ValueError(
                "the token file \(path) is readable by every user (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
            )
        }
        let bytes: [UInt8]
        do throws(ValueError) { bytes = try DesiredStateLoader.readFile(path) } catch {
            throw ValueError("cannot read the token file \(path): \(error.message)")
        }
        var token = Substring(decoding: bytes, as: UTF8.self)
        while let last = token.last, last.isWhitespace { token = token.dropLast() }
        while let first = token.first, first.isWhitespace { token = token.dropFirst() }
        guard !token.isEmpty else { throw ValueError("the token file \(path) is empty") }
        return String(token)
    }
}
