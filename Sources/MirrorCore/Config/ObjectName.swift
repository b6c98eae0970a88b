import Foundation

/// Names of projects, upstreams, slaves and intervals: `^[a-z0-9][a-z0-9._-]{0,62}$`.
public enum ObjectName {
    public static let pattern = "^[a-z0-9][a-z0-9._-]{0,62}$"

    public static func validate(_ name: String) throws(ValueError) {
        let bytes = name.utf8
        guard let first = bytes.first else { throw ValueError("a name may not be empty") }
        guard bytes.count <= 63 else { throw ValueError("'\(name)' is longer than 63 characters") }
        func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard isLowerAlnum(first) else {
            throw ValueError("'\(name)' must start with a lowercase letter or a digit")
        }
        for b in bytes.dropFirst() where !(isLowerAlnum(b) || b == 0x2E || b == 0x5F || b == 0x2D) {
            throw ValueError("'\(name)' may hold only lowercase letters, digits, '.', '_' and '-'")
        }
    }
}
