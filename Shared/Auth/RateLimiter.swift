import Synchronization

/// What a rate limiter says about one request.
public enum RateLimitDecision: Sendable, Hashable {
    /// Go ahead; `remaining` whole tokens are left in the bucket.
    case allowed(remaining: Int)
    /// Refuse; one token will be available after `retryAfter`.
    case limited(retryAfter: Duration)

    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }

    /// The `Retry-After` header value for a limited request: whole seconds, rounded up, at
    /// least 1. `nil` when allowed. Up to a microsecond past a whole second counts as that
    /// second: it is floating-point noise from the refill arithmetic, not real waiting time.
    public var retryAfterSeconds: Int? {
        guard case .limited(let retryAfter) = self else { return nil }
        let nanoseconds = retryAfter.components.seconds * 1_000_000_000 + retryAfter.components.attoseconds / 1_000_000_000
        return max(1, Int((nanoseconds - 1_000 + 999_999_999) / 1_000_000_000))
    }
}

/// A token bucket: holds up to `capacity` tokens, gains `refillPerSecond` tokens per second,
/// and each request takes one. Starts full, so a new client gets its whole burst.
///
/// Time is passed in rather than read, so tests step it without sleeping.
public struct TokenBucket: Sendable, Hashable {
    public let capacity: Double
    public let refillPerSecond: Double
    /// Tokens as of ``updatedAt``; call ``tokens(at:)`` for the current count.
    public private(set) var tokens: Double
    /// The latest time the bucket was used; also what least-recently-used eviction orders by.
    public private(set) var updatedAt: ContinuousClock.Instant

    /// Token counts this close to a whole token count as one, so that floating-point noise
    /// never refuses a request made exactly at the announced retry time.
    static let tolerance = 1e-9

    /// - Precondition: `capacity >= 1` and `refillPerSecond > 0` (configuration, not input).
    public init(capacity: Int, refillPerSecond: Double, now: ContinuousClock.Instant) {
        precondition(capacity >= 1, "a token bucket holds at least one token")
        precondition(refillPerSecond > 0 && refillPerSecond.isFinite, "a token bucket must refill")
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
        self.tokens = Double(capacity)
        self.updatedAt = now
    }

    /// Tokens available at `now`. Time before ``updatedAt`` counts as no time.
    public func tokens(at now: ContinuousClock.Instant) -> Double {
        let elapsed = max(.zero, updatedAt.duration(to: now))
        return min(capacity, tokens + elapsed.inSeconds * refillPerSecond)
    }

    /// Whether the bucket is full at `now`, which makes it indistinguishable from a new one.
    public func isFull(at now: ContinuousClock.Instant) -> Bool {
        tokens(at: now) >= capacity - Self.tolerance
    }

    /// Takes one token if there is one.
    public mutating func take(now: ContinuousClock.Instant) -> RateLimitDecision {
        tokens = tokens(at: now)
        updatedAt = max(updatedAt, now)
        if tokens + Self.tolerance >= 1 {
            tokens = max(0, tokens - 1)
            return .allowed(remaining: Int((tokens + Self.tolerance).rounded(.down)))
        }
        // Rounded up, so that at `now + retryAfter` the token is really there.
        let seconds = (1 - tokens) / refillPerSecond
        let nanoseconds = max(1, Int64((seconds * 1e9).rounded(.up)))
        return .limited(retryAfter: .nanoseconds(nanoseconds))
    }
}

/// Token buckets keyed by a string (API key id, customer session, client address), safe to
/// share across tasks.
///
/// Memory stays bounded two ways. Buckets that have refilled completely are dropped, since a
/// full bucket behaves exactly like a missing one: a sweep does this at most once per
/// refill period (capacity ÷ rate, at least a second), and again whenever the table reaches
/// ``Configuration/maximumKeys``. If the table is still at its bound after that (a flood of
/// distinct, active keys), the least recently used tenth is dropped; those keys start over
/// with a full bucket, which is the price of the bound.
public final class RateLimiter: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// The burst: how many requests a quiet key may make at once.
        public var capacity: Int
        /// The sustained rate in requests per second.
        public var refillPerSecond: Double
        /// The most buckets kept at once.
        public var maximumKeys: Int

        /// - Precondition: `capacity >= 1`, `refillPerSecond > 0`, `maximumKeys >= 1`.
        public init(capacity: Int, refillPerSecond: Double, maximumKeys: Int = 100_000) {
            precondition(capacity >= 1, "a token bucket holds at least one token")
            precondition(refillPerSecond > 0 && refillPerSecond.isFinite, "a token bucket must refill")
            precondition(maximumKeys >= 1, "a rate limiter keeps at least one bucket")
            self.capacity = capacity
            self.refillPerSecond = refillPerSecond
            self.maximumKeys = maximumKeys
        }

        /// How long an empty bucket takes to fill, and so how often idle buckets are swept.
        var sweepInterval: Duration {
            max(.seconds(1), .seconds(Double(capacity) / refillPerSecond))
        }
    }

    private struct State {
        var buckets: [String: TokenBucket] = [:]
        var lastSweep: ContinuousClock.Instant?
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public convenience init(capacity: Int, refillPerSecond: Double, maximumKeys: Int = 100_000) {
        self.init(configuration: Configuration(capacity: capacity, refillPerSecond: refillPerSecond, maximumKeys: maximumKeys))
    }

    /// Takes one token from `key`'s bucket.
    /// - Parameter now: the current time; pass a computed instant in tests.
    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> RateLimitDecision {
        let configuration = self.configuration
        return state.withLock { state in
            if let lastSweep = state.lastSweep {
                if lastSweep.duration(to: now) >= configuration.sweepInterval {
                    Self.removeFullBuckets(&state, now: now)
                }
            } else {
                state.lastSweep = now
            }
            if state.buckets[key] == nil, state.buckets.count >= configuration.maximumKeys {
                Self.removeFullBuckets(&state, now: now)
                if state.buckets.count >= configuration.maximumKeys {
                    Self.removeLeastRecentlyUsed(&state, keeping: configuration.maximumKeys - max(1, configuration.maximumKeys / 10))
                }
            }
            var bucket = state.buckets[key] ?? TokenBucket(capacity: configuration.capacity, refillPerSecond: configuration.refillPerSecond, now: now)
            let decision = bucket.take(now: now)
            state.buckets[key] = bucket
            return decision
        }
    }

    /// How many buckets are held now (for tests and a gauge).
    public var bucketCount: Int {
        state.withLock { $0.buckets.count }
    }

    private static func removeFullBuckets(_ state: inout State, now: ContinuousClock.Instant) {
        state.buckets = state.buckets.filter { !$0.value.isFull(at: now) }
        state.lastSweep = now
    }

    private static func removeLeastRecentlyUsed(_ state: inout State, keeping count: Int) {
        let newestFirst = state.buckets.sorted { $0.value.updatedAt > $1.value.updatedAt }
        state.buckets = Dictionary(uniqueKeysWithValues: newestFirst.prefix(max(0, count)).map { ($0.key, $0.value) })
    }
}

extension Duration {
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
