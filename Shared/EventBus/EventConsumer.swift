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

/// An error that knows whether retrying can help (a database or broker outage) or not (a bug,
/// a constraint violation). Wrappers' errors conform where the services are wired.
public protocol RetriableError: Error {
    var isRetriable: Bool { get }
}

extension KafkaError: RetriableError {}

/// How long to keep retrying a failing handler before dead-lettering the event. Transient
/// failures are retried without limit: an outage must stall, not drop, the log.
public struct RetryPolicy: Sendable {
    public var initialBackoff: Duration = .milliseconds(100)
    public var maxBackoff: Duration = .seconds(10)
    /// Attempts for errors that are not known to be transient, then the dead-letter topic.
    public var maxAttemptsForPermanentErrors = 5
    public init() {}

    public func shouldRetry(_ error: any Error, attempt: Int) -> Bool {
        if let error = error as? any RetriableError, error.isRetriable { return true }
        return attempt < maxAttemptsForPermanentErrors
    }

    public func backoff(after attempt: Int) -> Duration {
        min(initialBackoff * (1 << min(attempt - 1, 20)), maxBackoff)
    }
}

/// Consumes events of interest from the log: decodes and validates each record, hands it to the
/// handler, dead-letters what cannot be decoded or handled, and retries transient failures with
/// backoff (the offset is stored only after success, so a crash redelivers instead of losing).
public struct EventConsumer: Sendable {
    public let consumer: KafkaConsumer
    public let deadLetters: DeadLetterPublisher
    public let interestedIn: Set<String>
    public let logger: Logger
    public var retry = RetryPolicy()
    /// Partitions handled at once; one partition's events always one at a time, in order.
    public var maxConcurrentPartitions = 1

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
        try await consumer.run(maxConcurrentPartitions: maxConcurrentPartitions) { record in
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
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await handler(event, record)
                    handled.increment()
                    return
                } catch let error as PermanentEventError {
                    try await deadLetters.send(record, error: error.description, logger: logger)
                    deadLettered.increment()
                    return
                } catch let error as EventPayloadError {
                    try await deadLetters.send(record, error: error.description, logger: logger)
                    deadLettered.increment()
                    return
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    guard retry.shouldRetry(error, attempt: attempt) else {
                        try await deadLetters.send(record, error: "handler failed \(attempt) times: \(error)", logger: logger)
                        deadLettered.increment()
                        return
                    }
                    retries.increment()
                    let backoff = retry.backoff(after: attempt)
                    logger.error("event handler failed, retrying", metadata: [
                        "event.id": "\(event.id)", "event.type": "\(event.type)", "error": "\(error)", "attempt": "\(attempt)",
                    ])
                    try await Task.sleep(for: backoff)
                }
            }
        }
    }
}
