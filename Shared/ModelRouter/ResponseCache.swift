import Crypto
public import JSON
import Synchronization

/// Cache keys for LLM responses. Only deterministic requests (temperature exactly 0) are
/// cacheable; anything else gets no key.
///
/// The key is the lowercase hex SHA-256 of the canonical JSON (sorted keys, compact, see
/// `JSONValue.serialized(sortedKeys:)`) of
/// `{"v":1,"model":…,"messages":…,"tools":…,"response_format":…,"temperature":0,"max_tokens":…}`
/// with absent tools / response format as `null`. Object key order therefore never matters;
/// array order (messages, tools) does. `modelId` is the catalog id: pass something that
/// changes when the id is re-pointed at another provider model (e.g. "id@model") if that
/// matters to a persistent cache.
public enum ResponseCacheKey {
    public static let version = 1

    public static func make(
        modelId: String, messages: JSONValue, tools: JSONValue? = nil, responseFormat: JSONValue? = nil,
        temperature: Double, maxTokens: Int
    ) -> String? {
        guard let canonical = canonicalForm(
            modelId: modelId, messages: messages, tools: tools, responseFormat: responseFormat,
            temperature: temperature, maxTokens: maxTokens)
        else { return nil }
        let digest = SHA256.hash(data: canonical)
        return digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The exact bytes hashed, nil when the request is not deterministic.
    public static func canonicalForm(
        modelId: String, messages: JSONValue, tools: JSONValue? = nil, responseFormat: JSONValue? = nil,
        temperature: Double, maxTokens: Int
    ) -> [UInt8]? {
        guard temperature == 0 else { return nil }  // also refuses NaN
        let document: JSONValue = [
            "v": .number(Double(version)),
            "model": .string(modelId),
            "messages": messages,
            "tools": tools ?? .null,
            "response_format": responseFormat ?? .null,
            "temperature": 0,
            "max_tokens": .number(Double(maxTokens)),
        ]
        return document.serialized(sortedKeys: true)
    }
}

/// Counters since the cache was created (`removeAll` keeps them).
public struct ResponseCacheStats: Sendable, Hashable {
    public var hits: Int
    public var misses: Int
    /// Entries dropped to make room (not expiries or removals).
    public var evictions: Int
    public var entries: Int

    public init(hits: Int, misses: Int, evictions: Int, entries: Int) {
        self.hits = hits
        self.misses = misses
        self.evictions = evictions
        self.entries = entries
    }
}

/// A thread-safe in-memory LRU cache with a time-to-live, bounded by `maxEntries`.
///
/// `get` refreshes recency (not expiry); an expired entry counts as a miss and is dropped.
/// Time comes from the injected `now` so tests can move it.
public final class ResponseCache<Value: Sendable>: Sendable {
    public let maxEntries: Int
    public let ttl: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let storage: Mutex<LRUStorage<Value>>

    public init(maxEntries: Int, ttl: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        precondition(maxEntries > 0, "maxEntries must be positive")
        precondition(ttl > .zero, "ttl must be positive")
        self.maxEntries = maxEntries
        self.ttl = ttl
        self.now = now
        self.storage = Mutex(LRUStorage(capacity: maxEntries))
    }

    public func get(_ key: String) -> Value? {
        let instant = now()
        return storage.withLock { $0.get(key, at: instant) }
    }

    public func put(_ key: String, _ value: Value) {
        let expiry = now().advanced(by: ttl)
        storage.withLock { $0.put(key, value, expiresAt: expiry) }
    }

    @discardableResult
    public func remove(_ key: String) -> Value? {
        storage.withLock { $0.remove(key) }
    }

    public func removeAll() {
        storage.withLock { $0.removeAll() }
    }

    public var stats: ResponseCacheStats {
        storage.withLock { ResponseCacheStats(hits: $0.hits, misses: $0.misses, evictions: $0.evictions, entries: $0.count) }
    }
}

/// Doubly linked list over array slots plus a key index: O(1) get/put/evict, no per-entry
/// allocations after warm-up, storage never above `capacity` slots.
struct LRUStorage<Value> {
    private struct Slot {
        var key: String
        var value: Value?
        var expiresAt: ContinuousClock.Instant
        var newer: Int?
        var older: Int?
    }

    private let capacity: Int
    private var slots: [Slot] = []
    private var index: [String: Int] = [:]
    private var freeSlots: [Int] = []
    private var newest: Int?
    private var oldest: Int?
    private(set) var hits = 0
    private(set) var misses = 0
    private(set) var evictions = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { index.count }

    mutating func get(_ key: String, at instant: ContinuousClock.Instant) -> Value? {
        guard let slot = index[key] else {
            misses += 1
            return nil
        }
        guard instant < slots[slot].expiresAt else {
            release(slot)
            misses += 1
            return nil
        }
        hits += 1
        unlink(slot)
        linkNewest(slot)
        return slots[slot].value
    }

    mutating func put(_ key: String, _ value: Value, expiresAt: ContinuousClock.Instant) {
        if let slot = index[key] {
            slots[slot].value = value
            slots[slot].expiresAt = expiresAt
            unlink(slot)
            linkNewest(slot)
            return
        }
        if index.count >= capacity, let victim = oldest {
            release(victim)
            evictions += 1
        }
        let entry = Slot(key: key, value: value, expiresAt: expiresAt, newer: nil, older: nil)
        let slot: Int
        if let reused = freeSlots.popLast() {
            slots[reused] = entry
            slot = reused
        } else {
            slots.append(entry)
            slot = slots.count - 1
        }
        index[key] = slot
        linkNewest(slot)
    }

    mutating func remove(_ key: String) -> Value? {
        guard let slot = index[key] else { return nil }
        let value = slots[slot].value
        release(slot)
        return value
    }

    mutating func removeAll() {
        slots.removeAll()
        index.removeAll()
        freeSlots.removeAll()
        newest = nil
        oldest = nil
    }

    private mutating func release(_ slot: Int) {
        unlink(slot)
        index[slots[slot].key] = nil
        slots[slot].value = nil  // drop the value now, not when the slot is reused
        slots[slot].key = ""
        freeSlots.append(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let newer = slots[slot].newer
        let older = slots[slot].older
        if let newer { slots[newer].older = older } else { newest = older }
        if let older { slots[older].newer = newer } else { oldest = newer }
        slots[slot].newer = nil
        slots[slot].older = nil
    }

    private mutating func linkNewest(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = nil
        if let newest { slots[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }
}
