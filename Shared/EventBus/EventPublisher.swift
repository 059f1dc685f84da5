public import Events
public import Kafka
import Logging
import Tracing

/// Kafka header names Switchboard sets on every event record (type and version are readable
/// without parsing the value, e.g. by kcat or a broker-side filter).
public enum EventHeaders {
    public static let type = "event-type"
    public static let version = "event-version"
    public static let traceparent = "traceparent"
    public static let contentType = "content-type"
    /// The `event-type` of a placeholder the development broker writes when it restores a
    /// topic (`BrokerRestore`): it stands where a record was that the archive does not hold (one
    /// that was not an event, or that a restart lost), so every archived record gets its
    /// original offset back. Empty value; no consumer takes it.
    public static let logGapType = "switchboard.log-gap"
}

/// Where an event sits in the log.
public struct LogPosition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
    public var description: String { "\(topic)/\(partition)@\(offset)" }
}

/// Appends events to a topic, keyed by conversation id. `publish` returns only after the
/// broker acknowledged the event (acks=all, idempotent producer): callers answer clients or
/// move on only then.
public struct EventPublisher: Sendable {
    public let producer: KafkaProducer
    public let topic: String

    public init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    /// In a producer span: with a tracer installed, the event carries that span's context, so
    /// whoever handles it continues the trace from here (EventTracing).
    @discardableResult
    public func publish(_ event: EventEnvelope) async throws -> LogPosition {
        try await withSpan("publish \(event.type)", ofKind: .producer) { span in
            var event = event
            if let traced = EventTracing.currentTraceparent() { event.traceparent = traced }
            span.attributes["messaging.system"] = "kafka"
            span.attributes["messaging.operation.type"] = "send"
            span.attributes["messaging.destination.name"] = topic
            span.attributes["messaging.message.id"] = event.id.uuidString.lowercased()
            span.attributes["switchboard.event.type"] = event.type
            span.attributes["switchboard.conversation.id"] = event.conversationID
            let (partition, offset) = try await producer.send(
                topic: topic,
                key: Array(event.conversationID.utf8),
                value: EventCodec.encode(event),
                headers: Self.headers(for: event)
            )
            span.attributes["messaging.destination.partition.id"] = "\(partition)"
            span.attributes["messaging.kafka.offset"] = Int(offset)
            return LogPosition(topic: topic, partition: partition, offset: offset)
        }
    }

    /// Appends in order; each waits for the previous acknowledgement, so a crash leaves a prefix.
    public func publish(_ events: [EventEnvelope]) async throws {
        for event in events { try await publish(event) }
    }

    public static func headers(for event: EventEnvelope) -> [KafkaHeader] {
        [
            KafkaHeader(key: EventHeaders.type, value: Array(event.type.utf8)),
            KafkaHeader(key: EventHeaders.version, value: Array(String(event.version).utf8)),
            KafkaHeader(key: EventHeaders.traceparent, value: Array(event.traceparent.utf8)),
            KafkaHeader(key: EventHeaders.contentType, value: Array("application/json".utf8)),
        ]
    }
}

extension KafkaRecord {
    /// Value of the first header named `key`, as UTF-8 text.
    public func header(_ key: String) -> String? {
        headers.first(where: { $0.key == key })?.value.map { String(decoding: $0, as: UTF8.self) }
    }
    public var position: LogPosition { LogPosition(topic: topic, partition: partition, offset: offset) }
}
