import Synchronization

/// How a key's breaker stands.
public enum BreakerState: String, Sendable, Hashable {
    case closed
    case open
    case halfOpen = "half_open"
}

/// A state change of one key's breaker (a model, a tool), for metrics and events.
public struct BreakerTransition: Sendable, Hashable {
    public var key: String
    public var from: BreakerState
    public var to: BreakerState

    public init(key: String, from: BreakerState, to: BreakerState) {
        self.key = key
        self.from = from
        self.to = to
    }
}

/// Circuit breakers by key (a model for the model router, a tool for the executor):
/// `failureThreshold` consecutive failures open a key's breaker;
/// after `coolDown` it turns half-open and admits up to `halfOpenProbes` calls; a probe's
/// success closes it, a failure re-opens it with a fresh cool-down.
///
/// Synchronous and lock-based so routing needs no `await`. Time comes from the injected `now`
/// (tests move it by hand). Only models with failures or a non-closed breaker hold an entry,
/// so memory is bounded by the keys that misbehave.
///
/// Protocol: ``isAvailable(model:)`` is a side-effect-free check (the router uses it to build
/// a fallback chain); call ``allow(model:)`` right before each actual call — in half-open it
/// claims a probe slot and may refuse — then report the outcome with ``recordSuccess(model:)``
/// or ``recordFailure(model:)``. A probe slot whose outcome is never reported (task cancelled)
/// is reclaimed after one cool-down, so a lost probe cannot wedge a key half-open.
/// Outcomes reported while open are late results of calls admitted earlier and are ignored.
public final class CircuitBreaker: Sendable {
    public let config: BreakerConfig
    /// A key's own settings (a tool's contract); nil: `config` for every key.
    private let configFor: (@Sendable (String) -> BreakerConfig)?
    private let now: @Sendable () -> ContinuousClock.Instant
    private let onTransition: (@Sendable (BreakerTransition) -> Void)?
    private let entries = Mutex<[String: Entry]>([:])

    private struct Entry {
        var state: BreakerState = .closed
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
        var probeClaims: [ContinuousClock.Instant] = []
    }

    /// `onTransition` sees every state change, including the time-driven open -> half-open
    /// one; it is called after the lock is released, on the calling thread.
    public init(
        config: BreakerConfig,
        configFor: (@Sendable (String) -> BreakerConfig)? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        onTransition: (@Sendable (BreakerTransition) -> Void)? = nil
    ) {
        self.config = config
        self.configFor = configFor
        self.now = now
        self.onTransition = onTransition
    }

    public func state(for key: String) -> BreakerState {
        let (state, transition) = entries.withLock { entries in
            let transition = advance(&entries, key, at: now())
            return (entries[key]?.state ?? .closed, transition)
        }
        report(transition)
        return state
    }

    /// Whether a call would currently be admitted, without claiming anything.
    public func isAvailable(_ key: String) -> Bool {
        let (available, transition) = entries.withLock { entries in
            let instant = now()
            let transition = advance(&entries, key, at: instant)
            guard let entry = entries[key] else { return (true, transition) }
            switch entry.state {
            case .closed: return (true, transition)
            case .open: return (false, transition)
            case .halfOpen: return (liveClaims(entry, key, at: instant).count < settings(key).halfOpenProbes, transition)
            }
        }
        report(transition)
        return available
    }

    /// Admits a call: always when closed, never when open, and in half-open only while a probe
    /// slot is free (claiming it).
    public func allow(_ key: String) -> Bool {
        let (allowed, transition) = entries.withLock { entries in
            let instant = now()
            let transition = advance(&entries, key, at: instant)
            guard var entry = entries[key] else { return (true, transition) }
            switch entry.state {
            case .closed: return (true, transition)
            case .open: return (false, transition)
            case .halfOpen:
                entry.probeClaims = liveClaims(entry, key, at: instant)
                guard entry.probeClaims.count < settings(key).halfOpenProbes else {
                    entries[key] = entry
                    return (false, transition)
                }
                entry.probeClaims.append(instant)
                entries[key] = entry
                return (true, transition)
            }
        }
        report(transition)
        return allowed
    }

    /// Returns the transition this success caused (half-open -> closed), if any.
    @discardableResult
    public func recordSuccess(_ key: String) -> BreakerTransition? {
        let transitions = entries.withLock { entries -> [BreakerTransition] in
            var transitions: [BreakerTransition] = []
            if let timed = advance(&entries, key, at: now()) { transitions.append(timed) }
            guard let entry = entries[key] else { return transitions }
            switch entry.state {
            case .closed:
                entries[key] = nil  // healthy again: forget the failure streak
            case .open:
                break  // a late result from before the breaker opened
            case .halfOpen:
                entries[key] = nil
                transitions.append(BreakerTransition(key: key, from: .halfOpen, to: .closed))
            }
            return transitions
        }
        transitions.forEach(report)
        return transitions.last { $0.from != .open || $0.to != .halfOpen }
    }

    /// Returns the transition this failure caused (closed -> open or half-open -> open), if any.
    @discardableResult
    public func recordFailure(_ key: String) -> BreakerTransition? {
        let transitions = entries.withLock { entries -> [BreakerTransition] in
            var transitions: [BreakerTransition] = []
            let instant = now()
            if let timed = advance(&entries, key, at: instant) { transitions.append(timed) }
            var entry = entries[key] ?? Entry()
            switch entry.state {
            case .closed:
                entry.consecutiveFailures += 1
                if entry.consecutiveFailures >= settings(key).failureThreshold {
                    entry.state = .open
                    entry.openedAt = instant
                    transitions.append(BreakerTransition(key: key, from: .closed, to: .open))
                }
            case .open:
                break  // a late result; do not extend the cool-down
            case .halfOpen:
                entry.state = .open
                entry.openedAt = instant
                entry.probeClaims = []
                transitions.append(BreakerTransition(key: key, from: .halfOpen, to: .open))
            }
            entries[key] = entry
            return transitions
        }
        transitions.forEach(report)
        return transitions.last { $0.from != .open || $0.to != .halfOpen }
    }

    /// Forces a key's breaker closed (operator action).
    @discardableResult
    public func reset(_ key: String) -> BreakerTransition? {
        let transition = entries.withLock { entries -> BreakerTransition? in
            guard let entry = entries.removeValue(forKey: key), entry.state != .closed else { return nil }
            return BreakerTransition(key: key, from: entry.state, to: .closed)
        }
        report(transition)
        return transition
    }

    /// Keys whose breaker is not closed, for metrics and health output.
    public func nonClosedStates() -> [String: BreakerState] {
        let (states, transitions) = entries.withLock { entries in
            let instant = now()
            let transitions = Array(entries.keys).compactMap { advance(&entries, $0, at: instant) }
            return (entries.filter { $0.value.state != .closed }.mapValues(\.state), transitions)
        }
        transitions.forEach(report)
        return states
    }

    // MARK: - Private

    /// Applies the time-driven open -> half-open change.
    private func advance(_ entries: inout [String: Entry], _ key: String, at instant: ContinuousClock.Instant) -> BreakerTransition? {
        guard var entry = entries[key], entry.state == .open, let openedAt = entry.openedAt,
              instant >= openedAt.advanced(by: settings(key).coolDown)
        else { return nil }
        entry.state = .halfOpen
        entry.probeClaims = []
        entries[key] = entry
        return BreakerTransition(key: key, from: .open, to: .halfOpen)
    }

    /// Probe claims younger than one cool-down; older ones are presumed abandoned.
    private func liveClaims(_ entry: Entry, _ key: String, at instant: ContinuousClock.Instant) -> [ContinuousClock.Instant] {
        entry.probeClaims.filter { instant < $0.advanced(by: max(settings(key).coolDown, .milliseconds(1))) }
    }

    private func settings(_ key: String) -> BreakerConfig { configFor?(key) ?? config }

    private func report(_ transition: BreakerTransition?) {
        if let transition, let onTransition { onTransition(transition) }
    }
}

/// Circuit-breaker settings: one for every key, or one per key (`CircuitBreaker(configFor:)`).
public struct BreakerConfig: Sendable, Hashable {
    /// Consecutive failures that open the breaker.
    public var failureThreshold: Int
    /// How long an open breaker rejects calls before admitting probes.
    public var coolDown: Duration
    /// Calls admitted concurrently while half-open.
    public var halfOpenProbes: Int

    public init(failureThreshold: Int = 3, coolDown: Duration = .seconds(30), halfOpenProbes: Int = 1) {
        precondition(failureThreshold >= 1 && halfOpenProbes >= 1 && coolDown >= .zero, "invalid breaker config")
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
        self.halfOpenProbes = halfOpenProbes
    }
}
