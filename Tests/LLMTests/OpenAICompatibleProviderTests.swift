import HTTPClient
import JSON
import LLM
import LLMFixture
import Testing

@Suite("OpenAI-compatible provider over HTTP")
struct OpenAICompatibleProviderTests {
    @Test("request body carries messages, tools, tool_choice, response_format and sampling options")
    func requestShape() async throws {
        try await withFixture { server, client in
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: "sk-test-123", httpClient: client)
            let earlierCall = ToolCall(id: "call_9", name: "get_weather", arguments: ["city": "Oslo"])
            let request = ChatRequest(
                model: "gpt-4o-mini",
                messages: [
                    .system("You are terse."),
                    .user("Weather in Oslo?"),
                    .assistant(nil, toolCalls: [earlierCall]),
                    .tool(callId: "call_9", name: "get_weather", content: #"{"temp":3}"#),
                ],
                tools: [weatherTool],
                toolChoice: .tool(name: "get_weather"),
                responseFormat: .jsonSchema(name: "decision", schema: decisionSchema, strict: true),
                temperature: 0.2,
                maxTokens: 256,
                seed: 42
            )
            _ = try await provider.complete(request)

            let recorded = try #require(server.requests(for: .openAIChatCompletions).first)
            #expect(recorded.method == "POST")
            #expect(recorded.path == "/v1/chat/completions")
            #expect(recorded.header("authorization") == "Bearer sk-test-123")
            #expect(recorded.header("content-type") == "application/json")
            let body = try #require(recorded.json)
            #expect(body["model"] == "gpt-4o-mini")
            #expect(body["temperature"] == 0.2)
            #expect(body["max_tokens"] == 256)
            #expect(body["seed"] == 42)
            #expect(body["stream"] == false)
            #expect(body["tools"] == [[
                "type": "function",
                "function": ["name": "get_weather", "description": "Current weather for a city", "parameters": weatherTool.parameters],
            ]])
            #expect(body["tool_choice"] == ["type": "function", "function": ["name": "get_weather"]])
            #expect(body["response_format"] == [
                "type": "json_schema", "json_schema": ["name": "decision", "schema": decisionSchema, "strict": true],
            ])
            #expect(body["messages"] == [
                ["role": "system", "content": "You are terse."],
                ["role": "user", "content": "Weather in Oslo?"],
                ["role": "assistant", "content": nil, "tool_calls": [
                    ["id": "call_9", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city":"Oslo"}"#]],
                ]],
                ["role": "tool", "tool_call_id": "call_9", "content": #"{"temp":3}"#],
            ])
        }
    }

    @Test("no Authorization header without a key; optional fields are omitted", arguments: [nil, ""] as [String?])
    func noKeyNoBearer(key: String?) async throws {
        try await withFixture { server, client in
            let provider = OpenAICompatibleProvider(
                baseURL: server.openAIBaseURL + "/", apiKey: key, httpClient: client,
                tokenLimitParameter: .maxCompletionTokens)
            _ = try await provider.complete(ChatRequest(model: "llama3.1:8b", messages: [.user("hi")], maxTokens: 10))
            let recorded = try #require(server.requests.first)
            #expect(recorded.path == "/v1/chat/completions")  // trailing slash of baseURL tolerated
            #expect(recorded.header("authorization") == nil)
            let body = try #require(recorded.json?.objectValue)
            #expect(body["max_completion_tokens"] == 10)
            for absent in ["tools", "tool_choice", "response_format", "temperature", "seed", "max_tokens"] {
                #expect(body[absent] == nil, "\(absent) should not be sent")
            }
        }
    }

    @Test("a text reply maps content, finish reason, usage, model and request id")
    func textReply() async throws {
        try await withFixture(configuration: .init(usage: (input: 120, output: 30), model: "gpt-4o-mini-2024-07-18")) { server, client in
            server.enqueue(.ok(content: "Hello there"), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let response = try await provider.complete(ChatRequest(model: "gpt-4o-mini", messages: [.user("hi")]))
            #expect(response.content == "Hello there")
            #expect(response.toolCalls.isEmpty)
            #expect(response.finishReason == .stop)
            #expect(response.usage == TokenUsage(inputTokens: 120, outputTokens: 30))
            #expect(response.model == "gpt-4o-mini-2024-07-18")
            #expect(response.providerRequestId == "req_fixture_1")
            #expect(response.attempts == 1)
            #expect(response.latency > .zero)
        }
    }

    @Test("tool calls: the arguments string is parsed and kept verbatim; content may be null")
    func toolCallParsing() async throws {
        try await withFixture { server, client in
            let raw = #"{"city": "Oslo", "unit": "c"}"#
            server.enqueue(.toolCalls([
                FixtureToolCall(id: "call_1", name: "get_weather", arguments: raw),
                FixtureToolCall(id: "call_2", name: "get_time", arguments: ""),
            ]), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let response = try await provider.complete(ChatRequest(model: "m", messages: [.user("weather?")], tools: [weatherTool]))
            #expect(response.content == nil)
            #expect(response.finishReason == .toolCalls)
            try #require(response.toolCalls.count == 2)
            #expect(response.toolCalls[0].id == "call_1")
            #expect(response.toolCalls[0].name == "get_weather")
            #expect(response.toolCalls[0].arguments == ["city": "Oslo", "unit": "c"])
            #expect(response.toolCalls[0].rawArguments == raw)
            #expect(response.toolCalls[1].arguments == [:])  // "" means no arguments
        }
    }

    @Test("self-hosted quirks: no usage, no id, no model, object arguments, missing call ids, extra fields")
    func tolerantParsing() async throws {
        try await withFixture { server, client in
            server.enqueue(
                .ok(content: "no usage here", usage: .omitted),
                .json(body: [
                    "choices": [[
                        "message": [
                            "role": "assistant", "content": nil, "reasoning_content": "thinking...",
                            "tool_calls": [["function": ["name": "get_weather", "arguments": ["city": "Bergen"]]]],
                        ],
                        "finish_reason": "tool_calls",
                    ]],
                    "timings": ["predicted_ms": 12.5],
                ]),
                for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let request = ChatRequest(model: "qwen2.5:0.5b", messages: [.user("hi")])

            let first = try await provider.complete(request)
            #expect(first.content == "no usage here")
            #expect(first.usage == nil)

            let second = try await provider.complete(request)
            #expect(second.usage == nil)
            #expect(second.model == "qwen2.5:0.5b")
            #expect(second.toolCalls == [ToolCall(id: "call_0", name: "get_weather", arguments: ["city": "Bergen"])])
        }
    }

    @Test("a malformed body is malformedResponse and is not retried")
    func malformedBodyNotRetried() async throws {
        try await withFixture { server, client in
            server.enqueue(.malformedJSON, .ok(content: "would succeed"), for: .openAIChatCompletions)
            let sleeps = SleepRecorder()
            let provider = RetryingProvider(
                wrapping: OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client),
                maxAttempts: 3, sleep: sleeps.sleep)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            })
            #expect(error.code == .malformedResponse)
            #expect(!error.isRetriable)
            #expect(error.attempts == 1)
            #expect(error.rawText?.hasPrefix(#"{"id": "broken""#) == true)
            #expect(server.requests.count == 1)
            #expect(sleeps.durations.isEmpty)
            #expect(server.pendingReplies(for: .openAIChatCompletions) == 1)
        }
    }

    @Test("tool-call arguments that are not JSON: malformedResponse with the raw text and the billed usage")
    func malformedArguments() async throws {
        try await withFixture { server, client in
            let raw = #"{"city": "Oslo",,}"#
            server.enqueue(.toolCalls([FixtureToolCall(id: "call_1", name: "get_weather", arguments: raw)], usage: .tokens(input: 50, output: 9)),
                           for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")], tools: [weatherTool]))
            })
            #expect(error.code == .malformedResponse)
            #expect(!error.isRetriable)
            #expect(error.rawText == raw)
            #expect(error.usage == TokenUsage(inputTokens: 50, outputTokens: 9))
            #expect(error.message.contains("get_weather"))
            #expect(error.providerRequestId == "req_fixture_1")
        }
    }

    @Test("429 with Retry-After is retried after exactly the requested wait")
    func rateLimitHonoursRetryAfter() async throws {
        try await withFixture { server, client in
            server.enqueue(.status(429, retryAfter: 2), .ok(content: "finally"), for: .openAIChatCompletions)
            let sleeps = SleepRecorder()
            let provider = RetryingProvider(
                wrapping: OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client),
                maxAttempts: 3, baseBackoff: .milliseconds(100), maxBackoff: .seconds(1), maxRetryAfter: .seconds(10),
                sleep: sleeps.sleep)
            let response = try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            #expect(response.content == "finally")
            #expect(response.attempts == 2)
            #expect(sleeps.durations == [.seconds(2)])
            let failure = try #require(response.failedAttempts.first)
            #expect(failure.error.code == .rateLimited)
            #expect(failure.error.httpStatus == 429)
            #expect(failure.error.retryAfter == .seconds(2))
            #expect(failure.error.providerRequestId == "req_fixture_1")
            #expect(failure.backoff == .seconds(2))
            #expect(server.requests.count == 2)
        }
    }

    @Test("a Retry-After beyond maxRetryAfter gives up at once so a router can switch models")
    func retryAfterTooLongGivesUp() async throws {
        try await withFixture { server, client in
            server.enqueue(.status(429, retryAfter: 120), .ok(content: "unused"), for: .openAIChatCompletions)
            let sleeps = SleepRecorder()
            let provider = RetryingProvider(
                wrapping: OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client),
                maxAttempts: 5, maxRetryAfter: .seconds(30), sleep: sleeps.sleep)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            })
            #expect(error.code == .rateLimited)
            #expect(error.isRetriable)
            #expect(error.retryAfter == .seconds(120))
            #expect(error.attempts == 1)
            #expect(sleeps.durations.isEmpty)
            #expect(server.requests.count == 1)
        }
    }

    @Test("retry-after-ms wins over Retry-After; quota exhaustion is not retriable")
    func retryAfterMillisecondsAndQuota() async throws {
        try await withFixture { server, client in
            server.enqueue(
                .raw(status: 429, body: #"{"error":{"message":"slow down"}}"#, headers: ["retry-after-ms": "1500", "retry-after": "9"]),
                .json(status: 429, body: ["error": ["message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"]]),
                for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let request = ChatRequest(model: "m", messages: [.user("hi")])

            let limited = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(limited.retryAfter == .milliseconds(1500))
            #expect(limited.isRetriable)
            #expect(limited.message.contains("slow down"))

            let quota = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(quota.code == .rateLimited)
            #expect(!quota.isRetriable)
        }
    }

    @Test("500 twice then success: three attempts with growing, jittered backoff")
    func serverErrorsThenSuccess() async throws {
        try await withFixture { server, client in
            server.enqueue(.status(500), .status(503), .ok(content: "third time lucky"), for: .openAIChatCompletions)
            let sleeps = SleepRecorder()
            let provider = RetryingProvider(
                wrapping: OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client),
                maxAttempts: 3, baseBackoff: .milliseconds(200), maxBackoff: .seconds(5), sleep: sleeps.sleep)
            let response = try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            #expect(response.content == "third time lucky")
            #expect(response.attempts == 3)
            #expect(response.failedAttempts.map(\.error.code) == [.serverError, .serverError])
            #expect(response.failedAttempts.map(\.error.httpStatus) == [500, 503])
            let waits = sleeps.durations
            try #require(waits.count == 2)
            #expect(waits[0] >= .milliseconds(100) && waits[0] <= .milliseconds(200))
            #expect(waits[1] >= .milliseconds(200) && waits[1] <= .milliseconds(400))
            #expect(server.requests.count == 3)
        }
    }

    @Test("retries stop at maxAttempts and the error lists every failed attempt")
    func exhaustedRetries() async throws {
        try await withFixture { server, client in
            server.setDefaultReply(.status(502), for: .openAIChatCompletions)
            let sleeps = SleepRecorder()
            let provider = RetryingProvider(
                wrapping: OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client),
                maxAttempts: 3, sleep: sleeps.sleep)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            })
            #expect(error.code == .serverError)
            #expect(error.attempts == 3)
            #expect(error.failedAttempts.count == 2)
            #expect(sleeps.durations.count == 2)
            #expect(server.requests.count == 3)
        }
    }

    @Test("a reply slower than the request timeout is a retriable timeout")
    func timeout() async throws {
        try await withFixture { server, client in
            server.setDefaultReply(.delay(.seconds(30), then: .ok(content: "too late")), for: .openAIChatCompletions)
            let sleeps = SleepRecorder()
            let provider = RetryingProvider(
                wrapping: OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client),
                maxAttempts: 2, sleep: sleeps.sleep)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")], timeout: .milliseconds(300)))
            })
            #expect(error.code == .timeout)
            #expect(error.isRetriable)
            #expect(error.httpStatus == nil)
            #expect(error.transportError?.code == .timeout)
            #expect(error.attempts == 2)
            #expect(error.failedAttempts.first?.error.code == .timeout)
            #expect(server.requests.count == 2)
        }
    }

    @Test("nothing listening: connectFailed, retriable")
    func connectFailed() async throws {
        let port = try await withLLMFixtureServer { $0.port }  // closed again by now
        try await withFixture { _, client in
            let provider = OpenAICompatibleProvider(baseURL: "http://127.0.0.1:\(port)/v1", apiKey: nil, httpClient: client)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            })
            #expect(error.code == .connectFailed)
            #expect(error.isRetriable)
        }
    }

    @Test("refusals and content filtering are refused, not retriable, with usage")
    func refusals() async throws {
        try await withFixture { server, client in
            server.enqueue(
                .json(body: [
                    "choices": [["message": ["role": "assistant", "content": nil, "refusal": "I can't help with that."], "finish_reason": "stop"]],
                    "usage": ["prompt_tokens": 20, "completion_tokens": 6],
                ]),
                .json(body: ["choices": [["message": ["role": "assistant", "content": ""], "finish_reason": "content_filter"]]]),
                for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let request = ChatRequest(model: "m", messages: [.user("hi")])

            let refusal = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(refusal.code == .refused)
            #expect(!refusal.isRetriable)
            #expect(refusal.rawText == "I can't help with that.")
            #expect(refusal.usage == TokenUsage(inputTokens: 20, outputTokens: 6))

            let filtered = try #require(await expectLLMError { () async throws(LLMError) in try await provider.complete(request) })
            #expect(filtered.code == .refused)
        }
    }

    @Test("HTTP statuses map to codes and retriability", arguments: [
        (400, LLMError.Code.badRequest, false), (401, .authentication, false), (403, .authentication, false),
        (404, .badRequest, false), (408, .timeout, true), (422, .badRequest, false), (429, .rateLimited, true),
        (500, .serverError, true), (503, .serverError, true),
    ])
    func statusMapping(status: Int, code: LLMError.Code, retriable: Bool) async throws {
        try await withFixture { server, client in
            server.enqueue(.status(status), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let error = try #require(await expectLLMError { () async throws(LLMError) in
                try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            })
            #expect(error.code == code)
            #expect(error.isRetriable == retriable)
            #expect(error.httpStatus == status)
            #expect(error.provider == .openAICompatible)
            #expect(error.message.contains("fixture status \(status)"))
        }
    }
}
