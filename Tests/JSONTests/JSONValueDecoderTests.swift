import JSON
import Testing

@Suite struct JSONValueDecoderTests {
    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
    }
    enum Kind: String, Codable { case answer, handover }
    struct Outer: Codable, Equatable {
        var id: Int
        var ratio: Double
        var flag: Bool
        var kind: Kind
        var note: String?
        var inner: Inner
        var list: [Inner]
        var map: [String: Int]
        var raw: JSONValue
        var small: UInt8
    }

    @Test func decodesNestedStructuresOptionalsAndRawValues() throws {
        let value = try JSONValue.parse("""
            {"id": 7, "ratio": 0.25, "flag": true, "kind": "handover", "note": null,
             "inner": {"name": "a", "tags": ["x", "y"]}, "list": [{"name": "b", "tags": []}],
             "map": {"k": 3}, "raw": {"any": [1, "two", null]}, "small": 255}
            """)
        let decoded = try JSONValueDecoder().decode(Outer.self, from: value)
        #expect(decoded == Outer(
            id: 7, ratio: 0.25, flag: true, kind: .handover, note: nil, inner: Inner(name: "a", tags: ["x", "y"]),
            list: [Inner(name: "b", tags: [])], map: ["k": 3], raw: ["any": [1, "two", nil]], small: 255))
    }

    @Test func missingKeysWrongTypesAndInexactNumbersAreErrors() throws {
        let decoder = JSONValueDecoder()
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: ["name": "a"]) }
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: ["name": 1, "tags": []]) }
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: ["name": nil, "tags": []]) }
        #expect(throws: DecodingError.self) { try decoder.decode([Int].self, from: [1.5]) }
        #expect(throws: DecodingError.self) { try decoder.decode([UInt8].self, from: [256]) }
        #expect(throws: DecodingError.self) { try decoder.decode(Kind.self, from: "other") }
        #expect(throws: DecodingError.self) { try decoder.decode([String].self, from: ["a": 1]) }
    }

    @Test func errorsCarryTheCodingPath() throws {
        do {
            _ = try JSONValueDecoder().decode(Outer.self, from: try JSONValue.parse("""
                {"id": 7, "ratio": 0.25, "flag": true, "kind": "answer", "inner": {"name": "a", "tags": ["x", 2]},
                 "list": [], "map": {}, "raw": null, "small": 1}
                """))
            Issue.record("expected a type mismatch")
        } catch DecodingError.typeMismatch(_, let context) {
            #expect(context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue } == ["inner", "tags", "1"])
        }
    }
}
