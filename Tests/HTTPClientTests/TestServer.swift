import Foundation
import HTTPClient
import Logging

/// The Python test server (Resources/http_test_server.py) running as a child process.
///
/// Always stopped by `withTestServer`; if the test process dies instead, the
/// server sees EOF on stdin and exits, and it exits after 120 s regardless.
final class TestServer: Sendable {
    struct StartupError: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    /// A port that was bound and closed again: connecting to it is refused.
    let closedPort: Int
    private let process: Process
    private let stdin: Pipe
    private let exited: AsyncStream<Int32>

    private init(port: Int, closedPort: Int, process: Process, stdin: Pipe, exited: AsyncStream<Int32>) {
        self.port = port
        self.closedPort = closedPort
        self.process = process
        self.stdin = stdin
        self.exited = exited
    }

    func url(_ pathAndQuery: String) -> String {
        "http://127.0.0.1:\(port)\(pathAndQuery)"
    }

    static func start() async throws -> TestServer {
        guard let script = Bundle.module.url(forResource: "http_test_server", withExtension: "py") else {
            throw StartupError(description: "http_test_server.py missing from the test bundle")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", script.path]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        let (exited, exitContinuation) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        try process.run()

        // Blocking read of the first line on its own thread, not the cooperative pool.
        let line = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let reader = stdout.fileHandleForReading
            Thread {
                var data = Data()
                while !data.contains(UInt8(ascii: "\n")) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    data.append(chunk)
                }
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }.start()
        }
        let parts = line.split(whereSeparator: \.isWhitespace)
        guard parts.count == 4, parts[0] == "PORT", let port = Int(parts[1]), let closed = Int(parts[3]) else {
            process.terminate()
            throw StartupError(description: "unexpected server banner: \(line.debugDescription)")
        }
        return TestServer(port: port, closedPort: closed, process: process, stdin: stdin, exited: exited)
    }

    func stop() async {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        for await _ in exited {}
    }
}

/// Runs `body` with a fresh server and client; both are shut down on every path.
func withFixture<T>(
    maxConcurrentRequests: Int = 8,
    _ body: (TestServer, HTTPClient) async throws -> T
) async throws -> T {
    let server = try await TestServer.start()
    var logger = Logger(label: "HTTPClientTests")
    logger.logLevel = .info
    let client = HTTPClient(
        maxConcurrentRequests: maxConcurrentRequests, userAgent: "switchboard-test", logger: logger)
    do {
        let result = try await body(server, client)
        await client.shutdown()
        await server.stop()
        return result
    } catch {
        await client.shutdown()
        await server.stop()
        throw error
    }
}
