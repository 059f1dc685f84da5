/// Retries of one tool call: `attempts` in all (the first included), exponential backoff with
/// full jitter between them (a random wait from zero up to `baseDelay · 2^(n-1)`, capped at
/// `maxDelay`), so that callers that failed together do not retry together.
///
/// A `Retry-After` from the upstream is honoured exactly; when it asks for longer than
/// `maxDelay` the call is not retried, because waiting would spend the turn's wall-time budget
/// on one tool (the planner then tells the customer instead of hanging).
public struct RetryPolicy: Sendable, Equatable {
    public var attempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(2)) {
        precondition(attempts >= 1, "a call is attempted at least once")
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// One attempt, no retries.
    public static let none = RetryPolicy(attempts: 1)

    /// The wait before attempt `attempt + 1` after `failure` ended attempt `attempt` (1-based),
    /// or nil when there is none: not retriable, attempts used up, or a Retry-After too long.
    /// `unitRandom` gives a number in 0...1 (injected so tests are exact).
    public func delay(after failure: ToolCallFailure, attempt: Int, unitRandom: () -> Double = { Double.random(in: 0...1) }) -> Duration? {
        guard failure.disposition == .retry, attempt < attempts else { return nil }
        if let retryAfter = failure.retryAfter {
            return retryAfter <= maxDelay ? max(retryAfter, .zero) : nil
        }
        let exponent = min(attempt - 1, 30)
        let ceiling = min(baseDelay * (1 << exponent), maxDelay)
        return ceiling * min(max(unitRandom(), 0), 1)
    }
}
