public import Logging
import Privacy

/// Every service's log handler: personal data is redacted from messages and metadata values
/// before a line is written (a customer's email in an error, a card number in a tool's
/// argument), and configured secrets are masked. Wraps the stream handler; one linear scan per
/// string, so it is affordable on every line.
public struct RedactingLogHandler: LogHandler {
    var inner: any LogHandler
    let secrets: [String]

    /// `secrets`: values never to print (API keys, token keys); only those 8 characters or longer.
    public init(wrapping inner: any LogHandler, secrets: [String] = []) {
        self.inner = inner
        self.secrets = secrets.filter { $0.count >= 8 }
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(clean("\(event.message)"))"
        event.metadata = event.metadata.map { $0.mapValues(clean) }
        inner.log(event: event)
    }

    /// A line's text with PII placeholders and secrets masked.
    public func clean(_ text: String) -> String {
        var text = PIIDetector.shared.redact(text).text
        for secret in secrets where text.contains(secret) { text = text.replacingOccurrences(of: secret, with: "[SECRET]") }
        return text
    }

    func clean(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): return .string(clean(text))
        case .stringConvertible(let convertible): return .string(clean(convertible.description))
        case .array(let values): return .array(values.map(clean))
        case .dictionary(let values): return .dictionary(values.mapValues(clean))
        }
    }
}
