public import Foundation
import Logging

/// A child process (broker or service) with its output in a log file, stoppable gracefully
/// (SIGTERM, then SIGKILL after a grace period) or abruptly (`kill -9`, for crash tests).
public final class ManagedProcess: @unchecked Sendable {
    // Foundation.Process is not Sendable; every access goes through `lock`.
    private let lock = NSLock()
    private let process: Process
    private let stdinPipe = Pipe()
    public let name: String
    public let logPath: String

    public init(name: String, executable: String, arguments: [String], environment: [String: String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw DevStackError("cannot open log file \(logPath)")
        }
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        // The child reads this pipe only to notice EOF: when this process dies, the pipe closes
        // and a child started with SWITCHBOARD_EXIT_ON_STDIN_EOF=1 shuts itself down.
        process.standardInput = stdinPipe
        try process.run()
    }

    public var pid: Int32 { lock.withLock { process.processIdentifier } }
    public var isRunning: Bool { lock.withLock { process.isRunning } }
    public var exitStatus: Int32? { lock.withLock { process.isRunning ? nil : process.terminationStatus } }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> Int32 {
        if isRunning { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if isRunning { kill(pid, SIGKILL) }
        return await waitForExit()
    }

    /// `kill -9`: no shutdown code runs, as in a crash.
    public func killHard() async {
        if isRunning { kill(pid, SIGKILL) }
        _ = await waitForExit()
    }

    public func waitForExit() async -> Int32 {
        while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return lock.withLock { process.terminationStatus }
    }

    public func logTail(lines: Int = 40) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

public struct DevStackError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
