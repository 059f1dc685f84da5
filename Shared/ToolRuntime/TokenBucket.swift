import Synchronization

/// A tool's rate limit as a token bucket: `burst` calls at once, refilled at `ratePerSecond`.
/// `take` either takes a token or says how long until one is there; the executor waits that
/// long if the turn's budget allows, else fails the step as rate-limited.
public struct TokenBucket: Sendable, Equatable {
    public let ratePerSecond: Double
    public let burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant?

    public init(ratePerSecond: Double, burst: Int) {
        precondition(ratePerSecond > 0 && burst >= 1, "a rate limit needs a positive rate and a burst of at least 1")
        self.ratePerSecond = ratePerSecond
        self.burst = Double(burst)
        self.tokens = Double(burst)
    }

    /// nil: a token was taken. Otherwise the wait until the next token (nothing is taken).
    public mutating func take(at now: ContinuousClock.Instant) -> Duration? {
        if let updated {
            let elapsed = updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + max(0, seconds) * ratePerSecond)
        }
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return .seconds((1 - tokens) / ratePerSecond)
    }
}

/// The rate limits of a process's tools, one bucket per tool name, shared by concurrent calls.
public final class RateLimits: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])

    public init() {}

    /// Takes a token from `tool`'s bucket (made with `ratePerSecond` and `burst` on first use):
    /// nil when taken, else how long until one is there.
    public func take(_ tool: String, ratePerSecond: Double, burst: Int, at now: ContinuousClock.Instant) -> Duration? {
        buckets.withLock { buckets in
            var bucket = buckets[tool] ?? TokenBucket(ratePerSecond: ratePerSecond, burst: burst)
            defer { buckets[tool] = bucket }
            return bucket.take(at: now)
        }
    }
}
