import JSON
import Synchronization

/// Results of read-only tools, kept for the contract's cache TTL. Keyed by tenant, tool and the
/// arguments in canonical form (sorted keys), so `{"a":1,"b":2}` and `{"b":2,"a":1}` share an
/// entry. Bounded: past `capacity`, expired entries go first, then the oldest. Write tools are
/// never cached (the contract loader refuses a TTL on them).
public final class ReadCache: Sendable {
    public struct Key: Hashable, Sendable {
        public let tenant: String
        public let tool: String
        public let arguments: String
        public init(tenant: String, tool: String, arguments: JSONValue) {
            self.tenant = tenant
            self.tool = tool
            self.arguments = arguments.serializedString()
        }
    }

    private struct Entry {
        let value: JSONValue
        let stored: ContinuousClock.Instant
        let expires: ContinuousClock.Instant
    }

    public let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    public init(capacity: Int = 10_000) {
        precondition(capacity >= 1, "a cache holds at least one entry")
        self.capacity = capacity
    }

    public func value(for key: Key, at now: ContinuousClock.Instant) -> JSONValue? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard now < entry.expires else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    public func store(_ value: JSONValue, for key: Key, ttl: Duration, at now: ContinuousClock.Instant) {
        guard ttl > .zero else { return }
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= capacity {
                entries = entries.filter { now < $0.value.expires }
                if entries.count >= capacity, let oldest = entries.min(by: { $0.value.stored < $1.value.stored })?.key {
                    entries[oldest] = nil
                }
            }
            entries[key] = Entry(value: value, stored: now, expires: now + ttl)
        }
    }

    public var count: Int { entries.withLock { $0.count } }
}
