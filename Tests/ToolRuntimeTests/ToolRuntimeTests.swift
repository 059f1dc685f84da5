import JSON
import Testing
import ToolRuntime

/// The executor's resilience rules as values, table-tested without processes or clocks.
@Suite struct ToolCallFailureTests {
    @Test(arguments: [
        (ToolCallFailure.timeout, ToolCallFailure.Disposition.retry, "timeout"),
        (.transport("connection reset"), .retry, "upstream_unreachable"),
        (.status(500, retryAfter: nil), .retry, "upstream_error"),
        (.status(503, retryAfter: .seconds(1)), .retry, "upstream_error"),
        (.status(429, retryAfter: .seconds(2)), .retry, "rate_limited"),
        (.status(408, retryAfter: nil), .retry, "rejected_request"),
        (.status(400, retryAfter: nil), .customerFixable, "rejected_request"),
        (.status(404, retryAfter: nil), .customerFixable, "rejected_request"),
        (.status(422, retryAfter: nil), .customerFixable, "rejected_request"),
        (.status(302, retryAfter: nil), .fail, "rejected_request"),
        (.malformedResponse("not JSON"), .fail, "malformed_response"),
        (.circuitOpen, .fail, "circuit_open"),
        (.invalidCall("no secret"), .fail, "invalid_call"),
    ])
    func classification(failure: ToolCallFailure, disposition: ToolCallFailure.Disposition, code: String) {
        #expect(failure.disposition == disposition)
        #expect(failure.code == code)
        let neverSent = failure.code == "circuit_open" || failure.code == "invalid_call"
        #expect(failure.countsAgainstUpstream == (disposition != .customerFixable && !neverSent))
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(attempts: 4, baseDelay: .milliseconds(100), maxDelay: .milliseconds(500))

    @Test func backoffDoublesUpToTheCapWithFullJitter() {
        // With the random draw at its maximum the wait is the ceiling: 100, 200, 400 ms.
        #expect(policy.delay(after: .timeout, attempt: 1, unitRandom: { 1 }) == .milliseconds(100))
        #expect(policy.delay(after: .timeout, attempt: 2, unitRandom: { 1 }) == .milliseconds(200))
        #expect(policy.delay(after: .timeout, attempt: 3, unitRandom: { 1 }) == .milliseconds(400))
        let capped = RetryPolicy(attempts: 10, baseDelay: .milliseconds(100), maxDelay: .milliseconds(500))
        #expect(capped.delay(after: .timeout, attempt: 6, unitRandom: { 1 }) == .milliseconds(500))
        // Full jitter: anywhere from zero to the ceiling.
        #expect(policy.delay(after: .timeout, attempt: 3, unitRandom: { 0.25 }) == .milliseconds(100))
        #expect(policy.delay(after: .timeout, attempt: 3, unitRandom: { 0 }) == .zero)
    }

    @Test func attemptsAreCountedWithTheFirst() {
        #expect(policy.delay(after: .timeout, attempt: 3, unitRandom: { 1 }) != nil)
        #expect(policy.delay(after: .timeout, attempt: 4, unitRandom: { 1 }) == nil)
        #expect(RetryPolicy.none.delay(after: .timeout, attempt: 1) == nil)
    }

    @Test func retryAfterIsHonouredExactlyUnlessItIsTooLong() {
        #expect(policy.delay(after: .status(429, retryAfter: .milliseconds(300)), attempt: 1, unitRandom: { 0 }) == .milliseconds(300))
        #expect(policy.delay(after: .status(503, retryAfter: .seconds(30)), attempt: 1) == nil)
    }

    @Test func onlyTransientFailuresAreRetried() {
        #expect(policy.delay(after: .status(400, retryAfter: nil), attempt: 1) == nil)
        #expect(policy.delay(after: .malformedResponse("x"), attempt: 1) == nil)
        #expect(policy.delay(after: .transport("refused"), attempt: 1, unitRandom: { 1 }) == .milliseconds(100))
    }
}

/// The keyed breaker's state machine is tested with the model router
/// (Tests/ModelRouterTests/BreakerAndBudgetTests.swift); here, what tools add: one setting per key.
@Suite struct CircuitBreakerPerKeyTests {
    @Test func eachKeyOpensAfterItsOwnThreshold() {
        let breakers = CircuitBreaker(config: BreakerConfig(failureThreshold: 5), configFor: { $0 == "fragile" ? BreakerConfig(failureThreshold: 1) : BreakerConfig(failureThreshold: 3) })
        breakers.recordFailure("fragile")
        #expect(breakers.state(for: "fragile") == .open)
        breakers.recordFailure("sturdy")
        breakers.recordFailure("sturdy")
        #expect(breakers.state(for: "sturdy") == .closed)
        breakers.recordFailure("sturdy")
        #expect(breakers.state(for: "sturdy") == .open)
        #expect(!breakers.allow("sturdy"))
    }
}

@Suite struct TokenBucketTests {
    let start = ContinuousClock.now

    @Test func aBurstThenTheRate() {
        var bucket = TokenBucket(ratePerSecond: 2, burst: 3)
        for _ in 0..<3 { #expect(bucket.take(at: start) == nil) }
        #expect(bucket.take(at: start) == .milliseconds(500), "empty: one token every 500 ms")
        #expect(bucket.take(at: start + .milliseconds(500)) == nil)
        #expect(bucket.take(at: start + .milliseconds(500)) == .milliseconds(500))
    }

    @Test func refillStopsAtTheBurst() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 2)
        _ = bucket.take(at: start)
        for _ in 0..<2 { #expect(bucket.take(at: start + .seconds(60)) == nil) }
        #expect(bucket.take(at: start + .seconds(60)) != nil, "an idle minute does not bank 600 calls")
    }
}

@Suite struct ReadCacheTests {
    let start = ContinuousClock.now

    @Test func entriesLiveForTheirTTLAndArgumentOrderDoesNotMatter() {
        let cache = ReadCache()
        let key = ReadCache.Key(tenant: "t1", tool: "get_order", arguments: ["order_id": "ABC123", "expand": true])
        cache.store(["status": "shipped"], for: key, ttl: .seconds(30), at: start)
        let same = ReadCache.Key(tenant: "t1", tool: "get_order", arguments: ["expand": true, "order_id": "ABC123"])
        #expect(cache.value(for: same, at: start + .seconds(29)) == ["status": "shipped"])
        #expect(cache.value(for: same, at: start + .seconds(30)) == nil)
        #expect(cache.count == 0, "an expired entry is dropped when found")
    }

    @Test func tenantsAndArgumentsAreSeparateEntries() {
        let cache = ReadCache()
        cache.store(["n": 1], for: .init(tenant: "t1", tool: "get_order", arguments: ["order_id": "A"]), ttl: .seconds(30), at: start)
        #expect(cache.value(for: .init(tenant: "t2", tool: "get_order", arguments: ["order_id": "A"]), at: start) == nil)
        #expect(cache.value(for: .init(tenant: "t1", tool: "get_order", arguments: ["order_id": "B"]), at: start) == nil)
    }

    @Test func boundedExpiredFirstThenOldest() {
        let cache = ReadCache(capacity: 2)
        func key(_ id: String) -> ReadCache.Key { .init(tenant: "t", tool: "x", arguments: ["id": .string(id)]) }
        cache.store(1, for: key("short"), ttl: .seconds(1), at: start)
        cache.store(2, for: key("old"), ttl: .seconds(60), at: start + .milliseconds(10))
        cache.store(3, for: key("new"), ttl: .seconds(60), at: start + .seconds(2))
        #expect(cache.count == 2)
        #expect(cache.value(for: key("old"), at: start + .seconds(2)) == 2, "the expired entry went first")
        cache.store(4, for: key("newest"), ttl: .seconds(60), at: start + .seconds(3))
        #expect(cache.value(for: key("old"), at: start + .seconds(3)) == nil, "then the oldest")
        #expect(cache.value(for: key("new"), at: start + .seconds(3)) == 3)
    }
}
