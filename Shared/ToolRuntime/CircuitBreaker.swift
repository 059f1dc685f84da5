import Synchronization

/// One tool's circuit breaker, as a value: `failureThreshold` consecutive upstream failures
/// open it; while open, calls are refused without reaching the upstream (the planner answers
/// from knowledge and tells the customer); after `coolDown` one trial call is let through
/// (half-open), and its outcome closes the circuit again or re-opens it for another cool-down.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        /// The trial call is out (since `trialSince`); everything else is refused until it
        /// reports. A trial that never reports (its task was cancelled) is presumed lost after
        /// one cool-down, and the next caller gets a new trial, so a lost trial cannot wedge
        /// the tool.
        case halfOpen(trialSince: ContinuousClock.Instant)
    }

    public enum Permit: Sendable, Equatable {
        case allowed
        /// Refused; the circuit may let a trial through at `retryAt`.
        case refused(retryAt: ContinuousClock.Instant?)
    }

    public let failureThreshold: Int
    public let coolDown: Duration
    public private(set) var state: State = .closed(consecutiveFailures: 0)

    public init(failureThreshold: Int, coolDown: Duration) {
        precondition(failureThreshold >= 1, "a breaker opens after at least one failure")
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
    }

    /// Asks to make a call now. Past the cool-down, the first asker gets the trial call.
    public mutating func permit(at now: ContinuousClock.Instant) -> Permit {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .refused(retryAt: until) }
            state = .halfOpen(trialSince: now)
            return .allowed
        case .halfOpen(let since):
            guard now >= since + coolDown else { return .refused(retryAt: since + coolDown) }
            state = .halfOpen(trialSince: now)
            return .allowed
        }
    }

    /// Reports how a permitted call ended. Failures that say nothing about the upstream (a
    /// customer's bad request) are reported as successes by the caller: the upstream answered.
    public mutating func record(success: Bool, at now: ContinuousClock.Instant) {
        switch (state, success) {
        case (_, true):
            state = .closed(consecutiveFailures: 0)
        case (.closed(let failures), false):
            state = failures + 1 >= failureThreshold ? .open(until: now + coolDown) : .closed(consecutiveFailures: failures + 1)
        case (.halfOpen, false), (.open, false):
            state = .open(until: now + coolDown)
        }
    }

    public var isOpen: Bool {
        if case .closed = state { return false }
        return true
    }
}

/// The breakers of a process's tools, one per tool name, shared by concurrent calls.
public final class CircuitBreakers: Sendable {
    private let breakers = Mutex<[String: CircuitBreaker]>([:])
    private let make: @Sendable (String) -> CircuitBreaker

    /// `make` gives a tool's breaker the first time it is used (its contract's settings).
    public init(make: @escaping @Sendable (String) -> CircuitBreaker) {
        self.make = make
    }

    public func permit(_ tool: String, at now: ContinuousClock.Instant) -> CircuitBreaker.Permit {
        breakers.withLock { breakers in
            var breaker = breakers[tool] ?? make(tool)
            defer { breakers[tool] = breaker }
            return breaker.permit(at: now)
        }
    }

    public func record(_ tool: String, success: Bool, at now: ContinuousClock.Instant) {
        breakers.withLock { breakers in
            var breaker = breakers[tool] ?? make(tool)
            breaker.record(success: success, at: now)
            breakers[tool] = breaker
        }
    }

    public func state(of tool: String) -> CircuitBreaker.State? {
        breakers.withLock { $0[tool]?.state }
    }
}
