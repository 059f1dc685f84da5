import HTTPClient
import JSON
import LLMFixture
import Logging
import Testing

@Suite("LLM fixture server")
struct FixtureServerTests {
    @Test("unknown routes get 404 and are recorded; scripted replies are FIFO, then the default")
    func routingAndQueue() async throws {
        try await withFixture(configuration: .init(defaultReply: .status(418))) { server, client in
            let missing = try await client.execute(HTTPRequest(method: "GET", url: server.baseURL + "/v1/models"))
            #expect(missing.status == 404)

            server.enqueue(.status(500), .ok(content: "second"), for: .openAIChatCompletions)
            var statuses: [Int] = []
            for _ in 0..<3 {
                let response = try await client.execute(HTTPRequest(
                    method: "POST", url: server.openAIBaseURL + "/chat/completions",
                    headers: ["Content-Type": "application/json"], body: Array(#"{"model":"m"}"#.utf8)))
                statuses.append(response.status)
            }
            #expect(statuses == [500, 200, 418])
            #expect(server.requests.map(\.path) == ["/v1/models"] + Array(repeating: "/v1/chat/completions", count: 3))
            #expect(server.requests.first?.endpoint == nil)
            #expect(server.requests(for: .openAIChatCompletions).allSatisfy { $0.json == ["model": "m"] })
        }
    }

    @Test("shutdown is idempotent and the port stops accepting")
    func shutdown() async throws {
        let server = try await LLMFixtureServer.start()
        try await server.shutdown()
        try await server.shutdown()
        let client = HTTPClient(logger: Logger(label: "t"))
        await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(HTTPRequest(url: server.baseURL + "/v1/messages"))
        }
        await client.shutdown()
    }
}
