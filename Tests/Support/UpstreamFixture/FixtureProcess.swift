import Foundation

/// A Python test server as a child process: started with `arguments`, it prints
/// `PORT <n>` as its first line and exits when its stdin closes (`stop()`).
public final class FixtureProcess: Sendable {
    public let port: Int
    private let process: Process
    private let stdin: Pipe

    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
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
        guard parts.count == 2, parts[0] == "PORT", let port = Int(parts[1]) else {
            process.terminate()
            throw FixtureError(description: "\(arguments.first ?? "fixture") printed no PORT banner")
        }
        (self.port, self.process, self.stdin) = (port, process, stdin)
    }

    public func stop() {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    public struct FixtureError: Error, CustomStringConvertible { public var description: String }
}
