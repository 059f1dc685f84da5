import Auth
import Testing

@Suite("Rate limiting")
struct RateLimiterTests {
    /// Time is computed from one instant, never slept through.
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant {
        start + .seconds(seconds)
    }

    @Test("a key gets its burst, then is limited until one token is back")
    func burstThenLimited() {
        let limiter = RateLimiter(capacity: 3, refillPerSecond: 1)
        #expect(limiter.take("k", now: at(0)) == .allowed(remaining: 2))
        #expect(limiter.take("k", now: at(0)) == .allowed(remaining: 1))
        #expect(limiter.take("k", now: at(0)) == .allowed(remaining: 0))
        let limited = limiter.take("k", now: at(0))
        #expect(limited == .limited(retryAfter: .seconds(1)))
        #expect(limited.retryAfterSeconds == 1)
        #expect(!limited.isAllowed)
        // A quarter second later, three quarters remain to wait; the header rounds up.
        let later = limiter.take("k", now: at(0.25))
        #expect(later == .limited(retryAfter: .milliseconds(750)))
        #expect(later.retryAfterSeconds == 1)
    }

    @Test("retry-after is the time to one token at slow rates")
    func slowRate() {
        let limiter = RateLimiter(capacity: 1, refillPerSecond: 0.2)  // one request per 5 s
        #expect(limiter.take("k", now: at(0)).isAllowed)
        #expect(limiter.take("k", now: at(0)) == .limited(retryAfter: .seconds(5)))
        #expect(limiter.take("k", now: at(3.5)).retryAfterSeconds == 2)  // 1.5 s, rounded up
        #expect(limiter.take("k", now: at(5)) == .allowed(remaining: 0))
    }

    @Test("tokens come back as time passes, up to capacity")
    func refill() {
        let limiter = RateLimiter(capacity: 3, refillPerSecond: 2)
        for _ in 0..<3 { _ = limiter.take("k", now: at(0)) }
        #expect(!limiter.take("k", now: at(0)).isAllowed)
        #expect(limiter.take("k", now: at(0.5)) == .allowed(remaining: 0))
        #expect(!limiter.take("k", now: at(0.5)).isAllowed)
        #expect(limiter.take("k", now: at(100)) == .allowed(remaining: 2))  // full again, not more
    }

    @Test("a request exactly at the announced retry time is allowed", arguments: [0.3, 0.7, 1.0 / 3.0, 3.0, 7.0, 0.1])
    func retryAtAnnouncedTime(rate: Double) {
        let limiter = RateLimiter(capacity: 2, refillPerSecond: rate)
        var now = at(0)
        _ = limiter.take("k", now: now)
        _ = limiter.take("k", now: now)
        for _ in 0..<20 {
            guard case .limited(let retryAfter) = limiter.take("k", now: now) else {
                Issue.record("expected to be limited")
                return
            }
            now = now + retryAfter
            #expect(limiter.take("k", now: now).isAllowed, "rate \(rate): refused at the announced time")
        }
    }

    @Test("keys are independent")
    func independentKeys() {
        let limiter = RateLimiter(capacity: 2, refillPerSecond: 1)
        _ = limiter.take("a", now: at(0))
        _ = limiter.take("a", now: at(0))
        #expect(!limiter.take("a", now: at(0)).isAllowed)
        #expect(limiter.take("b", now: at(0)) == .allowed(remaining: 1))
        #expect(!limiter.take("a", now: at(0)).isAllowed)
    }

    @Test("a flood of distinct keys never holds more than the bound")
    func boundedUnderFlood() {
        let limiter = RateLimiter(capacity: 5, refillPerSecond: 1, maximumKeys: 10)
        for index in 0..<1_000 {
            _ = limiter.take("client-\(index)", now: at(Double(index) * 0.001))
            #expect(limiter.bucketCount <= 10)
        }
        // The most recent key keeps its state: its second request sees one token fewer.
        #expect(limiter.take("client-999", now: at(0.999)) == .allowed(remaining: 3))
    }

    @Test("idle full buckets are swept, buckets still refilling are kept")
    func idleSweep() {
        let limiter = RateLimiter(capacity: 4, refillPerSecond: 1, maximumKeys: 1_000)  // sweep every 4 s
        _ = limiter.take("idle", now: at(0))
        for _ in 0..<4 { _ = limiter.take("busy", now: at(3)) }
        #expect(limiter.bucketCount == 2)
        _ = limiter.take("newcomer", now: at(4.5))
        // "idle" refilled long ago and was dropped; "busy" has 1.5 of 4 tokens and stayed.
        #expect(limiter.bucketCount == 2)
        #expect(limiter.take("busy", now: at(4.5)) == .allowed(remaining: 0))
        // A swept key behaves exactly like a fresh one.
        #expect(limiter.take("idle", now: at(4.5)) == .allowed(remaining: 3))
    }

    @Test("at the bound, full buckets go first and active ones stay")
    func boundPrefersFullBuckets() {
        let limiter = RateLimiter(capacity: 2, refillPerSecond: 1, maximumKeys: 3)
        for _ in 0..<2 { _ = limiter.take("active", now: at(0.9)) }
        _ = limiter.take("quiet-1", now: at(0))
        _ = limiter.take("quiet-2", now: at(0))
        #expect(limiter.bucketCount == 3)
        _ = limiter.take("new", now: at(1.5))  // quiet ones are full again by 1.0 s
        #expect(limiter.bucketCount == 2)
        #expect(limiter.take("active", now: at(1.5)) == .limited(retryAfter: .milliseconds(400)))
    }

    @Test("concurrent takes on one key never allow more than the capacity")
    func concurrentTakes() async {
        let limiter = RateLimiter(capacity: 50, refillPerSecond: 1)
        let now = at(0)
        let allowed = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask { limiter.take("shared", now: now).isAllowed }
            }
            var count = 0
            for await isAllowed in group where isAllowed { count += 1 }
            return count
        }
        #expect(allowed == 50)
    }

    @Test("Retry-After rounds up to whole seconds, at least one")
    func retryAfterRendering() {
        #expect(RateLimitDecision.limited(retryAfter: .milliseconds(1500)).retryAfterSeconds == 2)
        #expect(RateLimitDecision.limited(retryAfter: .seconds(2)).retryAfterSeconds == 2)
        #expect(RateLimitDecision.limited(retryAfter: .milliseconds(2001)).retryAfterSeconds == 3)
        // A nanosecond over is rounding noise, not a reason to make the client wait a whole extra second.
        #expect(RateLimitDecision.limited(retryAfter: .nanoseconds(3_000_000_001)).retryAfterSeconds == 3)
        #expect(RateLimitDecision.limited(retryAfter: .nanoseconds(1)).retryAfterSeconds == 1)
        #expect(RateLimitDecision.allowed(remaining: 3).retryAfterSeconds == nil)
    }

    @Test("a bucket alone: starts full, reports fullness")
    func bucket() {
        var bucket = TokenBucket(capacity: 2, refillPerSecond: 1, now: at(0))
        #expect(bucket.isFull(at: at(0)))
        #expect(bucket.take(now: at(0)) == .allowed(remaining: 1))
        #expect(!bucket.isFull(at: at(0.5)))
        #expect(bucket.isFull(at: at(1)))
        // Time running backwards gains nothing.
        #expect(bucket.tokens(at: at(-5)) == 1)
    }
}
