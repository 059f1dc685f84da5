import Foundation
import HTTPClient
import JSON

/// An upstream API under test control (Resources/upstream.py, see its docstring for the
/// scenarios), as a child process that exits when the test process closes its stdin.
public final class Upstream: Sendable {
    public let port: Int
    private let process: Process
    private let stdin: Pipe

    private init(port: Int, process: Process, stdin: Pipe) {
        (self.port, self.process, self.stdin) = (port, process, stdin)
    }

    public static func start() throws -> Upstream {
        guard let script = Bundle.module.url(forResource: "upstream", withExtension: "py") else { throw Failure(description: "upstream.py missing from the bundle") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", script.path]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        var banner = Data()
        while !banner.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            banner.append(chunk)
        }
        let parts = String(decoding: banner, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard parts.count == 2, let port = Int(parts[1]) else {
            process.terminate()
            throw Failure(description: "unexpected banner")
        }
        return Upstream(port: port, process: process, stdin: stdin)
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Requests the upstream received: (path, Idempotency-Key).
    public func log(_ client: HTTPClient) async throws -> [(path: String, key: String?)] {
        let response = try await client.execute(HTTPRequest(url: url("/_log")))
        guard case .array(let entries) = try JSONValue.parse(response.body) else { return [] }
        return entries.map { (path: $0["path"]?.stringValue ?? "", key: $0["idempotency_key"]?.stringValue) }
    }

    public func stop() {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }
}

