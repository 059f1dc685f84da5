import JSON

/// One chat-completion call, provider-neutral. Each provider maps it to its own wire format.
public struct ChatRequest: Sendable, Hashable {
    /// The provider's model identifier (e.g. `gpt-4o-mini`, `claude-sonnet-4-5`, `llama3.1:8b`).
    public var model: String
    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    /// Ignored (not sent) when `tools` is empty: several servers reject `tool_choice` without tools.
    public var toolChoice: ToolChoice
    public var responseFormat: ResponseFormat
    public var temperature: Double?
    /// Output token limit. Anthropic requires one; its provider substitutes a default when `nil`.
    public var maxTokens: Int?
    /// Best-effort determinism where the provider supports it (OpenAI-compatible only).
    public var seed: Int?
    /// Limit for one HTTP attempt, connect included. Retries get a fresh budget each.
    public var timeout: Duration
    /// Ask for the answer as an event stream (OpenAI-compatible servers): the same response,
    /// assembled, plus the time to its first chunk (`ChatResponse.firstTokenLatency`).
    public var stream: Bool = false

    public init(
        model: String,
        messages: [ChatMessage],
        tools: [ToolDefinition] = [],
        toolChoice: ToolChoice = .auto,
        responseFormat: ResponseFormat = .text,
        temperature: Double? = nil,
        maxTokens: Int? = nil,
        seed: Int? = nil,
        timeout: Duration = .seconds(60),
        stream: Bool = false
    ) {
        self.stream = stream
        self.model = model
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
        self.responseFormat = responseFormat
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.seed = seed
        self.timeout = timeout
    }
}

/// One turn of the conversation. Use the static constructors; they keep role-specific fields consistent.
public struct ChatMessage: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        case system, user, assistant, tool
    }

    public var role: Role
    /// Text; `nil` for an assistant turn that only called tools.
    public var content: String?
    /// Tool calls the assistant made in this turn (assistant only).
    public var toolCalls: [ToolCall]
    /// The call this message answers (tool only).
    public var toolCallId: String?
    /// The tool's name (tool only). Kept for bookkeeping; neither wire format needs it.
    public var name: String?

    public init(role: Role, content: String?, toolCalls: [ToolCall] = [], toolCallId: String? = nil, name: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
        self.name = name
    }

    public static func system(_ text: String) -> ChatMessage {
        ChatMessage(role: .system, content: text)
    }

    public static func user(_ text: String) -> ChatMessage {
        ChatMessage(role: .user, content: text)
    }

    public static func assistant(_ text: String?, toolCalls: [ToolCall] = []) -> ChatMessage {
        ChatMessage(role: .assistant, content: text, toolCalls: toolCalls)
    }

    /// The result of running tool call `callId`, fed back to the model.
    public static func tool(callId: String, name: String, content: String) -> ChatMessage {
        ChatMessage(role: .tool, content: content, toolCallId: callId, name: name)
    }
}

/// A function the model may call.
public struct ToolDefinition: Sendable, Hashable {
    public var name: String
    public var description: String
    /// JSON Schema of the arguments object.
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

public enum ToolChoice: Sendable, Hashable {
    /// The model decides whether to call a tool.
    case auto
    /// The model must not call tools.
    case none
    /// The model must call at least one tool (Anthropic: `any`).
    case required
    /// The model must call the named tool.
    case tool(name: String)
}

public enum ResponseFormat: Sendable, Hashable {
    case text
    /// Ask for a JSON document matching `schema`, returned as `ChatResponse.content`.
    ///
    /// OpenAI-compatible servers get `response_format: {type: json_schema, ...}`; `strict`
    /// is passed through (servers that don't enforce schemas ignore it). Anthropic has no such
    /// parameter: its provider forces a single tool named `name` whose `input_schema` is
    /// `schema` (so the schema's root must be an object) and returns that tool's input as the
    /// content text. Either way, validate the content; no provider guarantees conformance.
    case jsonSchema(name: String, schema: JSONValue, strict: Bool = true)
}

/// A tool invocation requested by the model.
public struct ToolCall: Sendable, Hashable {
    /// Provider-assigned id; echo it in the `.tool(callId:...)` message answering this call.
    public var id: String
    public var name: String
    /// The parsed arguments (usually an object).
    public var arguments: JSONValue
    /// The arguments exactly as the provider sent them (OpenAI sends a JSON string); replayed
    /// verbatim to OpenAI-compatible servers so history round-trips unchanged.
    public var rawArguments: String

    /// A call whose arguments are already parsed; `rawArguments` is their compact JSON.
    public init(id: String, name: String, arguments: JSONValue) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.rawArguments = arguments.serializedString(sortedKeys: false)
    }

    /// Parses `rawArguments`; an empty string means "no arguments" (`{}`), as some servers send
    /// for parameterless functions.
    public init(id: String, name: String, rawArguments: String) throws(JSONParseError) {
        self.id = id
        self.name = name
        self.rawArguments = rawArguments
        if rawArguments.allSatisfy(\.isWhitespace) {
            self.arguments = .object([:])
        } else {
            self.arguments = try JSONValue.parse(rawArguments)
        }
    }
}

/// Why generation stopped, normalised across providers.
public enum FinishReason: Sendable, Hashable {
    /// Natural end or a stop sequence.
    case stop
    /// The output token limit was hit; content may be truncated (and JSON incomplete).
    case length
    case toolCalls
    case contentFilter
    /// Anything else, with the provider's own string (`nil` when none was sent).
    case other(String?)
}

/// Token counts as reported by the provider.
public struct TokenUsage: Sendable, Hashable {
    /// All prompt tokens, cached ones included (Anthropic: `input_tokens` plus both cache counts).
    public var inputTokens: Int
    public var outputTokens: Int
    /// The part of `inputTokens` served from the provider's prompt cache, when reported.
    public var cachedInputTokens: Int?

    public init(inputTokens: Int, outputTokens: Int, cachedInputTokens: Int? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
    }

    public var totalTokens: Int { inputTokens + outputTokens }
}

/// A completed call.
public struct ChatResponse: Sendable {
    /// Assistant text (for `.jsonSchema` requests: the JSON document). `nil` when the model
    /// only called tools.
    public var content: String?
    public var toolCalls: [ToolCall]
    public var finishReason: FinishReason
    /// `nil` when the server reported none (some local servers omit it).
    public var usage: TokenUsage?
    /// The model as the provider reported it (often a dated snapshot), else the requested one.
    public var model: String
    /// The provider's request id header (`x-request-id`, `request-id`), else the response id.
    public var providerRequestId: String?
    /// Wall time of the successful HTTP attempt, measured by this client.
    public var latency: Duration
    /// Failures retried before this success, oldest first (filled by ``RetryingProvider``).
    public var failedAttempts: [FailedAttempt]
    /// A streamed answer: from the request to its first chunk.
    public var firstTokenLatency: Duration?

    public init(
        content: String?,
        toolCalls: [ToolCall] = [],
        finishReason: FinishReason,
        usage: TokenUsage?,
        model: String,
        providerRequestId: String? = nil,
        latency: Duration,
        failedAttempts: [FailedAttempt] = []
    ) {
        self.content = content
        self.toolCalls = toolCalls
        self.finishReason = finishReason
        self.usage = usage
        self.model = model
        self.providerRequestId = providerRequestId
        self.latency = latency
        self.failedAttempts = failedAttempts
    }

    /// HTTP attempts made for this response, the successful one included.
    public var attempts: Int { failedAttempts.count + 1 }
}

/// Identifies a provider implementation in events and logs (`LLMCallCompleted.provider`).
public struct ProviderKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public static let openAICompatible = ProviderKind(rawValue: "openai-compatible")
    public static let anthropic = ProviderKind(rawValue: "anthropic")

    public var description: String { rawValue }
}

/// A chat-completion backend.
///
/// Implementations make exactly one attempt per call; wrap them in ``RetryingProvider`` for
/// retries. Every failure is an ``LLMError``, including cancellation of the calling task.
public protocol ChatProvider: Sendable {
    var kind: ProviderKind { get }
    func complete(_ request: ChatRequest) async throws(LLMError) -> ChatResponse
}
