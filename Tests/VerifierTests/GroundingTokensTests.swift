import DomainPack
import Events
import Foundation
import JSON
import ReadModels
import Testing
import VerifierApp

/// What counts as a fact a reply must be able to point to, and its one canonical form.
@Suite struct GroundingTokensTests {
    @Test(arguments: [
        ("Your order ABC123 has shipped with UPS. The tracking number is 1Z999AA10123456784.", ["id:ABC123", "id:1Z999AA10123456784"]),
        ("I've refunded USD 80.00 for order DEF456 (refund R-9001).", ["amount:80.00", "id:DEF456", "id:R-9001"]),
        ("Refunds over $50 need approval; £12.50 left; €1,299.5 total", ["amount:50.00", "amount:12.50", "amount:1299.50"]),
        ("It should arrive by 2026-11-25.", ["date:2026-11-25"]),
        ("Fixed by 25 Nov 2026, 18:00 UTC", ["date:2026-11-25"]),
        ("Delivered on November 5th, 2026", ["date:2026-11-05"]),
        ("We emailed a***@example.com and ada@Example.com", ["email:a***@example.com", "email:ada@example.com"]),
        ("Your number +447700900123 has £22.50", ["id:447700900123", "amount:22.50"]),
        ("Invoice INV-5001: https://shop.example/default/invoices/INV-5001.pdf", ["id:INV-5001"]),
        ("Hello! I can help with 4G, 5G and 24/7 support in 5 to 10 days.", []),
        ("Placed at 2026-11-22T10:15:00Z", ["date:2026-11-22"]),
    ])
    func extracts(text: String, expected: [String]) {
        #expect(GroundingTokens.extract(text) == Set(expected), "\(text)")
    }

    @Test func toolResultsGiveTheirStringsAndNumbers() {
        let result: JSONValue = ["order_id": "DEF456", "total": 129, "refundable": 59.9, "found": true, "placed_at": "2026-11-22", "tracking_number": nil, "id": 123456789]
        #expect(GroundingTokens.extract(result) == ["id:DEF456", "amount:129.00", "amount:59.90", "date:2026-11-22", "amount:123456789.00", "id:123456789"])
    }

    /// The pack's own texts ground what they say; a reply's other facts are looked up.
    @Test func thePacksTextsAreGrounded() throws {
        let checks = VerifierChecks(pack: try DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path))
        #expect(checks.packTokens.contains("id:ABC123"), "the example in the order-number question")
        #expect(checks.factsToGround(in: "It's the six-character code in your confirmation email, like ABC123.").isEmpty)
        #expect(checks.factsToGround(in: "Your order DEF456 shipped, tracking 1Z999AA10123456784") == ["id:DEF456", "id:1Z999AA10123456784"])
    }

    /// A write's arguments: a phone number in any national form is one fact, a bare number
    /// is an amount, other text is read like a reply.
    @Test func argumentsAndTheCustomersWordsMeetInOneForm() {
        #expect(GroundingTokens.extractArguments(["phone_number": "+447700900123", "amount": "20.00"]) == ["phone:700900123", "amount:20.00"])
        #expect(GroundingTokens.extractArguments(["order_id": "DEF456", "amount": 35, "reason": "Arrived late (see INV-5001)"]) == ["id:DEF456", "amount:35.00", "id:INV-5001"])
        #expect(GroundingTokens.extractArguments(["notify": true, "note": nil]) == [])
        let said = GroundingTokens.extractCustomerFacts("Please top up 07700 900123 with 20, and refund 35.50 on DEF456")
        #expect(said.isSuperset(of: ["phone:700900123", "amount:20.00", "amount:35.50", "id:DEF456"]), "\(said.sorted())")
        #expect(GroundingTokens.extractCustomerFacts("my number is +44 7700 900123").contains("phone:700900123"))
        #expect(!GroundingTokens.extractCustomerFacts("order DEF456 from 2026-11-22").contains { $0.hasPrefix("phone:") }, "a date is not a phone number")
        #expect(GroundingTokens.extractResultFacts(["phone_number": "+447700900123", "balance": "GBP 4.20"]).isSuperset(of: ["phone:700900123", "amount:4.20"]))
    }
}

