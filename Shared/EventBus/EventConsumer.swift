public import Events
public import Kafka
public import Logging
import Metrics

/// A handler's verdict that an event can never be handled (bad payload for its type, a
/// reference to something that cannot exist): the event is dead-lettered and consumption
/// continues. Any other error is treated as transient and retried.
public struct PermanentEventError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Consumes events of interest from the log: decodes and validates each record, hands it to the
/// handler, dead-letters what cannot be decoded or handled, and retries transient failures with
/// backoff (the offset is stored only after success, so a crash redelivers instead of losing).
public struct EventConsumer: Sendable {
    public let consumer: KafkaConsumer
    public let deadLetters: DeadLetterPublisher
    public let interestedIn: Set<String>
    public let logger: Logger
    /// Backoff for transient handler failures: doubles from `initialBackoff` up to `maxBackoff`, forever.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maxBackoff: Duration = .seconds(10)

    public init(consumer: KafkaConsumer, deadLetters: DeadLetterPublisher, interestedIn: Set<String>, logger: Logger) {
        self.consumer = consumer
        self.deadLetters = deadLetters
        self.interestedIn = interestedIn
        self.logger = logger
    }

    /// Runs until the task is cancelled. `handler` must be idempotent: delivery is at least once.
    public func run(_ handler: @escaping @Sendable (EventEnvelope, KafkaRecord) async throws -> Void) async throws {
        let group = deadLetters.consumerGroup
        let handled = Counter(label: "switchboard_events_handled_total", dimensions: [("group", group)])
        let deadLettered = Counter(label: "switchboard_events_dead_lettered_total", dimensions: [("group", group)])
        let retries = Counter(label: "switchboard_event_handler_retries_total", dimensions: [("group", group)])
        try await consumer.run { record in
            // Skip what this service does not react to without parsing it; a record lacking the
            // header is parsed so that a malformed event is never silently ignored.
            if let type = record.header(EventHeaders.type), !interestedIn.contains(type) { return }
            let event: EventEnvelope
            do {
                event = try EventCodec.decode(record.value)
            } catch {
                try await deadLetters.send(record, error: String(describing: error), logger: logger)
                deadLettered.increment()
                return
            }
            guard interestedIn.contains(event.type) else { return }
            var backoff = initialBackoff
            while true {
                do {
                    try await handler(event, record)
                    handled.increment()
                    return
                } catch let error as PermanentEventError {
                    try await deadLetters.send(record, error: String(describing: error), logger: logger)
                    deadLettered.increment()
                    return
                } catch let error as EventPayloadError {
                    try await deadLetters.send(record, error: String(describing: error), logger: logger)
                    deadLettered.increment()
                    return
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    retries.increment()
                    logger.error("event handler failed, retrying", metadata: [
                        "event.id": "\(event.id)", "event.type": "\(event.type)", "error": "\(error)",
                        "retry.in_ms": "\(backoff.components.seconds * 1000 + backoff.components.attoseconds / 1_000_000_000_000_000)",
                    ])
                    try await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, maxBackoff)
                }
            }
        }
    }
}
