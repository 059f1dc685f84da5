@testable import GatewayApp
import ServiceRuntime
import Testing

@Suite struct MessageValidationTests {
    func kind(_ body: [UInt8]) -> String? {
        do {
            _ = try GatewayAPI.parseMessage(body)
            return nil
        } catch let problem as ProblemDetails {
            return problem.kind
        } catch {
            return "unexpected \(error)"
        }
    }

    /// U+0085 is not whitespace to ECMA-262's `\s`, so the document accepts it, and so must we.
    @Test func textTheDocumentAcceptsIsNotBlank() throws {
        #expect(try GatewayAPI.parseMessage(Array(#"{"customer_id":"c","text":"\u0085"}"#.utf8)).text == "\u{85}")
    }

    @Test func validMessageParses() throws {
        let message = try GatewayAPI.parseMessage(Array(#"{"customer_id":"cus_1","text":"Where is ABC123? ✓"}"#.utf8))
        #expect(message.customerID == "cus_1")
        #expect(message.text == "Where is ABC123? ✓")
    }

    @Test(arguments: [
        (#"{"customer_id":"c","text":"#, "invalid-json"),
        (#"[1,2]"#, "invalid-json"),
        (#"{"customer_id":"c","text":"  \n "}"#, "empty-text"),
        // Whitespace as the published document's pattern "\S" (ECMA-262) counts it.
        (#"{"customer_id":"c","text":"\u2028\u3000\ufeff "}"#, "empty-text"),
        (#"{"customer_id":"c","text":5}"#, "invalid-field"),
        (#"{"customer_id":"bad id","text":"x"}"#, "invalid-field"),
        (#"{"customer_id":"c","text":"x","role":"admin"}"#, "unknown-field"),
        (#"{"customer_id":"c","text":"a\u0000b"}"#, "invalid-field"),
    ])
    func badBodiesNameTheProblem(body: String, expected: String) {
        #expect(kind(Array(body.utf8)) == expected)
    }

    @Test func invalidUTF8IsNamedAsSuch() {
        #expect(kind(Array(#"{"customer_id":"c","text":""#.utf8) + [0xFF] + Array(#""}"#.utf8)) == "invalid-utf8")
    }

    @Test func textLimitCountsCharacters() {
        let atLimit = #"{"customer_id":"c","text":""# + String(repeating: "é", count: GatewayAPI.maxTextCharacters) + #""}"#
        #expect(kind(Array(atLimit.utf8)) == nil)
        let over = #"{"customer_id":"c","text":""# + String(repeating: "é", count: GatewayAPI.maxTextCharacters + 1) + #""}"#
        #expect(kind(Array(over.utf8)) == "text-too-long")
    }
}
