import Foundation
import HTTPClient
import LLM
import LLMFixture
import Testing

@Suite("API keys never leak")
struct SecretHandlingTests {
    static let key = "sk-LEAKCANARY-7f3a9c2e5b1d"

    @Test("no error description, message, raw text or dump contains the key")
    func errorsNeverContainKey() async throws {
        let key = Self.key
        try await withFixture { server, client in
            let providers: [(any ChatProvider, FixtureEndpoint, String)] = [
                (OpenAICompatibleProvider(baseURL: server.openAIBaseURL, apiKey: key, httpClient: client, extraHeaders: ["OpenAI-Project": "proj-\(key)"]),
                 .openAIChatCompletions, "Incorrect API key provided: \(key)"),
                (AnthropicProvider(baseURL: server.baseURL, apiKey: key, httpClient: client), .anthropicMessages, "invalid x-api-key \(key)"),
            ]
            var errors: [LLMError] = []
            for (provider, endpoint, echo) in providers {
                server.enqueue(
                    .raw(status: 401, body: #"{"error":{"message":"\#(echo)","type":"invalid_request_error"}}"#),
                    .raw(status: 500, body: "upstream said \(echo)"),
                    .raw(status: 200, body: "not json \(echo)"),
                    .status(429, retryAfter: 1),
                    .delay(.seconds(30), then: .ok(content: "late")),
                    for: endpoint)
                if endpoint == .openAIChatCompletions {
                    server.enqueue(.toolCalls([FixtureToolCall(id: "c", name: "t", arguments: "{bad \(echo)")]), for: endpoint)
                }
                let request = ChatRequest(model: "m", messages: [.user("hi")], timeout: .milliseconds(300))
                let retrying = RetryingProvider(wrapping: provider, maxAttempts: 1)
                while server.pendingReplies(for: endpoint) > 0 {
                    if let error = await expectLLMError({ () async throws(LLMError) in try await retrying.complete(request) }) {
                        errors.append(error)
                    }
                }
                for text in [String(describing: provider), String(reflecting: provider), "\(provider)", dumped(provider)] {
                    #expect(!text.contains(key), "provider description leaks the key: \(text)")
                }
            }
            // Proves the scenarios happened (and echoed the key) rather than passing vacuously.
            #expect(errors.count == 11)
            #expect(Set(errors.map(\.code)) == [.authentication, .serverError, .malformedResponse, .rateLimited, .timeout])
            for error in errors {
                for text in [error.description, error.message, error.rawText ?? "", String(reflecting: error), "\(error)"] {
                    #expect(!text.contains(key), "error leaks the key: \(text)")
                }
            }
            #expect(errors.contains { $0.message.contains("<redacted>") })
        }
    }

    @Test("descriptions hide URL credentials and header values")
    func descriptionsRedact() async {
        let client = HTTPClient(logger: .init(label: "t"))
        let provider = OpenAICompatibleProvider(
            baseURL: "https://user:hunter2@gateway.example.com/v1?key=abc123", apiKey: "sk-x", httpClient: client,
            extraHeaders: ["X-Secret": "s3cr3t"])
        let text = "\(provider)"
        #expect(text.contains("https://gateway.example.com/v1"))
        for secret in ["hunter2", "abc123", "s3cr3t", "sk-x"] { #expect(!text.contains(secret)) }
        #expect(!dumped(provider).contains("sk-x"))
        await client.shutdown()
    }

    @Test("APIKey.fromEnvironment trims and treats blank as unset")
    func apiKeyFromEnvironment() {
        let name = "LLM_TESTS_KEY_\(UInt32.random(in: 0...UInt32.max))"
        #expect(APIKey.fromEnvironment(variableName: name) == nil)
        setenv(name, "  sk-abc\n", 1)
        #expect(APIKey.fromEnvironment(variableName: name) == "sk-abc")
        setenv(name, " \n", 1)
        #expect(APIKey.fromEnvironment(variableName: name) == nil)
        unsetenv(name)
        // The planner looks keys up in the environment its configuration captured.
        #expect(APIKey.from(["K": "sk-file\n"], variableName: "K") == "sk-file")
        #expect(APIKey.from(["K": "  "], variableName: "K") == nil)
    }
}

private func dumped(_ value: Any) -> String {
    var text = ""
    dump(value, to: &text)
    return text
}
