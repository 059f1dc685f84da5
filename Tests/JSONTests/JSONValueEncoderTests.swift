import Foundation
import JSON
import Testing

/// `JSONValueEncoder` against Foundation's `JSONEncoder` (default strategies, parsed).
@Suite struct JSONValueEncoderTests {
    struct Inner: Codable, Equatable { var name: String; var tags: [String]; var score: Double? }
    enum Kind: String, Codable { case a, b }
    struct Outer: Codable, Equatable {
        var id: UUID
        var count: Int64
        var small: UInt8
        var ratio: Float
        var flag: Bool
        var kind: Kind
        var missing: String?
        var inner: Inner
        var list: [Inner]
        var byUUID: [UUID: Int]
        var byName: [String: [Int]]
        var json: JSONValue
        var nested: [[Bool?]]
    }

    func foundation<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parse(Array(JSONEncoder().encode(value)))
    }

    @Test func matchesFoundationForStructsEnumsOptionalsAndDictionaries() throws {
        let value = Outer(
            id: UUID(), count: 9_007_199_254_740_991, small: 7, ratio: 0.5, flag: true, kind: .b, missing: nil,
            inner: Inner(name: "x \"y\" \\ z", tags: [], score: nil), list: [Inner(name: "a", tags: ["t"], score: 1.25)],
            byUUID: [UUID(): 1, UUID(): 2], byName: ["k": [1, 2]], json: ["a": [1, "two", nil, true]], nested: [[true, nil], []])
        let ours = try JSONValueEncoder().encode(value)
        #expect(ours == (try foundation(value)))
        #expect(try JSONValueDecoder().decode(Outer.self, from: ours).inner == value.inner)
    }

    @Test func nonFiniteNumbersThrowLikeFoundation() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Double.nan) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode([Float.infinity]) }
    }

    @Test func topLevelScalarsAndEmptyValues() throws {
        #expect(try JSONValueEncoder().encode("text") == .string("text"))
        #expect(try JSONValueEncoder().encode([Int]()) == .array([]))
        #expect(try JSONValueEncoder().encode([String: Int]()) == (try foundation([String: Int]())))
        #expect(try JSONValueEncoder().encode(Optional<Int>.none) == .null)
    }
}
