import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import JSON
public import Logging
import MCP
import SystemPackage
public import ToolRuntime
import HTTPClient

/// A Model Context Protocol server (a domain pack's `mcp` section): a program spoken to over
/// its stdio, or an endpoint spoken to over streamable HTTP; and how long one call may take.
public struct MCPServerSpec: Sendable, Hashable {
    public enum Endpoint: Sendable, Hashable {
        /// The executable (looked up on PATH), its arguments and extra environment.
        case stdio(command: [String], environment: [String: String])
        /// The server's MCP endpoint URL, extra headers, and the secret sent with every request.
        case http(url: String, headers: [String: String], auth: HTTPBinding.Auth?)
    }

    public var name: String
    public var endpoint: Endpoint
    public var timeout: Duration

    public init(name: String, endpoint: Endpoint, timeout: Duration = .seconds(5)) {
        (self.name, self.endpoint, self.timeout) = (name, endpoint, timeout)
    }

    public init(name: String, command: [String], environment: [String: String] = [:], timeout: Duration = .seconds(5)) {
        self.init(name: name, endpoint: .stdio(command: command, environment: environment), timeout: timeout)
    }

    public init(name: String, url: String, headers: [String: String] = [:], auth: HTTPBinding.Auth? = nil, timeout: Duration = .seconds(5)) {
        self.init(name: name, endpoint: .http(url: url, headers: headers, auth: auth), timeout: timeout)
    }
}

extension MCPServerSpec {
    /// The server process, started, with pipes to its stdin and from its stdout (its stderr
    /// goes where this process's does).
    func launch() throws -> (Process, Pipe, Pipe) {
        guard case .stdio(let command, let environment) = endpoint else { throw MCPError("mcp server \(name): not a stdio server") }
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

    /// The headers of every request to an HTTP server, its secret read from the environment now.
    func httpHeaders(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (url: String, headers: HTTPHeaders) {
        guard case .http(let url, let extra, let auth) = endpoint else { throw MCPError("mcp server \(name): not an HTTP server") }
        var headers = HTTPHeaders()
        for (header, value) in extra.sorted(by: { $0.key < $1.key }) { headers.add(name: header, value: value) }
        if let auth {
            guard let secret = environment[auth.secretEnv], !secret.isEmpty else {
                throw MCPError("mcp server \(name): the secret variable \(auth.secretEnv) is not set")
            }
            headers.replaceOrAdd(name: auth.header, value: auth.scheme.map { "\($0) \(secret)" } ?? secret)
        }
        return (url, headers)
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

/// A client session with one MCP server (modelcontextprotocol/swift-sdk): over a server
/// process's stdin and stdout, or over streamable HTTP (`MCPHTTPTransport`). Calls carry the
/// step id in `_meta` (`idempotencyKey`), so a server that honours it applies a repeated write
/// once, as `Idempotency-Key` does over HTTP.
public actor MCPSession {
    public let spec: MCPServerSpec
    let client: Client
    let logger: Logger
    /// The stdio server's process; nil over HTTP.
    let process: Process?
    let http: (transport: MCPHTTPTransport, client: HTTPClient)?

    init(spec: MCPServerSpec, client: Client, logger: Logger, process: Process?, http: (MCPHTTPTransport, HTTPClient)?) {
        (self.spec, self.client, self.logger, self.process) = (spec, client, logger, process)
        self.http = http.map { (transport: $0.0, client: $0.1) }
    }

    /// Starts the server (stdio) and completes the MCP handshake.
    public static func start(_ spec: MCPServerSpec, logger: Logger) async throws -> MCPSession {
        switch spec.endpoint {
        case .stdio: return try await startStdio(spec, logger: logger)
        case .http: return try await startHTTP(spec, logger: logger)
        }
    }

    static func startStdio(_ spec: MCPServerSpec, logger: Logger) async throws -> MCPSession {
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
        return MCPSession(spec: spec, client: client, logger: logger, process: process, http: nil)
    }

    static func startHTTP(_ spec: MCPServerSpec, logger: Logger) async throws -> MCPSession {
        let (url, headers) = try spec.httpHeaders()
        let http = HTTPClient(maxConcurrentRequests: 4, userAgent: "switchboard-executor", logger: logger)
        let transport = MCPHTTPTransport(url: url, headers: headers, timeout: spec.timeout, client: http, logger: logger)
        let client = Client(name: "switchboard-executor", version: "1")
        do {
            _ = try await withTimeout(spec.timeout) { try await client.connect(transport: transport) }
        } catch {
            await client.disconnect()
            await http.shutdown()
            throw MCPError("mcp server \(spec.name): handshake failed: \(error)")
        }
        return MCPSession(spec: spec, client: client, logger: logger, process: nil, http: (transport, http))
    }

    /// Whether calls can still go through this session: the stdio server runs; the HTTP server
    /// has not ended the session.
    public var isRunning: Bool {
        get async {
            if let process { return process.isRunning }
            return await http?.transport.isUsable ?? false
        }
    }

    /// The stdio server's process id (nil over HTTP).
    public var serverProcessID: Int32? { process?.processIdentifier }

    public func stop() async {
        await client.disconnect()
        if let process, process.isRunning { process.terminate() }
        if let http { await http.client.shutdown() }
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

/// Lists a server's tools at pack load (every service knows a pack's tools before it runs).
/// Loading a pack is synchronous and may run on a thread of the concurrency pool, which
/// waiting on async work there could deadlock, so discovery speaks the three messages it needs
/// (initialize, initialized, tools/list) itself, blocking: over a stdio server it starts and
/// stops, or over HTTP on the calling thread. The executor's calls use the SDK's client.
public enum MCPDiscovery {
    public static func tools(_ spec: MCPServerSpec) throws -> [MCPToolDescription] {
        switch spec.endpoint {
        case .stdio: return try stdioTools(spec)
        case .http: return try httpTools(spec)
        }
    }

    /// The handshake and every page of `tools/list`, over `request` (a method and its params
    /// to the result) and `notify`.
    static func listTools(_ spec: MCPServerSpec, request: (String, JSONValue) throws -> JSONValue, notify: (String) throws -> Void) throws -> [MCPToolDescription] {
        _ = try request("initialize", [
            "protocolVersion": "2025-06-18", "capabilities": [:], "clientInfo": ["name": "switchboard", "version": "1"],
        ])
        try notify("notifications/initialized")
        var tools: [MCPToolDescription] = []
        var cursor: JSONValue = .null
        repeat {
            let page = try request("tools/list", cursor == .null ? [:] : ["cursor": cursor])
            for tool in page["tools"]?.arrayValue ?? [] {
                guard case .string(let name)? = tool["name"], let input = tool["inputSchema"] else {
                    throw MCPError("mcp server \(spec.name): a tool without a name or an inputSchema")
                }
                tools.append(MCPToolDescription(
                    name: name, description: tool["description"]?.stringValue ?? name, inputSchema: input, outputSchema: tool["outputSchema"],
                    readOnly: tool["annotations"]?["readOnlyHint"] == .bool(true)))
            }
            cursor = page["nextCursor"] ?? .null
        } while cursor != .null
        return tools
    }

    /// The result of a JSON-RPC response, or its error.
    static func result(of message: JSONValue, _ spec: MCPServerSpec) throws -> JSONValue {
        if let error = message["error"] { throw MCPError("mcp server \(spec.name): \(error.serializedString())") }
        guard let result = message["result"] else { throw MCPError("mcp server \(spec.name): a response without a result") }
        return result
    }

    static func stdioTools(_ spec: MCPServerSpec) throws -> [MCPToolDescription] {
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
        var nextID = 1

        func send(_ message: JSONValue) throws {
            do {
                try toServer.fileHandleForWriting.write(contentsOf: message.serialized(sortedKeys: false) + [0x0A])
            } catch {
                throw MCPError("mcp server \(spec.name): it closed its input (\(error))")
            }
        }
        return try listTools(spec, request: { method, params in
            let id = nextID
            nextID += 1
            try send(["jsonrpc": "2.0", "id": .number(Double(id)), "method": .string(method), "params": params])
            while let line = reader.next() {
                guard let message = try? JSONValue.parse(line), message["id"] == .number(Double(id)) else { continue }
                return try result(of: message, spec)
            }
            throw MCPError("mcp server \(spec.name): it exited or did not answer within \(spec.timeout)")
        }, notify: { method in
            try send(["jsonrpc": "2.0", "method": .string(method)])
        })
    }

    static func httpTools(_ spec: MCPServerSpec) throws -> [MCPToolDescription] {
        let (url, headers) = try spec.httpHeaders()
        var sessionID: String?
        var protocolVersion: String?
        var nextID = 1

        func post(_ message: JSONValue) throws -> MCPHTTPExchange.Answer {
            let request = MCPHTTPExchange.post(
                url: url, headers: headers, body: message.serialized(sortedKeys: false), sessionID: sessionID, protocolVersion: protocolVersion, timeout: spec.timeout)
            do {
                let answer = try MCPHTTPExchange.read(HTTPClient.executeBlocking(request), sessionID: sessionID)
                if sessionID == nil { sessionID = answer.sessionID }
                return answer
            } catch let error as MCPError {
                throw MCPError("mcp server \(spec.name): \(error)")
            } catch {
                throw MCPError("mcp server \(spec.name) at \(url): \(error)")
            }
        }
        defer {
            if let sessionID {
                _ = try? HTTPClient.executeBlocking(MCPHTTPExchange.endSession(url: url, headers: headers, sessionID: sessionID))
            }
        }
        return try listTools(spec, request: { method, params in
            let id = nextID
            nextID += 1
            let answer = try post(["jsonrpc": "2.0", "id": .number(Double(id)), "method": .string(method), "params": params])
            guard let response = answer.messages.first(where: { $0["id"] == .number(Double(id)) }) else {
                throw MCPError("mcp server \(spec.name): no response to \(method)")
            }
            let result = try result(of: response, spec)
            if method == "initialize" { protocolVersion = result["protocolVersion"]?.stringValue }
            return result
        }, notify: { method in
            _ = try post(["jsonrpc": "2.0", "method": .string(method)])
        })
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
