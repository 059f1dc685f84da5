import Foundation
import JSON
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    private func text(_ value: JSONValue, sorted: Bool = true) -> String {
        value.serializedString(sortedKeys: sorted)
    }

    @Test func canonicalSerialization() throws {
        let value: JSONValue = ["b": [1, 2.5, true, nil], "a": "x", "c": ["z": 0, "y": -1]]
        #expect(text(value) == #"{"a":"x","b":[1,2.5,true,null],"c":{"y":-1,"z":0}}"#)
        #expect(value.serialized() == Array(text(value).utf8))
        // Key order is by code point, not by locale or normalisation.
        #expect(text(["é": 1, "z": 2, "A": 3, "a": 4]) == #"{"A":3,"a":4,"z":2,"é":1}"#)
    }

    @Test func numberFormatting() {
        #expect(text(1.0) == "1")
        #expect(text(-0.0) == "0")
        #expect(text(1e15) == "1000000000000000")
        #expect(text(9007199254740993) == "9007199254740992")  // nearest double
        #expect(text(0.1) == "0.1")
        #expect(text(1e-7) == "1e-7")
        #expect(text(1.5e300) == "1.5e300")
        #expect(text(-2.5e-10) == "-2.5e-10")
        #expect(text(1e20) == "1e20")
        #expect(text(.number(.nan)) == "null")
        #expect(text(.number(.infinity)) == "null")
        for number in [0.1, 1e-7, 1.5e300, 123.456, -2.5e-10, Double.leastNonzeroMagnitude, 1.7976931348623157e308, 1e20] {
            #expect((try? JSONValue.parse(text(.number(number)))) == .number(number), "\(number) round-trips")
        }
    }

    @Test func stringEscaping() throws {
        let original = "quote\" backslash\\ slash/ nl\n cr\r tab\t bell\u{7} nul\u{0} del\u{7F} é 😀 \u{2028}"
        let serialized = text(.string(original))
        #expect(serialized == "\"quote\\\" backslash\\\\ slash/ nl\\n cr\\r tab\\t bell\\u0007 nul\\u0000 del\u{7F} é 😀 \u{2028}\"")
        #expect(try JSONValue.parse(serialized) == .string(original))
    }

    @Test func roundTrip() throws {
        let source = #"{"id":"ORD-1","items":[{"qty":2,"price":9.99}],"paid":false,"note":null,"tags":["a","b"]}"#
        let value = try JSONValue.parse(source)
        #expect(text(value) == #"{"id":"ORD-1","items":[{"price":9.99,"qty":2}],"note":null,"paid":false,"tags":["a","b"]}"#)
        #expect(try JSONValue.parse(value.serialized(sortedKeys: false)) == value)
    }

    @Test func numericEqualityAndHashing() {
        #expect(JSONValue.number(1) == 1.0)
        #expect(JSONValue.number(0) == .number(-0.0))
        #expect(JSONValue.number(0).hashValue == JSONValue.number(-0.0).hashValue)
        #expect(JSONValue.bool(true) != .number(1))
        #expect(JSONValue.bool(false) != .number(0))
        #expect(JSONValue.null != .bool(false))
        #expect(Set<JSONValue>([1, 1.0, true, "1", [1], ["a": 1]]).count == 5)
        let a: JSONValue = ["x": 1, "y": [1, 2]]
        let b: JSONValue = ["y": [1.0, 2.0], "x": 1.0]
        #expect(a == b && a.hashValue == b.hashValue)
        #expect(a != ["x": 1, "y": [2, 1]])
        #expect(a != ["x": 1])
    }

    @Test func stringsCompareByCodePoint() {
        let composed = JSONValue.string("\u{E9}")
        let decomposed = JSONValue.string("e\u{301}")
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        #expect(JSONValue.string("abc") == "abc")
    }

    @Test func accessors() {
        let value: JSONValue = ["n": 2, "f": 2.5, "big": 1e300, "s": "x", "b": true, "a": [1, "two"], "o": ["k": nil]]
        #expect(value["n"]?.intValue == 2)
        #expect(value["f"]?.intValue == nil)
        #expect(value["f"]?.doubleValue == 2.5)
        #expect(value["big"]?.intValue == nil)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["s"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["a"]?[1] == "two")
        #expect(value["a"]?[2] == nil)
        #expect(value["a"]?[-1] == nil)
        #expect(value["a"]?.arrayValue?.count == 2)
        #expect(value["o"]?["k"]?.isNull == true)
        #expect(value["o"]?.objectValue?.keys.sorted() == ["k"])
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(JSONValue.string("x")["k"] == nil)
    }

    @Test func codableKeepsBooleansAndNumbersApart() throws {
        let data = Data(#"{"t":true,"f":false,"one":1,"zero":0,"x":1.5,"s":"1","n":null,"a":[true,1]}"#.utf8)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(decoded == ["t": true, "f": false, "one": 1, "zero": 0, "x": 1.5, "s": "1", "n": nil, "a": [true, 1]])
        #expect(decoded["t"]?.boolValue == true)
        #expect(decoded["one"]?.boolValue == nil)
        #expect(decoded["zero"]?.doubleValue == 0)

        let encoded = try JSONEncoder().encode(decoded)
        #expect(try JSONValue.parse(encoded) == decoded)
        let integral = try JSONEncoder().encode(JSONValue.number(3))
        #expect(String(decoding: integral, as: UTF8.self) == "3")
    }

    @Test func descriptionIsCompactJSON() {
        let value: JSONValue = ["b": 1, "a": [true]]
        #expect(value.description == #"{"a":[true],"b":1}"#)
    }
}
