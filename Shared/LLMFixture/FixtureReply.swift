import JSON

/// The two wire formats the fixture speaks.
public enum FixtureEndpoint: String, Sendable, Hashable, CaseIterable {
    /// OpenAI `POST /v1/chat/completions`.
    case openAIChatCompletions = "/v1/chat/completions"
    /// Anthropic `POST /v1/messages`.
    case anthropicMessages = "/v1/messages"
}

/// A tool call the fixture "model" makes. `arguments` is raw text so tests can send invalid JSON
/// (OpenAI carries it verbatim; Anthropic needs an object, so unparseable text is sent as a string).
public struct FixtureToolCall: Sendable, Hashable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// What the fixture answers to one request, rendered in the endpoint's format.
public indirect enum FixtureReply: Sendable {
    /// Token usage reported by a success reply.
    public enum Usage: Sendable, Hashable {
        /// The server's `Configuration.usage`.
        case configured
        /// No `usage` member at all (as some local servers do).
        case omitted
        case tokens(input: Int, output: Int)
    }

    /// 200 with assistant text (finish reason `stop` / `end_turn`).
    case ok(content: String, usage: Usage = .configured)
    /// 200 with tool calls (finish reason `tool_calls` / `tool_use`).
    case toolCalls([FixtureToolCall], content: String? = nil, usage: Usage = .configured)
    /// An error in the provider's error format, with `Retry-After: <seconds>` when given.
    case status(Int, retryAfter: Int? = nil)
    /// Waits, then answers `then`. A graceful shutdown cuts the wait short (503).
    case delay(Duration, then: FixtureReply)
    /// 200, `application/json`, truncated JSON.
    case malformedJSON
    /// Exactly this status, body and headers.
    case raw(status: Int, body: String, headers: [String: String] = [:])
    /// This JSON body, for shapes the other cases don't cover.
    case json(status: Int = 200, body: JSONValue, headers: [String: String] = [:])
}

/// A request the fixture received, in arrival order.
public struct RecordedRequest: Sendable {
    public var method: String
    /// Path without the query string.
    public var path: String
    /// In wire order, names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The parsed body, `nil` when it is not JSON.
    public var json: JSONValue?
    /// The endpoint the request was routed to, `nil` for unknown routes.
    public var endpoint: FixtureEndpoint?

    /// First value of header `name`, case-insensitive.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}
