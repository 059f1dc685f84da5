public import Kafka

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

