@testable import MirrorAgent
import MirrorCore

extension SyncSource {
    /// An rsync upstream from a test's own URL or directory, which is always well formed.
    static func test(_ text: String, passwordFile: String? = nil) -> SyncSource {
        do { return try .upstream(text, passwordFile: passwordFile) } catch {
            fatalError("the test's upstream '\(text)' does not parse: \(error.message)")
        }
    }
}
