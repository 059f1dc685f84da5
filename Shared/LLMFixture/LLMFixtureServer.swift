import HTTPTypes
import Hummingbird
import JSON
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A local HTTP server speaking the OpenAI and Anthropic chat wire formats, for tests.
///
/// Listens on 127.0.0.1 only, on an ephemeral port. Each endpoint answers from its own FIFO
/// queue of scripted ``FixtureReply`` values, then from its default reply; every request is
/// recorded. Prefer ``withLLMFixtureServer(configuration:_:)``, which always shuts down.
public final class LLMFixtureServer: Sendable {
    public struct Configuration: Sendable {
        /// Answer when an endpoint's queue is empty.
        public var defaultReply: FixtureReply
        /// Usage reported by success replies with `.configured` usage; `nil` omits it.
        public var usage: (input: Int, output: Int)?
        /// Reported model; `nil` echoes the request's `model`.
        public var model: String?
        /// Larger request bodies get 413 (and are recorded without body).
        public var maxRequestBytes: Int
        public var logger: Logger

        public init(
            defaultReply: FixtureReply = .ok(content: "fixture reply"),
            usage: (input: Int, output: Int)? = (input: 11, output: 7),
            model: String? = nil,
            maxRequestBytes: Int = 4 * 1024 * 1024,
            logger: Logger = Logger(label: "LLMFixture", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.defaultReply = defaultReply
            self.usage = usage
            self.model = model
            self.maxRequestBytes = maxRequestBytes
            self.logger = logger
        }
    }

    /// The bound port on 127.0.0.1.
    public let port: Int
    private let state: FixtureState
    private let serviceGroup: ServiceGroup
    private let runTask: Task<Void, any Error>
    private let stopped = Mutex(false)

    /// `http://127.0.0.1:<port>`; the Anthropic provider's base URL.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// `http://127.0.0.1:<port>/v1`; the OpenAI-compatible provider's base URL.
    public var openAIBaseURL: String { baseURL + "/v1" }

    private init(port: Int, state: FixtureState, serviceGroup: ServiceGroup, runTask: Task<Void, any Error>) {
        self.port = port
        self.state = state
        self.serviceGroup = serviceGroup
        self.runTask = runTask
    }

    /// Binds and starts serving; returns once the port is known. Pair with ``shutdown()``.
    public static func start(configuration: Configuration = Configuration()) async throws -> LLMFixtureServer {
        let state = FixtureState(configuration: configuration)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in
                try await state.respond(to: request)
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "llm-fixture"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: configuration.logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: configuration.logger))
        let runTask = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            // The server stopped before listening (e.g. bind failure): surface its error.
            await group.triggerGracefulShutdown()
            try await runTask.value
            throw FixtureServerError(message: "the fixture server stopped before listening")
        }
        return LLMFixtureServer(port: port, state: state, serviceGroup: group, runTask: runTask)
    }

    /// Stops accepting, cuts pending `.delay` replies short, closes connections and waits for
    /// the server to finish. Idempotent.
    public func shutdown() async throws {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        if first { await serviceGroup.triggerGracefulShutdown() }
        try await runTask.value
    }

    // MARK: - Scripting

    /// Appends replies to `endpoint`'s queue; each request consumes one.
    public func enqueue(_ replies: FixtureReply..., for endpoint: FixtureEndpoint) {
        state.enqueue(replies, for: endpoint)
    }

    /// The reply used once `endpoint`'s queue is empty.
    public func setDefaultReply(_ reply: FixtureReply, for endpoint: FixtureEndpoint) {
        state.setDefaultReply(reply, for: endpoint)
    }

    /// Scripted replies not consumed yet.
    public func pendingReplies(for endpoint: FixtureEndpoint) -> Int {
        state.pendingReplies(for: endpoint)
    }

    // MARK: - Recording

    /// Every request received, in arrival order (unknown routes included).
    public var requests: [RecordedRequest] { state.requests }

    public func requests(for endpoint: FixtureEndpoint) -> [RecordedRequest] {
        state.requests.filter { $0.endpoint == endpoint }
    }
}

/// Runs `body` with a started fixture server and shuts it down afterwards, also when `body` throws.
public func withLLMFixtureServer<T: Sendable>(
    configuration: LLMFixtureServer.Configuration = .init(),
    _ body: (LLMFixtureServer) async throws -> T
) async throws -> T {
    let server = try await LLMFixtureServer.start(configuration: configuration)
    let result: T
    do {
        result = try await body(server)
    } catch {
        try? await server.shutdown()
        throw error
    }
    try await server.shutdown()
    return result
}

public struct FixtureServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { "FixtureServerError: \(message)" }
}

// MARK: - Request handling

/// The mutable part of the server, shared with the responder closure.
final class FixtureState: Sendable {
    private struct Scripts: Sendable {
        var queues: [FixtureEndpoint: [FixtureReply]] = [:]
        var defaults: [FixtureEndpoint: FixtureReply] = [:]
        var requests: [RecordedRequest] = []
        var sequence = 0
    }

    private let configuration: LLMFixtureServer.Configuration
    private let scripts = Mutex(Scripts())

    init(configuration: LLMFixtureServer.Configuration) {
        self.configuration = configuration
    }

    func enqueue(_ replies: [FixtureReply], for endpoint: FixtureEndpoint) {
        scripts.withLock { $0.queues[endpoint, default: []].append(contentsOf: replies) }
    }

    func setDefaultReply(_ reply: FixtureReply, for endpoint: FixtureEndpoint) {
        scripts.withLock { $0.defaults[endpoint] = reply }
    }

    func pendingReplies(for endpoint: FixtureEndpoint) -> Int {
        scripts.withLock { $0.queues[endpoint]?.count ?? 0 }
    }

    var requests: [RecordedRequest] {
        scripts.withLock { $0.requests }
    }

    func respond(to request: Request) async throws -> Response {
        var request = request
        var body: [UInt8] = []
        var tooLarge = false
        do {
            body = Array(try await request.collectBody(upTo: configuration.maxRequestBytes).readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            tooLarge = true
        }
        let path = String(request.uri.path)
        let endpoint = request.method == .post ? FixtureEndpoint(rawValue: path) : nil
        let recorded = RecordedRequest(
            method: request.method.rawValue,
            path: path,
            headers: request.headers.map { ($0.name.rawName, $0.value) },
            body: body,
            json: try? JSONValue.parse(body),
            endpoint: endpoint
        )
        let (reply, sequence) = scripts.withLock { scripts in
            scripts.requests.append(recorded)
            scripts.sequence += 1
            guard let endpoint, !tooLarge else { return (FixtureReply?.none, scripts.sequence) }
            if var queue = scripts.queues[endpoint], !queue.isEmpty {
                let next = queue.removeFirst()
                scripts.queues[endpoint] = queue
                return (next, scripts.sequence)
            }
            return (scripts.defaults[endpoint] ?? configuration.defaultReply, scripts.sequence)
        }
        if tooLarge {
            return Self.response(413, json: ["error": ["message": "request body too large", "type": "invalid_request_error"]])
        }
        guard let endpoint, let reply else {
            return Self.response(404, json: ["error": ["message": .string("no route for \(request.method.rawValue) \(path)"), "type": "not_found"]])
        }
        let renderer = Renderer(
            endpoint: endpoint, sequence: sequence, model: configuration.model ?? recorded.json?["model"]?.stringValue ?? "fixture-model",
            configuredUsage: configuration.usage, stream: recorded.json?["stream"] == true)
        return await renderer.render(reply)
    }

    static func response(_ status: Int, json: JSONValue, headers extra: [String: String] = [:]) -> Response {
        response(status, body: json.serialized(), headers: ["Content-Type": "application/json"].merging(extra) { _, new in new })
    }

    static func response(_ status: Int, body: [UInt8], headers: [String: String]) -> Response {
        var fields = HTTPFields()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// Renders a reply in one endpoint's wire format.
struct Renderer {
    let endpoint: FixtureEndpoint
    let sequence: Int
    let model: String
    let configuredUsage: (input: Int, output: Int)?
    /// The request asked for an event stream (OpenAI `stream: true`): successes are sent as
    /// chat-completion chunks.
    var stream = false

    func render(_ reply: FixtureReply) async -> Response {
        switch reply {
        case .delay(let duration, let then):
            do {
                // Without this, graceful shutdown would wait out every pending delay.
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
            } catch {
                return FixtureState.response(503, json: ["error": ["message": "fixture shutting down", "type": "unavailable"]])
            }
            return await render(then)
        case .ok(let content, let usage):
            return success(content: content, toolCalls: [], usage: usage)
        case .toolCalls(let calls, let content, let usage):
            return success(content: content, toolCalls: calls, usage: usage)
        case .status(let status, let retryAfter):
            let headers = retryAfter.map { ["Retry-After": String($0)] } ?? [:]
            return FixtureState.response(status, json: errorBody(status), headers: headers.merging(requestIdHeader) { a, _ in a })
        case .malformedJSON:
            let body = Array(#"{"id": "broken", "choices": [{"message": {"content": "unterminated"#.utf8)
            return FixtureState.response(200, body: body, headers: ["Content-Type": "application/json"])
        case .raw(let status, let body, let headers):
            return FixtureState.response(status, body: Array(body.utf8), headers: headers)
        case .json(let status, let body, let headers):
            return FixtureState.response(status, json: body, headers: headers)
        }
    }

    private var requestIdHeader: [String: String] {
        switch endpoint {
        case .openAIChatCompletions: ["x-request-id": "req_fixture_\(sequence)"]
        case .anthropicMessages: ["request-id": "req_fixture_\(sequence)"]
        }
    }

    private func tokens(_ usage: FixtureReply.Usage) -> (input: Int, output: Int)? {
        switch usage {
        case .configured: configuredUsage
        case .omitted: nil
        case .tokens(let input, let output): (input, output)
        }
    }

    /// OpenAI's streamed form: a role chunk, the content in three pieces, each tool call, a
    /// chunk with the finish reason, a usage chunk, `[DONE]`.
    private func streamed(content: String?, toolCalls: [FixtureToolCall], usage: FixtureReply.Usage) -> Response {
        func chunk(_ delta: JSONValue, finish: JSONValue = .null) -> JSONValue {
            ["id": .string("chatcmpl-fixture-\(sequence)"), "object": "chat.completion.chunk", "created": 1_700_000_000, "model": .string(model),
             "choices": [["index": 0, "delta": delta, "finish_reason": finish]]]
        }
        var chunks: [JSONValue] = [chunk(["role": "assistant", "content": ""])]
        if let content {
            let characters = Array(content)
            let size = max(1, (characters.count + 2) / 3)
            for start in stride(from: 0, to: characters.count, by: size) {
                chunks.append(chunk(["content": .string(String(characters[start..<min(start + size, characters.count)]))]))
            }
        }
        for (index, call) in toolCalls.enumerated() {
            chunks.append(chunk(["tool_calls": [["index": .number(Double(index)), "id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]]]))
        }
        chunks.append(chunk([:], finish: toolCalls.isEmpty ? "stop" : "tool_calls"))
        if let tokens = tokens(usage) {
            chunks.append(["id": .string("chatcmpl-fixture-\(sequence)"), "object": "chat.completion.chunk", "model": .string(model), "choices": [],
                           "usage": ["prompt_tokens": .number(Double(tokens.input)), "completion_tokens": .number(Double(tokens.output)), "total_tokens": .number(Double(tokens.input + tokens.output))]])
        }
        let body = chunks.map { "data: " + $0.serializedString() + "\n\n" }.joined() + "data: [DONE]\n\n"
        return FixtureState.response(200, body: Array(body.utf8), headers: ["Content-Type": "text/event-stream"].merging(requestIdHeader) { a, _ in a })
    }

    private func success(content: String?, toolCalls: [FixtureToolCall], usage: FixtureReply.Usage) -> Response {
        if stream, endpoint == .openAIChatCompletions { return streamed(content: content, toolCalls: toolCalls, usage: usage) }
        let tokens = tokens(usage)
        var body: [String: JSONValue]
        switch endpoint {
        case .openAIChatCompletions:
            var message: [String: JSONValue] = ["role": "assistant", "content": content.map(JSONValue.string) ?? .null, "refusal": .null]
            if !toolCalls.isEmpty {
                message["tool_calls"] = .array(toolCalls.map { call in
                    ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                })
            }
            body = [
                "id": .string("chatcmpl-fixture-\(sequence)"),
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": .string(model),
                "system_fingerprint": "fp_fixture",
                "choices": [["index": 0, "message": .object(message), "logprobs": .null, "finish_reason": toolCalls.isEmpty ? "stop" : "tool_calls"]],
            ]
            if let tokens {
                body["usage"] = [
                    "prompt_tokens": .number(Double(tokens.input)), "completion_tokens": .number(Double(tokens.output)),
                    "total_tokens": .number(Double(tokens.input + tokens.output)),
                ]
            }
        case .anthropicMessages:
            var blocks: [JSONValue] = []
            if let content { blocks.append(["type": "text", "text": .string(content)]) }
            for call in toolCalls {
                let input = (try? JSONValue.parse(call.arguments)) ?? .string(call.arguments)
                blocks.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": input])
            }
            body = [
                "id": .string("msg_fixture_\(sequence)"),
                "type": "message",
                "role": "assistant",
                "model": .string(model),
                "content": .array(blocks),
                "stop_reason": toolCalls.isEmpty ? "end_turn" : "tool_use",
                "stop_sequence": .null,
            ]
            if let tokens {
                body["usage"] = ["input_tokens": .number(Double(tokens.input)), "output_tokens": .number(Double(tokens.output))]
            }
        }
        return FixtureState.response(200, json: .object(body), headers: requestIdHeader)
    }

    private func errorBody(_ status: Int) -> JSONValue {
        switch endpoint {
        case .openAIChatCompletions:
            let type = switch status {
            case 429: "rate_limit_exceeded"
            case 401: "invalid_api_key"
            case 400..<500: "invalid_request_error"
            default: "server_error"
            }
            return ["error": ["message": .string("fixture status \(status)"), "type": .string(type), "code": .null]]
        case .anthropicMessages:
            let type = switch status {
            case 429: "rate_limit_error"
            case 401: "authentication_error"
            case 403: "permission_error"
            case 529: "overloaded_error"
            case 400..<500: "invalid_request_error"
            default: "api_error"
            }
            return ["type": "error", "error": ["type": .string(type), "message": .string("fixture status \(status)")]]
        }
    }
}
