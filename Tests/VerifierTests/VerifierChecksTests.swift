import DomainPack
import Events
import Foundation
import JSON
import Testing
import VerifierApp

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let checks = VerifierChecks(pack: try! DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path))

@Suite struct VerifierChecksTests {
    func step(_ tool: String, _ args: JSONValue) -> PlanStep { PlanStep(stepID: UUID(), tool: tool, args: args, why: "test") }

    let context = VerifierChecks.StepContext(tenant: "default", intent: "order_status", confidence: 0.9)

    @Test func validReadOnlyStepIsApproved() {
        #expect(checks.check(step: step("get_order_status", ["order_id": "ABC123"]), context: context) == .approved(.read))
    }

    @Test func unknownToolIsRejected() {
        guard case .rejected(let reason, _, _) = checks.check(step: step("delete_everything", [:]), context: context) else { Issue.record("approved"); return }
        #expect(reason == .unknownTool)
    }

    @Test(arguments: [
        JSONValue.object([:]),
        ["order_id": "abc"],
        ["order_id": "ABC123", "extra": true],
        ["order_id": 123456],
        ["order_id": "ABC123'; DROP TABLE orders;--"],
    ])
    func invalidArgumentsAreRejectedWithTheirPath(args: JSONValue) {
        guard case .rejected(let reason, let issues, _) = checks.check(step: step("get_order_status", args), context: context) else { Issue.record("approved \(args)"); return }
        #expect(reason == .invalidArgs)
        #expect(!issues.isEmpty)
        #expect(issues.allSatisfy { $0.path.hasPrefix("/args") })
    }

    @Test func resultMustMatchOutputSchema() {
        #expect(checks.check(result: ["order_id": "ABC123", "found": true, "status": "shipped"], tool: "get_order_status").isEmpty)
        #expect(checks.check(result: ["order_id": "ZZZ999", "found": false], tool: "get_order_status").isEmpty)
        #expect(!checks.check(result: ["order_id": "ABC123", "found": true], tool: "get_order_status").isEmpty, "found order without status")
        #expect(!checks.check(result: ["order_id": "ABC123", "found": true, "status": "lost"], tool: "get_order_status").isEmpty)
        #expect(!checks.check(result: "nope", tool: "get_order_status").isEmpty)
    }

    @Test func repliesAreChecked() {
        func draft(_ text: String) -> ReplyDrafted { ReplyDrafted(replyID: UUID(), kind: .answer, text: text, grounding: [UUID()]) }
        #expect(checks.check(reply: draft("Your order ABC123 has shipped with UPS.")) == nil)
        #expect(checks.check(reply: draft("   ")) == "empty")
        #expect(checks.check(reply: draft(String(repeating: "a", count: 5000))) == "too_long")
        #expect(checks.check(reply: draft("Your card 4111 1111 1111 1111 was charged")) == "pii")
        #expect(checks.check(reply: draft("Tracking 1Z999AA10123456784")) == nil, "a tracking number is not a card number")
        #expect(checks.check(reply: draft("Order 12345678901234 is not Luhn-valid? 4111111111111112")) == nil)
    }
}
