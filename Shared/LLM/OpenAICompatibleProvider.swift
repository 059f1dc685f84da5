import HTTPClient
import JSON

/// `POST {baseURL}/chat/completions` in OpenAI's format, as also served by Groq, vLLM,
/// Ollama (`/v1`), llama.cpp's server, OpenRouter and others.
///
/// Tolerant of what such servers leave out or add: missing `usage` or `id`, `content: null`
/// next to `tool_calls`, tool-call arguments sent as an object or as `""`, missing tool-call
/// ids (synthesised as `call_<index>`), unknown fields, and an `error` object inside a 200.
public struct OpenAICompatibleProvider: ChatProvider, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Which body field carries `ChatRequest.maxTokens`. OpenAI's reasoning models accept only
    /// `max_completion_tokens`; many self-hosted servers only know `max_tokens`.
    public enum TokenLimitParameter: String, Sendable {
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
    }

    public let kind: ProviderKind = .openAICompatible
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`.
    public let baseURL: String
    private let apiKey: Secret?
    private let extraHeaders: HTTPHeaders
    private let tokenLimitParameter: TokenLimitParameter
    private let transport: ProviderTransport

    /// - Parameters:
    ///   - apiKey: sent as `Authorization: Bearer` only when non-empty (local servers need none).
    ///   - extraHeaders: added to every request (e.g. `OpenAI-Organization`). Their values are
    ///     never described, and values of 8+ characters are scrubbed from error messages.
    public init(
        baseURL: String,
        apiKey: String?,
        httpClient: HTTPClient,
        extraHeaders: HTTPHeaders = [:],
        tokenLimitParameter: TokenLimitParameter = .maxTokens
    ) {
        self.baseURL = baseURL
        self.apiKey = Secret(apiKey)
        self.extraHeaders = extraHeaders
        self.tokenLimitParameter = tokenLimitParameter
        self.transport = ProviderTransport(
            kind: .openAICompatible,
            httpClient: httpClient,
            secrets: secretsToScrub(apiKey: apiKey, extraHeaders: extraHeaders)
        )
    }

    public var description: String {
        "OpenAICompatibleProvider(baseURL: \(redactedURL(baseURL)), apiKey: \(apiKey == nil ? "none" : "<redacted>"), extraHeaders: \(extraHeaders.map(\.name)))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["baseURL": redactedURL(baseURL), "apiKey": apiKey == nil ? "none" : "<redacted>"])
    }

    public func complete(_ request: ChatRequest) async throws(LLMError) -> ChatResponse {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Accept": request.stream ? "text/event-stream" : "application/json"]
        if let apiKey { headers.add(name: "Authorization", value: "Bearer \(apiKey.value)") }
        for field in extraHeaders { headers.replaceOrAdd(name: field.name, value: field.value) }

        let reply = try await transport.post(
            url: joinURL(baseURL, "/chat/completions"),
            headers: headers,
            body: requestBody(request),
            timeout: request.timeout,
            requestIdHeader: "x-request-id"
        )
        guard (200..<300).contains(reply.response.status) else { throw transport.httpFailure(reply) }
        guard Self.isEventStream(reply.response) else { return try parseResponse(reply, request: request) }
        // A streamed answer is assembled into the one-document form and read the same way.
        var assembled = reply
        assembled.response.body = Self.assemble(ServerSentEvents.parse(reply.response.body)).serialized()
        var response = try parseResponse(assembled, request: request)
        response.firstTokenLatency = reply.response.firstBodyByteAfter
        return response
    }

    static func isEventStream(_ response: HTTPResponse) -> Bool {
        if let type = response.header("content-type"), type.lowercased().hasPrefix("text/event-stream") { return true }
        return response.body.starts(with: Array("data:".utf8))
    }

    /// Chat-completion chunks (`data: {choices:[{delta}]}` … `data: [DONE]`) as one response
    /// object: content and tool-call arguments concatenated, the last finish reason and usage.
    /// A chunk that is not JSON, or an `error` chunk, is kept as the response's `error`.
    static func assemble(_ events: [ServerSentEvent]) -> JSONValue {
        var content = ""
        var sawContent = false
        var finish: JSONValue = .null
        var usage: JSONValue = .null
        var id: JSONValue = .null
        var model: JSONValue = .null
        var error: JSONValue = .null
        var calls: [Int: (id: String, name: String, arguments: String)] = [:]
        for event in events where event.data != "[DONE]" {
            guard let chunk = try? JSONValue.parse(Array(event.data.utf8)) else {
                error = ["message": .string("a stream chunk is not JSON: \(event.data.prefix(200))")]
                continue
            }
            if let failure = chunk["error"], !failure.isNull { error = failure }
            if let value = chunk["id"], !value.isNull { id = value }
            if let value = chunk["model"], !value.isNull { model = value }
            if let value = chunk["usage"], !value.isNull { usage = value }
            guard let choice = chunk["choices"]?[0] else { continue }
            if let reason = choice["finish_reason"], !reason.isNull { finish = reason }
            let delta = choice["delta"] ?? choice["message"] ?? .null
            if let text = delta["content"]?.stringValue {
                content += text
                sawContent = true
            }
            for call in delta["tool_calls"]?.arrayValue ?? [] {
                let index = call["index"]?.intValue ?? 0
                var entry = calls[index] ?? ("", "", "")
                if let value = call["id"]?.stringValue { entry.id = value }
                if let value = call["function"]?["name"]?.stringValue { entry.name += value }
                if let value = call["function"]?["arguments"]?.stringValue { entry.arguments += value }
                calls[index] = entry
            }
        }
        var message: [String: JSONValue] = ["role": "assistant", "content": sawContent ? .string(content) : .null]
        if !calls.isEmpty {
            message["tool_calls"] = .array(calls.keys.sorted().map { index in
                let call = calls[index]!
                return ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
            })
        }
        var object: [String: JSONValue] = ["id": id, "model": model, "usage": usage, "choices": [["index": 0, "message": .object(message), "finish_reason": finish]]]
        if !error.isNull { object["error"] = error }
        return .object(object)
    }

    // MARK: - Request

    func requestBody(_ request: ChatRequest) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model),
            "messages": .array(request.messages.map(Self.message)),
            "stream": .bool(request.stream),
        ]
        if request.stream { body["stream_options"] = ["include_usage": true] }
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { tool in
                ["type": "function", "function": ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.parameters]]
            })
            body["tool_choice"] = switch request.toolChoice {
            case .auto: "auto"
            case .none: "none"
            case .required: "required"
            case .tool(let name): ["type": "function", "function": ["name": .string(name)]]
            }
        }
        if case .jsonSchema(let name, let schema, let strict) = request.responseFormat {
            body["response_format"] = [
                "type": "json_schema",
                "json_schema": ["name": .string(name), "schema": schema, "strict": .bool(strict)],
            ]
        }
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        if let maxTokens = request.maxTokens { body[tokenLimitParameter.rawValue] = .number(Double(maxTokens)) }
        if let seed = request.seed { body["seed"] = .number(Double(seed)) }
        return .object(body)
    }

    private static func message(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(message.role.rawValue)]
        switch message.role {
        case .system, .user:
            object["content"] = .string(message.content ?? "")
        case .assistant:
            object["content"] = message.content.map(JSONValue.string) ?? .null
            if !message.toolCalls.isEmpty {
                object["tool_calls"] = .array(message.toolCalls.map { call in
                    ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.rawArguments)]]
                })
            }
        case .tool:
            object["content"] = .string(message.content ?? "")
            object["tool_call_id"] = .string(message.toolCallId ?? "")
        }
        return .object(object)
    }

    // MARK: - Response

    private func parseResponse(_ reply: ProviderTransport.Reply, request: ChatRequest) throws(LLMError) -> ChatResponse {
        var reply = reply
        let json = try transport.parseObject(reply)
        reply.requestId = reply.requestId ?? json["id"]?.stringValue
        if let error = json["error"], !error.isNull {
            // OpenRouter and some proxies report upstream failures inside a 200.
            var failed = reply
            failed.response.status = error["code"]?.intValue.flatMap { (400..<600).contains($0) ? $0 : nil } ?? 502
            throw transport.httpFailure(failed)
        }
        let usage = json["usage"].flatMap(Self.usage)
        guard let choice = json["choices"]?[0], let message = choice["message"] else {
            throw transport.malformed("response has no choices[0].message", reply, usage: usage)
        }

        let finishReason: FinishReason = switch choice["finish_reason"]?.stringValue {
        case "stop": .stop
        case "length": .length
        case "tool_calls", "function_call": .toolCalls
        case "content_filter": .contentFilter
        case let other: .other(other)
        }
        let content = Self.text(message["content"])

        if let refusal = message["refusal"]?.stringValue, !refusal.isEmpty {
            throw transport.refused("the model refused: \(transport.quote(refusal))", reply, usage: usage, rawText: refusal)
        }

        var toolCalls: [ToolCall] = []
        for (index, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let function = call["function"], let name = function["name"]?.stringValue else {
                throw transport.malformed("tool_calls[\(index)] has no function name", reply, usage: usage)
            }
            let id = call["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "call_\(index)"
            switch function["arguments"] {
            case .string(let raw):
                do {
                    toolCalls.append(try ToolCall(id: id, name: name, rawArguments: raw))
                } catch {
                    throw transport.malformed(
                        "arguments of tool call \(name) are not valid JSON (\(error)): \(transport.quote(raw))",
                        reply, usage: usage, rawText: raw)
                }
            case nil, .null:
                toolCalls.append(ToolCall(id: id, name: name, arguments: .object([:])))
            case let arguments?:
                toolCalls.append(ToolCall(id: id, name: name, arguments: arguments))  // Ollama-style object
            }
        }

        if finishReason == .contentFilter, content?.isEmpty ?? true, toolCalls.isEmpty {
            throw transport.refused("the provider's content filter blocked the response", reply, usage: usage, rawText: nil)
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

    /// `content` is a string, null, or (some servers) an array of `{type: text, text}` parts.
    private static func text(_ content: JSONValue?) -> String? {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?:
            let texts = parts.compactMap { $0["text"]?.stringValue }
            return texts.isEmpty ? nil : texts.joined()
        default: return nil
        }
    }

    private static func usage(_ usage: JSONValue) -> TokenUsage? {
        let input = usage.int("prompt_tokens")
        let output = usage.int("completion_tokens")
        guard input != nil || output != nil else { return nil }
        return TokenUsage(
            inputTokens: input ?? 0,
            outputTokens: output ?? 0,
            cachedInputTokens: usage["prompt_tokens_details"]?.int("cached_tokens")
        )
    }
}
