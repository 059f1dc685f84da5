import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import JSON
public import Logging
import MCP
import SystemPackage
public import ToolRuntime

/// How to start a Model Context Protocol server that speaks over stdio (a domain pack's `mcp`
/// section): the command and its environment, and how long one call may take.
public struct MCPServerSpec: Sendable, Hashable {
    public var name: String
    /// The executable (looked up on PATH) and its arguments.
    public var command: [String]
    public var environment: [String: String]
    public var timeout: Duration

    public init(name: String, command: [String], environment: [String: String] = [:], timeout: Duration = .seconds(5)) {
        self.name = name
        self.command = command
        self.environment = environment
        self.timeout = timeout
    }
}

extension MCPServerSpec {
    /// The server process, started, with pipes to its stdin and from its stdout (its stderr
    /// goes where this process's does).
    func launch() throws -> (Process, Pipe, Pipe) {
        guard let executable = command.first else { throw MCPError("mcp server \(name): empty command") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + command.dropFirst()
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let toServer = Pipe()
        let fromServer = Pipe()
        process.standardInput = toServer
        process.standardOutput = fromServer
        do {
            try process.run()
        } catch {
            throw MCPError("mcp server \(name): cannot start \(command.joined(separator: " ")): \(error)")
        }
        return (process, toServer, fromServer)
    }
}

/// A tool as an MCP server lists it.
public struct MCPToolDescription: Sendable, Equatable {
    public var name: String
    public var description: String
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue?
    /// The server's `readOnlyHint`: a read-only tool needs no approval by default.
    public var readOnly: Bool

    public init(name: String, description: String, inputSchema: JSONValue, outputSchema: JSONValue?, readOnly: Bool) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.readOnly = readOnly
    }
}

public struct MCPError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
    init(_ description: String) { self.description = description }
}

/// One MCP server process and the client session with it (modelcontextprotocol/swift-sdk over
/// the process's stdin and stdout). Calls carry the step id in `_meta` (`idempotencyKey`), so a
/// server that honours it applies a repeated write once, as `Idempotency-Key` does over HTTP.
public actor MCPSession {
    public let spec: MCPServerSpec
    let process: Process
    let client: Client
    let logger: Logger

    init(spec: MCPServerSpec, process: Process, client: Client, logger: Logger) {
        self.spec = spec
        self.process = process
        self.client = client
        self.logger = logger
    }

    /// Starts the server and completes the MCP handshake.
    public static func start(_ spec: MCPServerSpec, logger: Logger) async throws -> MCPSession {
        // A server that exits closes its end of the pipe; writing to it must be an error the
        // session handles, not SIGPIPE ending this process.
        _ = ignoreBrokenPipes
        let (process, toServer, fromServer) = try spec.launch()
        let transport = StdioTransport(
            input: FileDescriptor(rawValue: fromServer.fileHandleForReading.fileDescriptor),
            output: FileDescriptor(rawValue: toServer.fileHandleForWriting.fileDescriptor),
            logger: logger)
        let client = Client(name: "switchboard-executor", version: "1")
        // The SDK's receive loop spins once the server's output ends, until the client is
        // disconnected: disconnect as soon as the server exits (and on every failure here).
        process.terminationHandler = { _ in Task { await client.disconnect() } }
        if !process.isRunning { await client.disconnect() }
        do {
            _ = try await withTimeout(spec.timeout) { try await client.connect(transport: transport) }
        } catch {
            await client.disconnect()
            if process.isRunning { process.terminate() }
            throw MCPError("mcp server \(spec.name): handshake failed: \(error)")
        }
        return MCPSession(spec: spec, process: process, client: client, logger: logger)
    }

    public var isRunning: Bool { process.isRunning }

    public func stop() async {
        await client.disconnect()
        if process.isRunning { process.terminate() }
    }

    /// Every tool the server lists (following its pages).
    public func listTools() async throws -> [MCPToolDescription] {
        var tools: [MCPToolDescription] = []
        var cursor: String?
        repeat {
            let page = try await withTimeout(spec.timeout) { [client, cursor] in try await client.listTools(cursor: cursor) }
            for tool in page.tools {
                tools.append(MCPToolDescription(
                    name: tool.name, description: tool.description ?? tool.name, inputSchema: try Self.json(tool.inputSchema),
                    outputSchema: try tool.outputSchema.map(Self.json), readOnly: tool.annotations.readOnlyHint ?? false))
            }
            cursor = page.nextCursor
        } while cursor != nil
        return tools
    }

    /// Calls a tool: its structured content when it gives one, else its text content parsed as
    /// JSON (or `{"text": …}`). `isError` is a failure the customer can be told about; no
    /// answer within `timeout` is a timeout.
    public func call(tool: String, arguments: JSONValue, idempotencyKey: String, timeout: Duration) async throws -> Result<JSONValue, ToolCallFailure> {
        guard case .object = arguments, case .object(let object) = try Self.value(arguments) else {
            return .failure(.invalidCall("arguments must be an object"))
        }
        let meta = Metadata(additionalFields: ["idempotencyKey": .string(idempotencyKey)])
        let result: CallTool.Result
        do {
            result = try await withTimeout(timeout) { [client] in
                try await client.send(CallTool.request(.init(name: tool, arguments: object, meta: meta))).value
            }
        } catch is TimedOut {
            return .failure(.timeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return .failure(.transport("mcp server \(spec.name): \(error)"))
        }
        if result.isError == true {
            let text = result.content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined(separator: " ")
            return .failure(.toolError(text))
        }
        if let structured = result.structuredContent { return .success(try Self.json(structured)) }
        let text = result.content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined()
        if let parsed = try? JSONValue.parse(text) { return .success(parsed) }
        return .success(.object(["text": .string(text)]))
    }

    static func json(_ value: Value) throws -> JSONValue {
        try JSONValue.parse(Array(JSONEncoder().encode(value)))
    }

    static func value(_ json: JSONValue) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(json.serialized()))
    }
}

struct TimedOut: Error {}

/// Set once per process.
let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

/// `body`'s result, or `TimedOut` once `limit` has passed (the body is cancelled).
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Lists a server's tools at pack load (every service knows a pack's tools before it runs):
/// starts the server, lists, stops it. Loading a pack is synchronous and may run on a thread of
/// the concurrency pool, which waiting on async work there could deadlock, so discovery speaks
/// the three messages it needs (initialize, initialized, tools/list) itself, blocking, over
/// the server's stdio; the executor's calls use the SDK's client.
public enum MCPDiscovery {
    public static func tools(_ spec: MCPServerSpec) throws -> [MCPToolDescription] {
        _ = ignoreBrokenPipes
        let (process, toServer, fromServer) = try spec.launch()
        defer {
            try? toServer.fileHandleForWriting.close()
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        // The deadline is enforced by ending the server, which ends the blocked read.
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(spec.timeout.components.seconds * 1000) + 1000), execute: timer)
        defer { timer.cancel() }
        var reader = LineReader(handle: fromServer.fileHandleForReading)

        func send(_ message: JSONValue) throws {
            do {
                try toServer.fileHandleForWriting.write(contentsOf: message.serialized(sortedKeys: false) + [0x0A])
            } catch {
                throw MCPError("mcp server \(spec.name): it closed its input (\(error))")
            }
        }
        func response(to id: Int) throws -> JSONValue {
            while let line = reader.next() {
                guard let message = try? JSONValue.parse(line), message["id"] == .number(Double(id)) else { continue }
                if let error = message["error"] { throw MCPError("mcp server \(spec.name): \(error.serializedString())") }
                guard let result = message["result"] else { throw MCPError("mcp server \(spec.name): a response without a result") }
                return result
            }
            throw MCPError("mcp server \(spec.name): it exited or did not answer within \(spec.timeout)")
        }

        try send(["jsonrpc": "2.0", "id": 1, "method": "initialize", "params": [
            "protocolVersion": "2025-06-18", "capabilities": [:], "clientInfo": ["name": "switchboard", "version": "1"],
        ]])
        _ = try response(to: 1)
        try send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        var tools: [MCPToolDescription] = []
        var cursor: JSONValue = .null
        var id = 2
        repeat {
            try send(["jsonrpc": "2.0", "id": .number(Double(id)), "method": "tools/list", "params": cursor == .null ? [:] : ["cursor": cursor]])
            let page = try response(to: id)
            for tool in page["tools"]?.arrayValue ?? [] {
                guard case .string(let name)? = tool["name"], let input = tool["inputSchema"] else {
                    throw MCPError("mcp server \(spec.name): a tool without a name or an inputSchema")
                }
                tools.append(MCPToolDescription(
                    name: name, description: tool["description"]?.stringValue ?? name, inputSchema: input, outputSchema: tool["outputSchema"],
                    readOnly: tool["annotations"]?["readOnlyHint"] == .bool(true)))
            }
            cursor = page["nextCursor"] ?? .null
            id += 1
        } while cursor != .null
        return tools
    }

    /// Newline-delimited messages from a pipe, read as they arrive.
    struct LineReader {
        let handle: FileHandle
        var buffer: [UInt8] = []

        mutating func next() -> [UInt8]? {
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    return line
                }
                let chunk = handle.availableData
                if chunk.isEmpty { return nil }
                buffer += chunk
            }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// One session per MCP server for a process: started on first use, replaced after it failed.
public actor MCPSessions {
    var sessions: [String: MCPSession] = [:]

    public init() {}

    public func session(for spec: MCPServerSpec, logger: Logger) async throws -> MCPSession {
        if let session = sessions[spec.name] {
            if await session.isRunning { return session }
            await session.stop()
        }
        let session = try await MCPSession.start(spec, logger: logger)
        sessions[spec.name] = session
        return session
    }

    /// Stops and forgets the server's session (its transport failed); the next call starts one.
    public func discard(_ spec: MCPServerSpec) async {
        if let session = sessions.removeValue(forKey: spec.name) { await session.stop() }
    }

    public func stopAll() async {
        for session in sessions.values { await session.stop() }
        sessions = [:]
    }
}
