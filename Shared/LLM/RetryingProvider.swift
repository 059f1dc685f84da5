/// Retries retriable failures of another provider with capped exponential backoff and jitter.
///
/// A server-requested wait (`LLMError.retryAfter`) replaces the computed backoff when it is at
/// most `maxRetryAfter`; a longer one ends the retries at once with that error, so a router
/// can move to another model instead of stalling. Non-retriable errors (bad request,
/// authentication, malformed output, refusals, cancellation) are returned immediately.
///
/// The returned response or error lists the failed attempts (`failedAttempts`, `attempts`),
/// each with its error, latency and usage, so callers can record every billed call.
public struct RetryingProvider: ChatProvider, CustomStringConvertible {
    /// Waits for the given duration; throws when the wait is cancelled.
    public typealias Sleep = @Sendable (Duration) async throws -> Void

    public let wrapped: any ChatProvider
    public let maxAttempts: Int
    public let baseBackoff: Duration
    public let maxBackoff: Duration
    public let maxRetryAfter: Duration
    private let sleep: Sleep

    /// - Parameters:
    ///   - maxAttempts: total attempts, the first included (1 disables retries).
    ///   - baseBackoff: the nominal first wait; attempt n waits `baseBackoff * 2^(n-1)`, capped
    ///     at `maxBackoff`, jittered uniformly into its upper half.
    ///   - maxRetryAfter: the longest server-requested wait honoured.
    ///   - sleep: injectable for tests.
    public init(
        wrapping provider: any ChatProvider,
        maxAttempts: Int = 3,
        baseBackoff: Duration = .milliseconds(500),
        maxBackoff: Duration = .seconds(8),
        maxRetryAfter: Duration = .seconds(20),
        sleep: @escaping Sleep = { try await Task.sleep(for: $0) }
    ) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        precondition(baseBackoff >= .zero && maxBackoff >= baseBackoff, "need 0 <= baseBackoff <= maxBackoff")
        self.wrapped = provider
        self.maxAttempts = maxAttempts
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
        self.maxRetryAfter = maxRetryAfter
        self.sleep = sleep
    }

    public var kind: ProviderKind { wrapped.kind }

    public var description: String {
        "RetryingProvider(\(wrapped), maxAttempts: \(maxAttempts))"
    }

    public func complete(_ request: ChatRequest) async throws(LLMError) -> ChatResponse {
        var failures: [FailedAttempt] = []
        while true {
            do {
                var response = try await wrapped.complete(request)
                response.failedAttempts = failures + response.failedAttempts
                return response
            } catch {
                var error = error
                let attempt = failures.count + 1
                guard error.isRetriable, attempt < maxAttempts, let delay = backoff(after: error, attempt: attempt) else {
                    error.failedAttempts = failures + error.failedAttempts
                    throw error
                }
                failures.append(FailedAttempt(error: error, backoff: delay))
                do {
                    try Task.checkCancellation()
                    try await sleep(delay)
                } catch {
                    throw LLMError(
                        code: .cancelled, message: "cancelled while waiting to retry",
                        provider: wrapped.kind, failedAttempts: failures)
                }
            }
        }
    }

    /// The wait before the next attempt, or `nil` when the server asked for longer than we allow.
    func backoff(after error: LLMError, attempt: Int) -> Duration? {
        if let retryAfter = error.retryAfter {
            return retryAfter <= maxRetryAfter ? retryAfter : nil
        }
        // Doubling in Double avoids Duration overflow for large attempt counts.
        let nominal = min(
            Double(attosecondsOf: baseBackoff) * Double(1 << min(attempt - 1, 62)),
            Double(attosecondsOf: maxBackoff))
        let jittered = nominal / 2 + Double.random(in: 0...(nominal / 2))
        return .seconds(jittered / 1e18)
    }
}

extension Double {
    fileprivate init(attosecondsOf duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = Double(seconds) * 1e18 + Double(attoseconds)
    }
}
