import HTTPClient
import JSON
import LLM
import LLMFixture
import Logging
import Synchronization

/// A fixture server and a real libcurl client, both shut down after `body`.
func withFixture<T: Sendable>(
    configuration: LLMFixtureServer.Configuration = .init(),
    _ body: (LLMFixtureServer, HTTPClient) async throws -> T
) async throws -> T {
    try await withLLMFixtureServer(configuration: configuration) { server in
        let client = HTTPClient(maxConcurrentRequests: 4, logger: Logger(label: "LLMTests"))
        do {
            let result = try await body(server, client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

/// Records requested backoffs instead of waiting.
final class SleepRecorder: Sendable {
    private let recorded = Mutex<[Duration]>([])

    var durations: [Duration] { recorded.withLock { $0 } }

    var sleep: RetryingProvider.Sleep {
        { duration in self.recorded.withLock { $0.append(duration) } }
    }
}

/// Runs `operation`, expecting an `LLMError`.
func expectLLMError(_ operation: () async throws(LLMError) -> ChatResponse) async -> LLMError? {
    do {
        _ = try await operation()
        return nil
    } catch {
        return error
    }
}

let weatherTool = ToolDefinition(
    name: "get_weather",
    description: "Current weather for a city",
    parameters: [
        "type": "object",
        "properties": ["city": ["type": "string"], "unit": ["type": "string", "enum": ["c", "f"]]],
        "required": ["city"],
    ]
)

let decisionSchema: JSONValue = [
    "type": "object",
    "properties": ["action": ["type": "string", "enum": ["reply", "handover"]], "confidence": ["type": "number"]],
    "required": ["action", "confidence"],
    "additionalProperties": false,
]
