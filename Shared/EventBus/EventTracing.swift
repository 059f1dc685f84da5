public import Events
public import Kafka
public import Tracing

/// Spans around the log's hops (deploy/README.md, "Traces"). Each event carries a W3C
/// `traceparent`; a service that handles it opens a consumer span continuing that context, and
/// an event published inside a span carries the publish span's context, so one turn is one
/// trace across the five services. With no tracer installed (no OTLP endpoint) every span is a
/// no-op and events keep the trace context they were built with.
public enum EventTracing {
    /// The context an event continues: its `traceparent`, read by the installed instrument.
    public static func context(of event: EventEnvelope) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": event.traceparent], into: &context, using: DictionaryCarrier())
        return context
    }

    /// The `traceparent` of the current span, when a tracer is installed and a span is current.
    public static func currentTraceparent() -> String? {
        guard let context = ServiceContext.current else { return nil }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryCarrier())
        guard let header = carrier["traceparent"], TraceContext(parsing: header) != nil else { return nil }
        return header
    }

    /// Runs `body` in a consumer span named `name`, a child of the event's trace context.
    public static func consume<T>(_ name: String, _ event: EventEnvelope, record: KafkaRecord?, _ body: () async throws -> T) async throws -> T {
        try await withSpan(name, context: context(of: event), ofKind: .consumer) { span in
            span.attributes["messaging.system"] = "kafka"
            span.attributes["messaging.operation.type"] = "process"
            span.attributes["messaging.message.id"] = event.id.uuidString.lowercased()
            span.attributes["switchboard.event.type"] = event.type
            span.attributes["switchboard.conversation.id"] = event.conversationID
            if let record {
                span.attributes["messaging.destination.name"] = record.topic
                span.attributes["messaging.destination.partition.id"] = "\(record.partition)"
                span.attributes["messaging.kafka.offset"] = Int(record.offset)
            }
            return try await body()
        }
    }
}

/// `[String: String]` as a carrier for inject and extract.
struct DictionaryCarrier: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
