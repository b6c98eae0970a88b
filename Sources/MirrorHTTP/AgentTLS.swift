import Foundation
import MirrorCore
import NIOSSL
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// A certificate, key or CA file that cannot be used, and why, naming the file.
public struct TLSFileError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The TLS of the agents' API: the server's certificate and key, and the clients' trust in a CA file.
public enum AgentTLS {
    /// An agent's server side: its certificate chain (PEM, the agent's own first) and its private key (PEM). Every
    /// problem is found here, at start: an unreadable file, a file without a certificate, a key that is not the
    /// certificate's.
    public static func serverConfiguration(certificateFile: String, keyFile: String) throws(TLSFileError)
        -> TLSConfiguration
    {
        let chain = try certificates(in: certificateFile, what: "the TLS certificate")
        try readable(keyFile, what: "the TLS key")
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyFile, format: .pem) } catch {
            throw TLSFileError("the TLS key \(keyFile) holds no private key in PEM form (\(error))")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // BoringSSL checks that the key is the certificate's when the context is made.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw TLSFileError(
                "the TLS key \(keyFile) does not belong to the certificate \(certificateFile) (\(error))")
        }
        return configuration
    }

    /// When the leaf certificate of `file` stops being valid, for a warning at start.
    public static func expiry(of file: String) -> Date? {
        guard let leaf = try? NIOSSLCertificate.fromPEMFile(file).first else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
    }

    /// A client's configuration for an https:// API: verified against the CAs of `caFile`, or the system's trust store
    /// when nil; the agent's name or address must be in its certificate. A CA file is read again when it changes.
    public static func clientConfiguration(caFile: String?) throws(TLSFileError) -> TLSConfiguration {
        guard let caFile else { return systemTrust }
        return try trust.configuration(caFile)
    }

    /// Checks that `caFile` can verify agents, as `clientConfiguration` would read it.
    public static func checkCAFile(_ caFile: String) throws(TLSFileError) { _ = try trust.configuration(caFile) }

    static let systemTrust: TLSConfiguration = {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }()

    static let trust = TrustCache()

    /// Every certificate of a PEM file (one or several: a CA bundle, or a certificate and its chain).
    static func certificates(in file: String, what: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        try readable(file, what: what)
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMFile(file) } catch {
            throw TLSFileError("\(what) \(file) is not a PEM certificate file (\(error))")
        }
        guard !certificates.isEmpty else {
            throw TLSFileError("\(what) \(file) holds no certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    /// The system's reason a file cannot be read, before a TLS library gives a vaguer one.
    static func readable(_ file: String, what: String) throws(TLSFileError) {
        guard access(file, R_OK) == 0 else {
            throw TLSFileError("cannot read \(what) \(file): \(String(cString: strerror(errno)))")
        }
    }
}

/// CA files as client configurations, each read once and again when its size, modification time or inode changes, so
/// that a renewed CA bundle is picked up without a restart and a call does not parse PEM.
final class TrustCache: Sendable {
    struct Stamp: Equatable {
        var inode: UInt64, size: Int64, modified: Int, modifiedNanoseconds: Int
    }

    private let entries = Mutex<[String: (stamp: Stamp, configuration: TLSConfiguration)]>([:])

    func configuration(_ caFile: String) throws(TLSFileError) -> TLSConfiguration {
        var info = stat()
        guard stat(caFile, &info) == 0 else {
            throw TLSFileError("cannot read the CA file \(caFile): \(String(cString: strerror(errno)))")
        }
        let stamp = Stamp(
            inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: info.st_mtim.tv_sec,
            modifiedNanoseconds: info.st_mtim.tv_nsec)
        if let kept = entries.withLock({ $0[caFile] }), kept.stamp == stamp { return kept.configuration }
        let roots = try AgentTLS.certificates(in: caFile, what: "the CA file")
        var configuration = AgentTLS.systemTrust
        configuration.trustRoots = .certificates(roots)
        entries.withLock { $0[caFile] = (stamp, configuration) }
        return configuration
    }
}
