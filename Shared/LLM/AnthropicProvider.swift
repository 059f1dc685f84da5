import HTTPClient
import JSON

/// `POST {baseURL}/v1/messages` in Anthropic's Messages format.
///
/// Mapping from the provider-neutral request:
/// - every `.system` message (wherever it appears) is joined into the top-level `system`;
/// - `.tool` results become `tool_result` blocks of a user turn, and consecutive turns of the
///   same Anthropic role are merged (the API wants all results of one assistant turn together);
/// - `.required` tool choice is Anthropic's `any`; `seed` is not supported and not sent;
/// - `.jsonSchema(name, schema, _)` is emulated: a tool `name` with `input_schema: schema` is
///   added and forced with `tool_choice: {type: tool}`, and its input comes back as `content`
///   (compact JSON). That overrides `toolChoice`; other tools are still declared (history may
///   reference them) but cannot be called. `strict` is not enforced.
public struct AnthropicProvider: ChatProvider, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public static let defaultBaseURL = "https://api.anthropic.com"
    public static let defaultVersion = "2023-06-01"

    public let kind: ProviderKind = .anthropic
    public let baseURL: String
    public let version: String
    /// Sent as `max_tokens` when the request sets none (the API requires it).
    public let defaultMaxTokens: Int
    private let apiKey: Secret?
    private let extraHeaders: HTTPHeaders
    private let transport: ProviderTransport

    /// - Parameters:
    ///   - apiKey: sent as `x-api-key` when non-empty (a gateway in front may inject it instead).
    ///   - extraHeaders: e.g. `anthropic-beta`; values of 8+ characters are scrubbed from errors like the key.
    public init(
        baseURL: String = AnthropicProvider.defaultBaseURL,
        apiKey: String?,
        httpClient: HTTPClient,
        version: String = AnthropicProvider.defaultVersion,
        defaultMaxTokens: Int = 1024,
        extraHeaders: HTTPHeaders = [:]
    ) {
        self.baseURL = baseURL
        self.version = version
        self.defaultMaxTokens = defaultMaxTokens
        self.apiKey = Secret(apiKey)
        self.extraHeaders = extraHeaders
        self.transport = ProviderTransport(
            kind: .anthropic,
            httpClient: httpClient,
            secrets: secretsToScrub(apiKey: apiKey, extraHeaders: extraHeaders)
        )
    }

    public var description: String {
        "AnthropicProvider(baseURL: \(redactedURL(baseURL)), version: \(version), apiKey: \(apiKey == nil ? "none" : "<redacted>"), extraHeaders: \(extraHeaders.map(\.name)))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["baseURL": redactedURL(baseURL), "version": version, "apiKey": apiKey == nil ? "none" : "<redacted>"])
    }

    public func complete(_ request: ChatRequest) async throws(LLMError) -> ChatResponse {
        var headers: HTTPHeaders = [
            "Content-Type": "application/json", "Accept": "application/json", "anthropic-version": version,
        ]
        if let apiKey { headers.add(name: "x-api-key", value: apiKey.value) }
        for field in extraHeaders { headers.replaceOrAdd(name: field.name, value: field.value) }

        let reply = try await transport.post(
            url: joinURL(baseURL, "/v1/messages"),
            headers: headers,
            body: try requestBody(request),
            timeout: request.timeout,
            requestIdHeader: "request-id"
        )
        guard (200..<300).contains(reply.response.status) else { throw transport.httpFailure(reply) }
        return try parseResponse(reply, request: request)
    }

    // MARK: - Request

    func requestBody(_ request: ChatRequest) throws(LLMError) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model),
            "max_tokens": .number(Double(request.maxTokens ?? defaultMaxTokens)),
        ]
        let system = request.messages.filter { $0.role == .system }.compactMap(\.content).filter { !$0.isEmpty }
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        body["messages"] = .array(Self.messages(request.messages))

        var tools: [JSONValue] = request.tools.map { tool in
            ["name": .string(tool.name), "description": .string(tool.description), "input_schema": tool.parameters]
        }
        var toolChoice: JSONValue? = switch request.toolChoice {
        case .auto: ["type": "auto"]
        case .none: ["type": "none"]
        case .required: ["type": "any"]
        case .tool(let name): ["type": "tool", "name": .string(name)]
        }
        if case .jsonSchema(let name, let schema, _) = request.responseFormat {
            guard !request.tools.contains(where: { $0.name == name }) else {
                throw LLMError(
                    code: .invalidRequest,
                    message: "response format name \(name) collides with a tool of the same name",
                    provider: kind)
            }
            tools.append([
                "name": .string(name),
                "description": "Submit the final answer as this tool's input, matching its schema exactly.",
                "input_schema": schema,
            ])
            toolChoice = ["type": "tool", "name": .string(name)]
        }
        if !tools.isEmpty {
            body["tools"] = .array(tools)
            body["tool_choice"] = toolChoice
        }
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        return .object(body)
    }

    private static func messages(_ messages: [ChatMessage]) -> [JSONValue] {
        var turns: [(role: String, blocks: [JSONValue])] = []
        for message in messages {
            let role: String
            var blocks: [JSONValue] = []
            switch message.role {
            case .system:
                continue
            case .user:
                role = "user"
                if let text = message.content, !text.isEmpty { blocks.append(["type": "text", "text": .string(text)]) }
            case .assistant:
                role = "assistant"
                if let text = message.content, !text.isEmpty { blocks.append(["type": "text", "text": .string(text)]) }
                for call in message.toolCalls {
                    blocks.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": call.arguments])
                }
            case .tool:
                role = "user"
                blocks.append([
                    "type": "tool_result", "tool_use_id": .string(message.toolCallId ?? ""), "content": .string(message.content ?? ""),
                ])
            }
            // The API rejects empty text blocks and empty turns.
            guard !blocks.isEmpty else { continue }
            if turns.last?.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        return turns.map { ["role": .string($0.role), "content": .array($0.blocks)] }
    }

    // MARK: - Response

    private func parseResponse(_ reply: ProviderTransport.Reply, request: ChatRequest) throws(LLMError) -> ChatResponse {
        var reply = reply
        let json = try transport.parseObject(reply)
        reply.requestId = reply.requestId ?? json["id"]?.stringValue
        if json["type"]?.stringValue == "error" || json["error"].map({ !$0.isNull }) == true {
            var failed = reply
            failed.response.status = 502  // an error body under a 2xx status: treat as an upstream fault
            throw transport.httpFailure(failed)
        }
        let usage = json["usage"].flatMap(Self.usage)
        guard let blocks = json["content"]?.arrayValue else {
            throw transport.malformed("response has no content array", reply, usage: usage)
        }

        var texts: [String] = []
        var toolCalls: [ToolCall] = []
        for (index, block) in blocks.enumerated() {
            switch block["type"]?.stringValue {
            case "text":
                if let text = block["text"]?.stringValue { texts.append(text) }
            case "tool_use":
                guard let name = block["name"]?.stringValue else {
                    throw transport.malformed("content[\(index)] tool_use has no name", reply, usage: usage)
                }
                let id = block["id"]?.stringValue ?? "toolu_\(index)"
                toolCalls.append(ToolCall(id: id, name: name, arguments: block["input"] ?? .object([:])))
            default:
                continue  // thinking, server tool results...: not part of this API
            }
        }
        var content: String? = texts.isEmpty ? nil : texts.joined()

        let stopReason = json["stop_reason"]?.stringValue
        var finishReason: FinishReason = switch stopReason {
        case "end_turn", "stop_sequence": .stop
        case "max_tokens": .length
        case "tool_use": .toolCalls
        case "refusal": .contentFilter
        case let other: .other(other)
        }
        if stopReason == "refusal" {
            throw transport.refused("the model refused: \(transport.quote(content ?? ""))", reply, usage: usage, rawText: content)
        }

        if case .jsonSchema(let name, _, _) = request.responseFormat {
            guard let index = toolCalls.firstIndex(where: { $0.name == name }) else {
                throw transport.malformed(
                    "the forced tool \(name) carrying the JSON response was not called: \(transport.quote(content ?? ""))",
                    reply, usage: usage, rawText: content)
            }
            content = toolCalls.remove(at: index).arguments.serializedString()
            if finishReason == .toolCalls, toolCalls.isEmpty { finishReason = .stop }
        }

        return ChatResponse(
            content: content,
            toolCalls: toolCalls,
            finishReason: finishReason,
            usage: usage,
            model: json["model"]?.stringValue ?? request.model,
            providerRequestId: reply.requestId,
            latency: reply.latency
        )
    }

    /// `input_tokens` excludes prompt-cache reads and writes; they are added so `inputTokens`
    /// means "all prompt tokens" as with OpenAI.
    private static func usage(_ usage: JSONValue) -> TokenUsage? {
        let input = usage.int("input_tokens")
        let output = usage.int("output_tokens")
        guard input != nil || output != nil else { return nil }
        let cacheWrite = usage.int("cache_creation_input_tokens") ?? 0
        let cacheRead = usage.int("cache_read_input_tokens")
        return TokenUsage(
            inputTokens: (input ?? 0) + cacheWrite + (cacheRead ?? 0),
            outputTokens: output ?? 0,
            cachedInputTokens: cacheRead
        )
    }
}
