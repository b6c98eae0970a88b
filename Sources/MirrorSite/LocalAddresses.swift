import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// This host's own addresses and names, to tell which of a site's agents `up` runs here.
public struct LocalAddresses: Sendable {
    /// Every address of every interface, numeric (`127.0.0.1`, `::1`, `10.0.0.5`).
    public let addresses: Set<String>
    /// The host's name, as `gethostname` gives it.
    public let hostName: String

    public init(addresses: Set<String>, hostName: String) {
        self.addresses = addresses
        self.hostName = hostName
    }

    /// This machine's interfaces and name.
    public static func current() -> LocalAddresses {
        var found: Set<String> = []
        var list: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&list) == 0, let first = list {
            var entry: UnsafeMutablePointer<ifaddrs>? = first
            while let current = entry {
                if let address = current.pointee.ifa_addr, let text = numeric(address) { found.insert(text) }
                entry = current.pointee.ifa_next
            }
            freeifaddrs(first)
        }
        var name = [CChar](repeating: 0, count: 256)
        let hostName = gethostname(&name, name.count) == 0 ? String(cString: name) : ""
        return LocalAddresses(addresses: found, hostName: hostName)
    }

    /// Whether `host` (a name or an address of an agent's API) is this machine: a loopback address, an address of one
    /// of its interfaces, `localhost`, its host name, or a name that resolves to one of its addresses.
    public func contains(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        if let address = Self.parse(host) { return isOwn(address) }
        if !hostName.isEmpty
            && (host == hostName.lowercased()
                || host.split(separator: ".").first.map(String.init) == hostName.lowercased())
        {
            return true
        }
        return Self.resolve(host).contains { isOwn($0) }
    }

    func isOwn(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || addresses.contains(address)
    }

    /// A numeric address in its canonical text, or nil for a name.
    static func parse(_ text: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return text }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            return inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)).map { _ in String(cString: buffer) }
        }
        return nil
    }

    /// The addresses a name resolves to; none when it does not resolve.
    static func resolve(_ name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr, let text = numeric(address) { addresses.append(text) }
            entry = current.pointee.ai_next
        }
        return addresses
    }

    static func numeric(_ address: UnsafeMutablePointer<sockaddr>) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let length: Int
        switch Int32(address.pointee.sa_family) {
        case AF_INET: length = MemoryLayout<sockaddr_in>.size
        case AF_INET6: length = MemoryLayout<sockaddr_in6>.size
        default: return nil
        }
        guard getnameinfo(address, socklen_t(length), &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0
        else { return nil }
        // A link-local IPv6 address comes with its zone: fe80::1%eth0.
        return String(cString: buffer).split(separator: "%").first.map(String.init)
    }
}
