import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A certificate authority made for one test with the openssl command, and the agents' certificates it signs: real
/// PEM files, as an operator would make them (docs/operations.md, "TLS between hosts").
public final class TestPKI: Sendable {
    public let directory: String
    /// The CA's certificate: what the clients trust.
    public let caFile: String
    let caKey: String
    let name: String

    /// A certificate and its key.
    public struct Issued: Sendable {
        public let certificate: String
        public let key: String
    }

    /// A new CA in `directory`; `name` keeps two CAs of one test apart.
    public init(in directory: String, name: String = "ca") throws {
        self.directory = directory
        self.name = name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        caFile = directory + "/\(name).pem"
        caKey = directory + "/\(name).key"
        try Self.openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey,
                "-out", caFile, "-days", "30", "-subj", "/CN=mirrorsync test \(name)",
            ], in: directory)
        try "".write(toFile: directory + "/\(name)-index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: directory + "/\(name)-serial", atomically: true, encoding: .utf8)
        try """
        [ca]
        default_ca = test
        [test]
        database = \(directory)/\(name)-index.txt
        new_certs_dir = \(directory)
        serial = \(directory)/\(name)-serial
        default_md = sha256
        policy = any
        unique_subject = no
        [any]
        commonName = supplied

        """.write(toFile: directory + "/\(name).cnf", atomically: true, encoding: .utf8)
    }

    /// A certificate for an agent at `addresses` (IP addresses or DNS names, its subject alternative names), valid from
    /// `notBefore` to `notAfter`: by default from yesterday for 30 days; give past dates for an expired one.
    public func issue(
        _ label: String, addresses: [String], notBefore: Date = Date().addingTimeInterval(-86_400),
        notAfter: Date = Date().addingTimeInterval(30 * 86_400)
    ) throws -> Issued {
        let key = directory + "/\(label).key"
        let request = directory + "/\(label).csr"
        let certificate = directory + "/\(label).pem"
        let extensions = directory + "/\(label).ext"
        let names = addresses.map { $0.first?.isNumber == true || $0.contains(":") ? "IP:\($0)" : "DNS:\($0)" }.joined(
            separator: ",")
        try "[ext]\nbasicConstraints = CA:false\nsubjectAltName = \(names)\n".write(
            toFile: extensions, atomically: true, encoding: .utf8)
        try Self.openssl(
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                request,
                "-subj", "/CN=\(label)",
            ], in: directory)
        try Self.openssl(
            [
                "ca", "-batch", "-config", directory + "/\(name).cnf", "-cert", caFile, "-keyfile", caKey, "-in",
                request,
                "-out", certificate, "-notext", "-extfile", extensions, "-extensions", "ext",
                "-startdate", Self.stamp(notBefore), "-enddate", Self.stamp(notAfter),
            ], in: directory)
        chmod(key, 0o600)
        return Issued(certificate: certificate, key: key)
    }

    /// `YYYYMMDDHHMMSSZ`, as `openssl ca` takes dates.
    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: date)
    }

    static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(
                domain: "TestPKI", code: Int(process.terminationStatus),
                userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments.prefix(1).joined()) failed: \(text)"])
        }
    }
}
