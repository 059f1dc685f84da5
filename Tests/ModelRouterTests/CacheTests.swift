import JSON
import ModelRouter
import Testing

@Suite struct ResponseCacheKeyTests {
    let messages: JSONValue = [["role": "system", "content": "be brief"], ["role": "user", "content": "hi"]]
    let tools: JSONValue = [["type": "function", "function": ["name": "lookup", "parameters": ["type": "object"]]]]
    let format: JSONValue = ["type": "json_schema", "json_schema": ["name": "decision", "strict": true]]

    func key(
        model: String = "mini", messages: JSONValue? = nil, tools: JSONValue?? = nil, format: JSONValue?? = nil,
        temperature: Double = 0, maxTokens: Int = 256
    ) -> String? {
        ResponseCacheKey.make(
            modelId: model, messages: messages ?? self.messages, tools: tools ?? self.tools, responseFormat: format ?? self.format,
            temperature: temperature, maxTokens: maxTokens)
    }

    @Test func stableAndHex() throws {
        let first = try #require(key())
        #expect(first.count == 64)
        #expect(first.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(key() == first)
        // Known answer: pins the canonical form so a persistent cache stays valid across releases.
        let canonical = try #require(ResponseCacheKey.canonicalForm(
            modelId: "m", messages: [["role": "user", "content": "hi"]], temperature: 0, maxTokens: 5))
        #expect(String(decoding: canonical, as: UTF8.self)
                == #"{"max_tokens":5,"messages":[{"content":"hi","role":"user"}],"model":"m","response_format":null,"temperature":0,"tools":null,"v":1}"#)
        // SHA-256 of that text, computed independently (Python hashlib).
        #expect(ResponseCacheKey.make(modelId: "m", messages: [["role": "user", "content": "hi"]], temperature: 0, maxTokens: 5)
                == "eb0d20e0ca14cdfdceb4a945777573848e97478a6eacc2df53962f2f0325f07a")
    }

    @Test func independentOfObjectKeyOrder() throws {
        let reordered = try JSONValue.parse(#"[{"content":"be brief","role":"system"},{"content":"hi","role":"user"}]"#)
        let formatReordered = try JSONValue.parse(#"{"json_schema":{"strict":true,"name":"decision"},"type":"json_schema"}"#)
        #expect(key(messages: reordered, format: .some(formatReordered)) == key())
    }

    @Test func differsOnEveryField() throws {
        let base = try #require(key())
        let variants: [String?] = [
            key(model: "big"),
            key(messages: [["role": "user", "content": "hi"]]),
            key(messages: [["role": "user", "content": "hi"], ["role": "system", "content": "be brief"]]),  // order matters
            key(tools: .some(nil)),
            key(tools: .some([])),
            key(format: .some(nil)),
            key(format: .some(["type": "json_object"])),
            key(maxTokens: 257),
        ]
        for variant in variants {
            let variant = try #require(variant)
            #expect(variant != base)
        }
        #expect(Set(variants.compactMap { $0 }).count == variants.count)
    }

    @Test func onlyDeterministicRequests() {
        #expect(key(temperature: 0.7) == nil)
        #expect(key(temperature: 1e-9) == nil)
        #expect(key(temperature: .nan) == nil)
        #expect(key(temperature: -0.0) != nil)
    }
}

@Suite struct ResponseCacheTests {
    @Test func evictsLeastRecentlyUsed() {
        let cache = ResponseCache<String>(maxEntries: 2, ttl: .seconds(60))
        cache.put("a", "A")
        cache.put("b", "B")
        #expect(cache.get("a") == "A")  // a is now most recent
        cache.put("c", "C")  // evicts b
        #expect(cache.get("b") == nil)
        #expect(cache.get("a") == "A")
        #expect(cache.get("c") == "C")
        cache.put("a", "A2")  // update in place, no eviction
        #expect(cache.get("a") == "A2" && cache.get("c") == "C")
        let stats = cache.stats
        #expect(stats == ResponseCacheStats(hits: 5, misses: 1, evictions: 1, entries: 2))
    }

    @Test func expiresAfterTTL() {
        let clock = FakeClock()
        let cache = ResponseCache<Int>(maxEntries: 10, ttl: .seconds(30), now: clock.now)
        cache.put("k", 1)
        clock.advance(by: .seconds(29))
        #expect(cache.get("k") == 1)  // a hit does not extend the TTL
        clock.advance(by: .seconds(1))
        #expect(cache.get("k") == nil)
        #expect(cache.stats.entries == 0 && cache.stats.misses == 1 && cache.stats.hits == 1)
        cache.put("k", 2)  // a rewrite restarts the TTL
        clock.advance(by: .seconds(29))
        #expect(cache.get("k") == 2)
    }

    @Test func removeAndSlotReuse() {
        let cache = ResponseCache<Int>(maxEntries: 3, ttl: .seconds(60))
        for round in 0..<100 {
            cache.put("k\(round)", round)
            if round % 2 == 0 { #expect(cache.remove("k\(round)") == round) }
        }
        #expect(cache.stats.entries == 3)
        #expect(cache.get("k99") == 99 && cache.get("k97") == 97 && cache.get("k95") == 95)
        #expect(cache.get("k93") == nil)
        cache.removeAll()
        #expect(cache.stats.entries == 0 && cache.get("k99") == nil)
    }

    @Test func concurrentUseStaysBounded() async {
        let cache = ResponseCache<Int>(maxEntries: 16, ttl: .seconds(60))
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in 0..<500 {
                        cache.put("\(worker)-\(i % 40)", i)
                        _ = cache.get("\(worker)-\((i + 7) % 40)")
                    }
                }
            }
        }
        let stats = cache.stats
        #expect(stats.entries == 16)
        #expect(stats.hits + stats.misses == 8 * 500)
    }
}
