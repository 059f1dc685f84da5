import DomainPack
import Events
import Foundation
import JSON
@testable import PlannerApp
import Testing

/// The pack's own reasons to hand over (`policy.handover`) and the brief a human reads.
struct HandoverTriggerTests {
    static func decision(_ intent: String, confidence: Double, _ action: BrainDecision.Action, slots: [String: SlotValue] = [:]) -> BrainDecision {
        BrainDecision(intent: intent, confidence: confidence, action: action, explain: "test", state: ConversationState(slots: slots))
    }
    static let plan = BrainDecision.Action.plan(steps: [.init(tool: "cancel_order", args: ["order_id": "DEF456"], why: "asked")])

    @Test(arguments: [
        // (intent, confidence, action, expected reason)
        ("order_status", 0.9, "plan", nil),
        ("order_status", 0.2, "plan", HandoverReason.lowConfidence),
        ("order_status", 0.2, "respond", .lowConfidence),
        ("order_status", 0.2, "clarify", nil),  // asking is how an unsure brain proceeds
        ("order_status", 0.0, "handover", nil),  // already one
        ("cancel_order", 0.5, "plan", .policyRule),  // the retail pack: an unsure cancellation
        ("cancel_order", 0.5, "clarify", .policyRule),
        ("cancel_order", 0.7, "plan", nil),
    ] as [(String, Double, String, HandoverReason?)])
    func retailPolicy(intent: String, confidence: Double, action: String, expected: HandoverReason?) {
        let actions: [String: BrainDecision.Action] = [
            "plan": Self.plan, "respond": .respond(text: "ok"), "clarify": .clarify(slot: "order_id", question: "Which?", attempt: 1),
            "handover": .handover(reason: .unknownIntent, text: "x", skills: ["general"]),
        ]
        let result = HandoverTriggers.escalation(Self.decision(intent, confidence: confidence, actions[action]!), pack: retailPack, tenant: "default")
        #expect(result?.0 == expected)
        if expected == .policyRule { #expect(result?.1 == "unsure_cancellation: A cancellation the AI is unsure about goes to a person.") }
    }

    @Test func theBriefSaysWhatTheCustomerWantsTheFactsWhatWasDoneAndWhy() {
        var state = ConversationState(slots: ["order_id": SlotValue(value: "DEF456", source: .customer), "amount": SlotValue(value: "80", source: .customer)])
        state.remember("customer", "Please refund $80 for order DEF456")
        let brief = HandoverBrief(reason: .approvalTimeout, detail: "nobody decided within 900 s", state: state, turn: nil).text
        #expect(brief == """
            Customer wants: "Please refund $80 for order DEF456"
            Facts: amount=80 (customer), order_id=DEF456 (customer)
            AI did: no tool calls
            Stopped because: nobody approved the action in time — nobody decided within 900 s
            """)
        #expect(HandoverReason.allCases.allSatisfy { !HandoverBrief.describe($0).isEmpty })
    }
}
