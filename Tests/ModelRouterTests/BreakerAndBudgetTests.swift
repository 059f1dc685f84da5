import ToolRuntime
import Foundation
import ModelRouter
import Synchronization
import Testing

@Suite struct CircuitBreakerTests {
    @Test func fullCycleWithProbeLimit() {
        let clock = FakeClock()
        let observed = Mutex<[BreakerTransition]>([])
        let breaker = CircuitBreaker(
            config: BreakerConfig(failureThreshold: 3, coolDown: .seconds(30), halfOpenProbes: 2), now: clock.now,
            onTransition: { transition in observed.withLock { $0.append(transition) } })
        let m = "m"

        // Closed: failures below the threshold, a success resets the streak.
        #expect(breaker.state(for: m) == .closed)
        #expect(breaker.recordFailure(m) == nil)
        #expect(breaker.recordFailure(m) == nil)
        #expect(breaker.recordSuccess(m) == nil)
        #expect(breaker.recordFailure(m) == nil)
        #expect(breaker.recordFailure(m) == nil)
        #expect(breaker.allow(m))

        // Third consecutive failure opens.
        #expect(breaker.recordFailure(m) == BreakerTransition(key: m, from: .closed, to: .open))
        #expect(breaker.state(for: m) == .open)
        #expect(!breaker.allow(m))
        #expect(!breaker.isAvailable(m))
        clock.advance(by: .seconds(29))
        #expect(!breaker.allow(m))
        #expect(breaker.recordFailure(m) == nil)  // late result: ignored, no new cool-down

        // After the cool-down: half-open, two probe slots.
        clock.advance(by: .seconds(1))
        #expect(breaker.isAvailable(m))
        #expect(breaker.state(for: m) == .halfOpen)
        #expect(breaker.allow(m))
        #expect(breaker.allow(m))
        #expect(!breaker.allow(m))  // probe limit
        #expect(!breaker.isAvailable(m))

        // A probe failure re-opens with a new cool-down.
        #expect(breaker.recordFailure(m) == BreakerTransition(key: m, from: .halfOpen, to: .open))
        clock.advance(by: .seconds(29))
        #expect(breaker.state(for: m) == .open)
        clock.advance(by: .seconds(1))
        #expect(breaker.allow(m))
        // A probe success closes.
        #expect(breaker.recordSuccess(m) == BreakerTransition(key: m, from: .halfOpen, to: .closed))
        #expect(breaker.state(for: m) == .closed)
        #expect(breaker.allow(m) && breaker.allow(m) && breaker.allow(m))
        // The streak starts over after closing.
        #expect(breaker.recordFailure(m) == nil)

        #expect(observed.withLock { $0 } == [
            BreakerTransition(key: m, from: .closed, to: .open),
            BreakerTransition(key: m, from: .open, to: .halfOpen),
            BreakerTransition(key: m, from: .halfOpen, to: .open),
            BreakerTransition(key: m, from: .open, to: .halfOpen),
            BreakerTransition(key: m, from: .halfOpen, to: .closed),
        ])
    }

    @Test func abandonedProbeSlotIsReclaimed() {
        let clock = FakeClock()
        let breaker = CircuitBreaker(config: BreakerConfig(failureThreshold: 1, coolDown: .seconds(10), halfOpenProbes: 1), now: clock.now)
        breaker.recordFailure("m")
        clock.advance(by: .seconds(10))
        #expect(breaker.allow("m"))
        #expect(!breaker.allow("m"))
        clock.advance(by: .seconds(10))  // the probe never reported
        #expect(breaker.allow("m"))
    }

    @Test func modelsAreIndependentAndResettable() {
        let clock = FakeClock()
        let breaker = CircuitBreaker(config: BreakerConfig(failureThreshold: 1, coolDown: .seconds(10)), now: clock.now)
        breaker.recordFailure("a")
        #expect(breaker.state(for: "a") == .open)
        #expect(breaker.state(for: "b") == .closed)
        #expect(breaker.nonClosedStates() == ["a": .open])
        #expect(breaker.reset("a") == BreakerTransition(key: "a", from: .open, to: .closed))
        #expect(breaker.allow("a"))
        #expect(breaker.nonClosedStates().isEmpty)
    }

    @Test func concurrentFailuresOpenExactlyOnce() async {
        let breaker = CircuitBreaker(config: BreakerConfig(failureThreshold: 50, coolDown: .seconds(60)))
        let opened = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<200 { group.addTask { breaker.recordFailure("m") == nil ? 0 : 1 } }
            return await group.reduce(0, +)
        }
        #expect(opened == 1)
        #expect(breaker.state(for: "m") == .open)
    }
}

@Suite struct BudgetTests {
    @Test func periodStartsAreCalendarUTC() {
        let date = utc("2025-03-31T23:45:12Z")
        #expect(BudgetWindow.hourly.periodStart(containing: date) == utc("2025-03-31T23:00:00Z"))
        #expect(BudgetWindow.daily.periodStart(containing: date) == utc("2025-03-31T00:00:00Z"))
        #expect(BudgetWindow.monthly.periodStart(containing: date) == utc("2025-03-01T00:00:00Z"))
        #expect(BudgetWindow.monthly.periodStart(containing: utc("2024-02-29T12:00:00Z")) == utc("2024-02-01T00:00:00Z"))
        #expect(BudgetWindow.conversation.periodStart(containing: date) == nil)
    }

    @Test func evaluateReportsTheBindingLimit() {
        let limits = BudgetLimits(hourlyMicros: 1000, dailyMicros: 5000, conversationMicros: 300)
        let spends = BudgetSpends(hourlyMicros: 900, dailyMicros: 4950, conversationMicros: 100)
        #expect(BudgetCheck.evaluate(limits: limits, spends: spends, estimateMicros: 50) == .ok)  // 950, 5000 (equal is fine), 150
        // 60: hourly 960 ok, daily 5010 > 5000, conversation 160 ok.
        #expect(BudgetCheck.evaluate(limits: limits, spends: spends, estimateMicros: 60)
                == .exceeded(BudgetExceeded(window: .daily, spentMicros: 4950, limitMicros: 5000, estimateMicros: 60)))
        // 250: hourly (room 100), daily (room 50) and conversation (room 200) all break; daily has least room.
        #expect(BudgetCheck.evaluate(limits: limits, spends: spends, estimateMicros: 250)
                == .exceeded(BudgetExceeded(window: .daily, spentMicros: 4950, limitMicros: 5000, estimateMicros: 250)))
        // Conversation ignored when the request has none.
        let conv = BudgetLimits(conversationMicros: 10)
        #expect(BudgetCheck.evaluate(limits: conv, spends: BudgetSpends(conversationMicros: 10), estimateMicros: 1, includeConversation: false) == .ok)
        #expect(BudgetCheck.evaluate(limits: conv, spends: BudgetSpends(conversationMicros: 10), estimateMicros: 1) != .ok)
        // A free call always fits, even past the limit.
        #expect(BudgetCheck.evaluate(limits: conv, spends: BudgetSpends(conversationMicros: 99), estimateMicros: 0) == .ok)
        #expect(BudgetCheck.evaluate(limits: .unlimited, spends: BudgetSpends(), estimateMicros: .max) == .ok)
        #expect(BudgetCheck.headroom(limits: limits, spends: spends) == BudgetHeadroom(window: .daily, remainingMicros: 50))
        #expect(BudgetCheck.headroom(limits: .unlimited, spends: spends) == nil)
    }

    @Test func fetchAsksOnlyForConfiguredWindows() async throws {
        let source = FakeSpendSource(conversation: 7) { since in since == utc("2025-06-15T00:00:00Z") ? 42 : -1 }
        let spends = try await BudgetSpends.fetch(
            from: source, limits: BudgetLimits(dailyMicros: 100, conversationMicros: 10), tenant: "t", conversation: "c",
            now: utc("2025-06-15T10:20:30Z"))
        #expect(spends == BudgetSpends(dailyMicros: 42, conversationMicros: 7))
        #expect(source.tenantQueries == [utc("2025-06-15T00:00:00Z")])
    }
}
