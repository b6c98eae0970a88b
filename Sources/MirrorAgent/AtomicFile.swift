import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Writes files so that a reader sees the old content or the new, never half of either, and a crash leaves one of
/// the two: write a temporary file beside it with the final mode, fsync it, rename it over, fsync the directory.
public enum AtomicFile {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(Failure) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary =
            "\(directory)/.\((path as NSString).lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        func fail(_ what: String) -> Failure {
            Failure(message: "cannot \(what) \(path): \(String(cString: strerror(errno)))")
        }
        // O_EXCL with the final mode: the secret is never readable by others, not even for a moment.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw fail("create a temporary file for") }
        var ok = fchmod(fd, mode) == 0
        var written = 0
        bytes.withUnsafeBytes { buffer in
            while ok && written < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 { if errno != EINTR { ok = false } } else { written += n }
            }
        }
        ok = ok && fsync(fd) == 0
        let error = fail("write")
        close(fd)
        guard ok else {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let error = fail("rename into place")
            unlink(temporary)
            throw error
        }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
