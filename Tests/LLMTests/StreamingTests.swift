import HTTPClient
import JSON
import LLM
import LLMFixture
import Testing

@Suite("Streamed answers (OpenAI-compatible)")
struct StreamingTests {
    @Test("a streamed answer is assembled like a whole one, with the time to its first chunk")
    func streamedTextAndUsage() async throws {
        try await withFixture { server, client in
            server.enqueue(.ok(content: #"{"intent":"order_status","reply":null}"#, usage: .tokens(input: 120, output: 17)), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let response = try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")], maxTokens: 64, stream: true))
            #expect(response.content == #"{"intent":"order_status","reply":null}"#)
            #expect(response.finishReason == .stop)
            #expect(response.usage == TokenUsage(inputTokens: 120, outputTokens: 17))
            #expect(response.providerRequestId != nil)
            let first = try #require(response.firstTokenLatency)
            #expect(first > .zero && first <= response.latency)
            let body = try #require(server.requests(for: .openAIChatCompletions).first?.json)
            #expect(body["stream"] == true && body["stream_options"] == ["include_usage": true])
            #expect(server.requests(for: .openAIChatCompletions).first?.header("accept") == "text/event-stream")
        }
    }

    @Test("a whole answer has no first-token time, and is asked for without streaming")
    func notStreamed() async throws {
        try await withFixture { server, client in
            server.enqueue(.ok(content: "hello"), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let response = try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")]))
            #expect(response.content == "hello" && response.firstTokenLatency == nil)
            #expect(server.requests(for: .openAIChatCompletions).first?.json?["stream"] == false)
        }
    }

    @Test("streamed tool calls are assembled from their pieces")
    func streamedToolCalls() async throws {
        try await withFixture { server, client in
            server.enqueue(.toolCalls([FixtureToolCall(id: "call_1", name: "get_order_status", arguments: #"{"order_id":"ABC123"}"#)]), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let response = try await provider.complete(ChatRequest(model: "m", messages: [.user("hi")], stream: true))
            #expect(response.finishReason == .toolCalls)
            #expect(response.toolCalls.map(\.name) == ["get_order_status"] && response.toolCalls.first?.arguments == ["order_id": "ABC123"])
        }
    }

    @Test("chunks: pieces joined, arguments split across chunks, an error chunk, a broken chunk")
    func assembling() async throws {
        let pieces: [(String, JSONValue)] = [
            ("content", [["delta": ["content": "{\"a\":"]]]), ("content", [["delta": ["content": "1}"]]]),
            ("tool", [["delta": ["tool_calls": [["index": 0, "id": "c1", "function": ["name": "t", "arguments": "{\"x\""]]]]]]),
            ("tool", [["delta": ["tool_calls": [["index": 0, "function": ["arguments": ":2}"]]]]]]),
            ("finish", [["delta": [:], "finish_reason": "length"]]),
        ]
        let body = pieces.map { "data: " + JSONValue.object(["id": "x", "choices": $0.1]).serializedString() + "\n\n" }.joined() + "data: [DONE]\n\n"
        try await withFixture { server, client in
            server.enqueue(.raw(status: 200, body: body, headers: ["Content-Type": "text/event-stream"]), for: .openAIChatCompletions)
            server.enqueue(.raw(status: 200, body: "data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n", headers: ["Content-Type": "text/event-stream"]), for: .openAIChatCompletions)
            server.enqueue(.raw(status: 200, body: "data: {not json\n\n", headers: ["Content-Type": "text/event-stream"]), for: .openAIChatCompletions)
            let provider = OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: nil, httpClient: client)
            let request = ChatRequest(model: "m", messages: [.user("hi")], stream: true)
            let response = try await provider.complete(request)
            #expect(response.content == #"{"a":1}"# && response.finishReason == .length)
            #expect(response.toolCalls.first?.arguments == ["x": 2])
            await #expect(throws: LLMError.self) { _ = try await provider.complete(request) }
            do {
                _ = try await provider.complete(request)
                Issue.record("a broken chunk was accepted")
            } catch {
                #expect("\(error)".contains("not JSON"), "\(error)")
            }
        }
    }
}
