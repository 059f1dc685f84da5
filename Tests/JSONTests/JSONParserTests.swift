import Foundation
import JSON
import Testing

private func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(text) }
private func parseBytes(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue { try JSONValue.parse(bytes) }

/// The parse error code for `text`, or nil if it parsed.
private func failure(_ text: String) -> JSONParseError.Code? {
    do {
        _ = try parse(text)
        return nil
    } catch {
        return error.code
    }
}

private func failure(bytes: [UInt8]) -> JSONParseError.Code? {
    do {
        _ = try parseBytes(bytes)
        return nil
    } catch {
        return error.code
    }
}

@Suite("JSON parsing")
struct JSONParserTests {
    @Test func scalarsAndContainers() throws {
        #expect(try parse("null") == .null)
        #expect(try parse(" true ") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("\"hi\"") == .string("hi"))
        #expect(try parse("-12.5e1") == .number(-125))
        #expect(try parse("[1, [2], {\"a\": null}]") == [1, [2], ["a": nil]])
        #expect(try parse("\t{\r\n\"k\" : [ ] , \"o\":{}}\n") == ["k": [], "o": [:]])
    }

    @Test func booleansAndNumbersNeverSwap() throws {
        let value = try parse("[true, 1, false, 0]")
        #expect(value[0] == .bool(true))
        #expect(value[1] == .number(1))
        #expect(value[0] != value[1])
        #expect(value[2] != value[3])
        #expect(value[0]?.boolValue == true && value[0]?.doubleValue == nil)
        #expect(value[1]?.doubleValue == 1 && value[1]?.boolValue == nil)
    }

    @Test func numberGrammar() throws {
        for valid in ["0", "-0", "1", "-1", "10", "0.5", "-0.5", "1e3", "1E3", "1e+3", "1e-3", "1.25E-2", "123456789012345678901234567890"] {
            #expect(failure(valid) == nil, "\(valid) should parse")
        }
        #expect(try parse("1.25E-2") == .number(0.0125))
        #expect(try parse("-0") == .number(0))
        for invalid in ["01", "-01", "00", "+1", ".5", "1.", "1.e3", "1e", "1e+", "-", "--1", "0x10", "1_000"] {
            #expect(failure(invalid) != nil, "\(invalid) should be rejected")
        }
        #expect(failure("01") == .invalidNumber)
        #expect(failure("+1") == .unexpectedCharacter)
        for notJSON in ["NaN", "Infinity", "-Infinity", "nan", "inf"] {
            #expect(failure(notJSON) != nil, "\(notJSON) should be rejected")
        }
    }

    @Test func hugeExponents() throws {
        #expect(failure("1e400") == .numberOutOfRange)
        #expect(failure("-1e400") == .numberOutOfRange)
        #expect(failure("1e99999999999999999999999999") == .numberOutOfRange)
        #expect(failure("[" + String(repeating: "9", count: 400) + "]") == .numberOutOfRange)
        // Underflow rounds to zero, like every IEEE parser.
        #expect(try parse("1e-400") == .number(0))
        #expect(try parse("0e99999999999") == .number(0))
        #expect(try parse("1.7976931348623157e308") == .number(.greatestFiniteMagnitude))
    }

    @Test func deepNestingIsBounded() throws {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(failure(ok) == nil)
        let tooDeep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(failure(tooDeep) == .depthLimitExceeded)
        // Hostile: a megabyte of openers fails fast instead of exhausting the stack.
        #expect(failure(String(repeating: "[", count: 1_000_000)) == .depthLimitExceeded)
        #expect(failure(String(repeating: "{\"a\":", count: 100_000)) == .depthLimitExceeded)
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[[[1]]]", maxDepth: 2) }
        #expect(try JSONValue.parse("[[1]]", maxDepth: 2) == [[1]])
    }

    @Test func stringEscapes() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u00e9\u0000""#) == .string("\u{E9}\u{0}"))
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(failure(#""\x41""#) == .invalidEscape)
        #expect(failure(#""\u12""#) == .invalidEscape)
        #expect(failure(#""\u12G4""#) == .invalidEscape)
    }

    @Test func loneSurrogatesAreRejected() {
        #expect(failure(#""\ud800""#) == .loneSurrogate)
        #expect(failure(#""\udc00""#) == .loneSurrogate)
        #expect(failure(#""\ud800x""#) == .loneSurrogate)
        #expect(failure(#""\ud800\u0041""#) == .loneSurrogate)
        #expect(failure(#""\ud800\ud800""#) == .loneSurrogate)
        #expect(failure(#""\ude00\ud83d""#) == .loneSurrogate)
    }

    @Test func invalidUTF8IsRejected() throws {
        let quote: UInt8 = 0x22
        #expect(try parseBytes([quote, 0xC3, 0xA9, quote]) == .string("é"))
        #expect(try parseBytes([quote, 0xF0, 0x9F, 0x98, 0x80, quote]) == .string("😀"))
        let invalid: [[UInt8]] = [
            [0xC3, 0x28],  // bad continuation
            [0xC0, 0x80],  // overlong NUL
            [0xE0, 0x80, 0xAF],  // overlong
            [0xED, 0xA0, 0x80],  // UTF-8 encoded surrogate
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xF5, 0x80, 0x80, 0x80],  // invalid lead
            [0xFF],
            [0x80],  // lone continuation
            [0xE2, 0x82],  // truncated
        ]
        for sequence in invalid {
            #expect(failure(bytes: [quote] + sequence + [quote]) == .invalidUTF8, "\(sequence)")
        }
        #expect(failure(bytes: [0xEF, 0xBB, 0xBF] + Array("{}".utf8)) == .unexpectedCharacter, "BOM is rejected")
        #expect(failure(bytes: [0x5B, 0xFF, 0x5D]) == .unexpectedCharacter)
    }

    @Test func controlCharactersMustBeEscaped() {
        #expect(failure("\"a\nb\"") == .controlCharacterInString)
        #expect(failure("\"a\u{0}b\"") == .controlCharacterInString)
        #expect(failure("\"tab\there\"") == .controlCharacterInString)
    }

    @Test func structuralErrors() {
        #expect(failure("[1,]") == .unexpectedCharacter)
        #expect(failure("[1,,2]") == .unexpectedCharacter)
        #expect(failure("{\"a\":1,}") == .unexpectedCharacter)
        #expect(failure("{,}") == .unexpectedCharacter)
        #expect(failure("{\"a\" 1}") == .unexpectedCharacter)
        #expect(failure("{a:1}") == .unexpectedCharacter)
        #expect(failure("{'a':1}") == .unexpectedCharacter)
        #expect(failure("[1 2]") == .unexpectedCharacter)
        #expect(failure("1 2") == .trailingData)
        #expect(failure("{} x") == .trailingData)
        #expect(failure("nul") == .unexpectedEnd)
        #expect(failure("nulL") == .unexpectedCharacter)
        #expect(failure("truex") == .trailingData)
        #expect(failure("") == .unexpectedEnd)
        #expect(failure("   ") == .unexpectedEnd)
        #expect(failure("[") == .unexpectedEnd)
        #expect(failure("{\"a\":") == .unexpectedEnd)
        #expect(failure("\"abc") == .unexpectedEnd)
        #expect(failure("// comment\n1") == .unexpectedCharacter)
    }

    @Test func duplicateKeysAreRejected() throws {
        #expect(failure(#"{"a":1,"a":2}"#) == .duplicateKey)
        #expect(failure(#"{"a":1,"b":{"c":1,"c":1}}"#) == .duplicateKey)
        // Same key at different objects is fine.
        #expect(try parse(#"[{"a":1},{"a":2}]"#) == [["a": 1], ["a": 2]])
    }

    @Test func errorsDoNotEchoInput() throws {
        let error = try #require(throws: JSONParseError.self) { try parse(#"{"password": "hunter2", "x": tru}"#) }
        #expect(!error.description.contains("hunter2"))
        #expect(!error.description.contains("password"))
        #expect(error.offset == 29)
        #expect(error.isRetriable == false)
    }

    @Test func acceptsAnyByteCollection() throws {
        let data = Data(#"{"k":[1,2]}"#.utf8)
        #expect(try JSONValue.parse(data) == ["k": [1, 2]])
        #expect(try JSONValue.parse(Array(#"[true]"#.utf8)[...]) == [true])
    }
}
