import Foundation
import MirrorCore
#if canImport(Glibc)
    import Glibc
#endif

/// A webhook receiver on a free loopback port (a few lines of Python's http.server): it records every POST, its
/// headers and body, and answers with the status the test sets.
public final class WebhookReceiver: Sendable {
    let process: Process
    let log: String
    let statusFile: String
    /// `http://127.0.0.1:PORT/hook`.
    public let url: String

    public struct Request: Sendable {
        public var headers: [String: String]
        public var body: Data
        public var status: Int

        public func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }

        /// Whether `X-Mirrorsync-Signature` is `sha256=` HMAC-SHA256 of the body under `secret`.
        public func isSigned(with secret: String) -> Bool {
            header("X-Mirrorsync-Signature")
                == "sha256=" + SHA256.hex(SHA256.hmac(key: Array(secret.utf8), Array(body)))
        }
    }

    static let script = """
        import base64, http.server, json, sys
        port, log, status_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    status = int(open(status_file).read().strip())
                except Exception:
                    status = 200
                record = {"headers": dict(self.headers.items()), "body": base64.b64encode(body).decode(), "status": status}
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\\n")
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """

    public init(scratch: Scratch) async throws {
        let port = freePort()
        log = scratch.path + "/webhook-\(port).jsonl"
        statusFile = scratch.path + "/webhook-\(port).status"
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.script, "\(port)", log, statusFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        url = "http://127.0.0.1:\(port)/hook"
        try await eventually("the webhook receiver listens on \(port)", seconds: 20) {
            let fd = connectLoopback(port: port)
            if fd >= 0 { close(fd) }
            return fd >= 0
        }
    }

    /// The status the next POSTs are answered with.
    public func answer(_ status: Int) throws {
        try "\(status)\n".write(toFile: statusFile, atomically: true, encoding: .utf8)
    }

    /// Every POST so far, in order.
    public func requests() -> [Request] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let headers = object["headers"] as? [String: String], let body = object["body"] as? String,
                let status = object["status"] as? Int
            else { return nil }
            return Request(headers: headers, body: Data(base64Encoded: body) ?? Data(), status: status)
        }
    }

    /// The POSTs answered 2xx.
    public func accepted() -> [Request] { requests().filter { (200..<300).contains($0.status) } }

    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A stand-in for sendmail: a shell script at a temporary path that keeps each message it is given, and its argv, in
/// a directory; it fails (exit 75, as sendmail's EX_TEMPFAIL) while the test says so.
public struct FakeSendmail: Sendable {
    /// The script, for `--sendmail`.
    public let path: String
    let directory: String

    public struct Mail: Sendable {
        public var argv: [String]
        public var text: String

        /// A header's value, as the message carries it.
        public func header(_ name: String) -> String? {
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.isEmpty { break }
                if line.lowercased().hasPrefix(name.lowercased() + ": ") {
                    return String(line.dropFirst(name.count + 2))
                }
            }
            return nil
        }

        /// The headers' lines.
        public var headerLines: [String] {
            Array(text.split(separator: "\n", omittingEmptySubsequences: false).prefix { !$0.isEmpty }.map(String.init))
        }
    }

    public init(scratch: Scratch) throws {
        directory = scratch.sub("sendmail-mails")
        path = scratch.path + "/sendmail"
        let script = """
            #!/bin/sh
            dir='\(directory)'
            [ -e "$dir/.fail" ] && exit 75
            f=$(mktemp "$dir/mail.XXXXXX") || exit 71
            printf '%s\\n' "$@" > "$f.argv"
            cat > "$f.tmp" && mv "$f.tmp" "$f.eml"
            rm -f "$f"
            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    /// Whether it fails.
    public func failing(_ fails: Bool) {
        if fails {
            FileManager.default.createFile(atPath: directory + "/.fail", contents: nil)
        } else {
            try? FileManager.default.removeItem(atPath: directory + "/.fail")
        }
    }

    /// Every message it took, oldest first.
    public func mails() -> [Mail] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0.hasSuffix(".eml")
        }
        let dated = names.map { name -> (Date, String) in
            let path = directory + "/" + name
            let date = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? nil
            return (date ?? .distantPast, name)
        }
        return dated.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { _, name in
            let base = directory + "/" + name.dropLast(4)
            let argv = ((try? String(contentsOfFile: base + ".argv", encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
            return Mail(argv: argv, text: (try? String(contentsOfFile: base + ".eml", encoding: .utf8)) ?? "")
        }
    }
}
