import Foundation
import Logging
import ServiceRuntime
import Synchronization
import Testing

@Suite struct RedactingLogHandlerTests {
    /// Captures what reaches the real handler.
    final class Capture: LogHandler, @unchecked Sendable {
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        let lines = Mutex<[String]>([])
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.withLock { $0.append("\(event.message) \(fields)") }
        }
    }

    @Test func personalDataAndSecretsNeverReachTheLine() {
        let capture = Capture()
        let logger = Logger(label: "t") { _ in RedactingLogHandler(wrapping: capture, secrets: ["sk-live-0123456789", "short"]) }
        logger.error("tool failed for ada@example.com with card 4111 1111 1111 1111", metadata: [
            "args": "{\"iban\":\"GB82 WEST 1234 5698 7654 32\",\"phone\":\"+91 98765 43210\"}",
            "nested": ["key": "Authorization: Bearer sk-live-0123456789"],
            "order": "ABC123",
        ])
        let line = capture.lines.withLock { $0.joined() }
        for leaked in ["ada@example.com", "4111 1111 1111 1111", "GB82 WEST", "98765 43210", "sk-live-0123456789"] {
            #expect(!line.contains(leaked), "\(leaked) in \(line)")
        }
        for kept in ["[EMAIL]", "[CARD]", "[IBAN]", "[PHONE]", "[SECRET]", "ABC123"] {
            #expect(line.contains(kept), "\(kept) missing in \(line)")
        }
    }

    @Test func secretsAreFoundInTheEnvironmentByName() {
        let values = secretValues([
            "SWITCHBOARD_LLM_API_KEY_ENV": "MY_PROVIDER", "MY_PROVIDER": "prov-secret-1", "OPENAI_API_KEY": "sk-abc",
            "DATABASE_URL": "postgres://app:pa55word@db/x", "SWITCHBOARD_AUTH_KEYS": "{\"keys\":[]}", "PATH": "/usr/bin",
        ])
        #expect(Set(values) == ["prov-secret-1", "sk-abc", "pa55word", "{\"keys\":[]}"])
    }
}
