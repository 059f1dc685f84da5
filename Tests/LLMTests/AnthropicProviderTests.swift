import HTTPClient
import JSON
import LLM
import LLMFixture
import Testing

@Suite("Anthropic provider over HTTP")
struct AnthropicProviderTests {
    @Test("system is separated, tool results are merged into one user turn, headers and defaults are set")
    func requestShape() async throws {
        try await withFixture { server, client in
            let provider = AnthropicProvider(baseURL: server.baseURL, apiKey: "sk-ant-test", httpClient: client)
            let calls = [
                ToolCall(id: "toolu_1", name: "get_weather", arguments: ["city": "Oslo"]),
                ToolCall(id: "toolu_2", name: "get_weather", arguments: ["city": "Bergen"]),
            ]
            _ = try await provider.complete(ChatRequest(
                model: "claude-sonnet-4-5",
                messages: [
                    .system("You are terse."),
                    .user("Weather in Oslo and Bergen?"),
                    .assistant("Checking.", toolCalls: calls),
                    .tool(callId: "toolu_1", name: "get_weather", content: "3C"),
                    .tool(callId: "toolu_2", name: "get_weather", content: "5C"),
                    .system("Answer in one line."),
                ],
                tools: [weatherTool],
                toolChoice: .required,
                temperature: 0,
                seed: 7
            ))

            let recorded = try #require(server.requests(for: .anthropicMessages).first)
            #expect(recorded.path == "/v1/messages")
            #expect(recorded.header("x-api-key") == "sk-ant-test")
            #expect(recorded.header("anthropic-version") == "2023-06-01")
            #expect(recorded.header("authorization") == nil)
            let body = try #require(recorded.json)
            #expect(body["model"] == "claude-sonnet-4-5")
            #expect(body["max_tokens"] == 1024)
            #expect(body["temperature"] == 0)
            #expect(body["seed"] == nil)
            #expect(body["system"] == "You are terse.\n\nAnswer in one line.")
            #expect(body["tools"] == [["name": "get_weather", "description": "Current weather for a city", "input_schema": weatherTool.parameters]])
            #expect(body["tool_choice"] == ["type": "any"])
            #expect(body["messages"] == [
                ["role": "user", "content": [["type": "text", "text": "Weather in Oslo and Bergen?"]]],
                ["role": "assistant", "content": [
                    ["type": "text", "text": "Checking."],
                    ["type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": ["city": "Oslo"]],
                    ["type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": ["city": "Bergen"]],
                ]],
                ["role": "user", "content": [
                    ["type": "tool_result", "tool_use_id": "toolu_1", "content": "3C"],
                    ["type": "tool_result", "tool_use_id": "toolu_2", "content": "5C"],
                ]],
            ])
        }
    }

    @Test("text and tool_use blocks map to content and tool calls, with usage and request id")
    func toolUseParsing() async throws {
        try await withFixture(configuration: .init(usage: (input: 300, output: 45))) { server, client in
            server.enqueue(.toolCalls([FixtureToolCall(id: "toolu_9", name: "get_weather", arguments: #"{"city":"Oslo"}"#)], content: "Let me check."),
                           for: .anthropicMessages)
            let provider = AnthropicProvider(baseURL: server.baseURL, apiKey: "k", httpClient: client)
            let response = try await provider.complete(ChatRequest(model: "claude-haiku-4-5", messages: [.user("weather?")], tools: [weatherTool], maxTokens: 64))
            #expect(server.requests.first?.json?["max_tokens"] == 64)
            #expect(response.content == "Let me check.")
            #expect(response.toolCalls == [ToolCall(id: "toolu_9", name: "get_weather", arguments: ["city": "Oslo"])])
            #expect(response.finishReason == .toolCalls)
            #expect(response.usage == TokenUsage(inputTokens: 300, outputTokens: 45))
            #expect(response.model == "claude-haiku-4-5")
            #expect(response.providerRequestId == "req_fixture_1")
        }
    }

    @Test("a JSON-schema response format is a forced tool whose input becomes the content")
    func jsonSchemaViaForcedTool() async throws {
        try await withFixture { server, client in
            server.enqueue(.toolCalls([FixtureToolCall(id: "toolu_1", name: "decision", arguments: #"{"action":"reply","confidence":0.9}"#)]),
                           for: .anthropicMessages)
            let provider = AnthropicProvider(baseURL: server.baseURL, apiKey: "k", httpClient: client)
            let response = try await provider.complete(ChatRequest(
                model: "claude-sonnet-4-5",
                messages: [.system("Decide."), .user("Where is my order?")],
                tools: [weatherTool],
                responseFormat: .jsonSchema(name: "decision", schema: decisionSchema)
            ))
            let body = try #require(server.requests.first?.json)
            #expect(body["tool_choice"] == ["type": "tool", "name": "decision"])
            #expect(body["tools"]?.arrayValue?.count == 2)
            #expect(body["tools"]?[1]?["name"] == "decision")
            #expect(body["tools"]?[1]?["input_schema"] == decisionSchema)
            #expect(body["response_format"] == nil)

            let content = try #require(response.content)
            #expect(try JSONValue.parse(content) == ["action": "reply", "confidence": 0.9])
            #expect(response.toolCalls.isEmpty)
            #expect(response.finishReason == .stop)
        }
    }

    @Test("the forced tool not being called is malformedResponse")
    func jsonSchemaToolMissing() async throws {
        try await withFixture { server, client in
            server.enqueue(.ok(content: "Sure! {\"action\": \"reply\"}"), for: .anthropicMessages)
            let provider = AnthropicProvider(baseURL: server.baseURL, apiKey: "k", httpClient: client)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")], responseFormat: .jsonSchema(name: "decision", schema: decisionSchema)))
            })
            #expect(error.code == .malformedResponse)
            #expect(error.rawText == "Sure! {\"action\": \"reply\"}")
            #expect(error.usage != nil)
        }
    }

    @Test("529 overloaded is a retriable server error; 401 is authentication; refusal is refused")
    func errors() async throws {
        try await withFixture { server, client in
            server.enqueue(
                .status(529),
                .status(401),
                .json(body: [
                    "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
                    "stop_reason": "refusal", "usage": ["input_tokens": 10, "output_tokens": 1],
                ]),
                .json(status: 200, body: ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]]),
                for: .anthropicMessages)
            let provider = AnthropicProvider(baseURL: server.baseURL, apiKey: "k", httpClient: client)
            let request = ChatRequest(model: "m", messages: [.user("hi")])

            let overloaded = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(overloaded.code == .serverError)
            #expect(overloaded.isRetriable)
            #expect(overloaded.message.contains("overloaded_error"))
            #expect(overloaded.providerRequestId == "req_fixture_1")

            let auth = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(auth.code == .authentication)
            #expect(!auth.isRetriable)

            let refusal = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(refusal.code == .refused)
            #expect(refusal.usage == TokenUsage(inputTokens: 10, outputTokens: 1))

            let inBody = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(inBody.code == .serverError)
            #expect(inBody.message.contains("Overloaded"))
        }
    }

    @Test("usage counts prompt-cache tokens as input; missing usage is nil")
    func usage() async throws {
        try await withFixture { server, client in
            server.enqueue(
                .json(body: [
                    "type": "message", "role": "assistant", "content": [["type": "text", "text": "hi"]], "stop_reason": "end_turn",
                    "usage": ["input_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 900, "output_tokens": 3],
                ]),
                .ok(content: "no usage", usage: .omitted),
                for: .anthropicMessages)
            let provider = AnthropicProvider(baseURL: server.baseURL, apiKey: "k", httpClient: client)
            let request = ChatRequest(model: "claude-x", messages: [.user("hi")])
            let cached = try await provider.complete(request)
            #expect(cached.usage == TokenUsage(inputTokens: 1005, outputTokens: 3, cachedInputTokens: 900))
            #expect(cached.model == "claude-x")
            #expect(cached.providerRequestId == nil)  // neither a request-id header nor an id
            let bare = try await provider.complete(request)
            #expect(bare.content == "no usage")
            #expect(bare.usage == nil)
        }
    }
}
