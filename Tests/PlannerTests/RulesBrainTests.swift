import DomainPack
import Events
import Foundation
import JSON
import PlannerApp
import Testing

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let retailPack = try! DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path)

@Suite struct RulesBrainTests {
    let brain = RulesBrain(pack: retailPack)

    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var intent: String
        var action: String
        var orderID: String?
        var testDescription: String { text }
    }

    @Test(arguments: [
        Case(text: "Where is my order ABC123?", intent: "order_status", action: "plan", orderID: "ABC123"),
        Case(text: "where's my package abc123", intent: "order_status", action: "plan", orderID: "ABC123"),
        Case(text: "Can I get a tracking update for ZZZ999", intent: "order_status", action: "plan", orderID: "ZZZ999"),
        Case(text: "Has my order shipped yet?", intent: "order_status", action: "clarify", orderID: nil),
        Case(text: "What's the status of order DEF456", intent: "order_status", action: "plan", orderID: "DEF456"),
        Case(text: "I want to talk to a human", intent: "human_agent", action: "handover", orderID: nil),
        Case(text: "Hello!", intent: "greeting", action: "respond", orderID: nil),
        Case(text: "Can you write me a poem about cheese?", intent: "unknown", action: "handover", orderID: nil),
    ])
    func firstMessage(_ c: Case) {
        let decision = brain.decide(text: c.text, state: ConversationState())
        #expect(decision.intent == c.intent)
        #expect(Self.kind(decision.action) == c.action)
        if case .plan(let steps) = decision.action {
            #expect(steps.map(\.tool) == ["get_order_status"])
            #expect(steps.first?.args == ["order_id": .string(c.orderID ?? "")])
        }
    }

    static func kind(_ action: BrainDecision.Action) -> String {
        switch action {
        case .plan: "plan"
        case .clarify: "clarify"
        case .respond: "respond"
        case .handover: "handover"
        }
    }

    @Test func missingIdThenIdCompletesThePendingIntent() {
        let first = brain.decide(text: "Where is my order?", state: ConversationState())
        guard case .clarify(let slot, let question, let attempt) = first.action else { Issue.record("expected clarify, got \(first.action)"); return }
        #expect(slot == "order_id")
        #expect(question.contains("order number"))
        #expect(attempt == 1)
        #expect(first.state.pendingIntent == "order_status")

        let second = brain.decide(text: "It's abc123", state: first.state)
        #expect(second.intent == "order_status")
        guard case .plan(let steps) = second.action else { Issue.record("expected plan, got \(second.action)"); return }
        #expect(steps.first?.args == ["order_id": "ABC123"])
        #expect(second.state.slots["order_id"] == SlotValue(value: "ABC123", source: .customer))
        #expect(second.state.pendingIntent == nil)
    }

    @Test func clarificationsAreCappedThenHandedOver() {
        var state = ConversationState()
        var questions = 0
        for _ in 0..<5 {
            let decision = brain.decide(text: "where is my order", state: state)
            state = decision.state
            if case .clarify = decision.action { questions += 1; continue }
            guard case .handover(let reason, _, _) = decision.action else { Issue.record("unexpected \(decision.action)"); return }
            #expect(reason == .clarificationLimit)
            break
        }
        #expect(questions == retailPack.policy.maxClarificationsPerSlot)
    }

    @Test func filledSlotIsNotAskedAgain() {
        let first = brain.decide(text: "Where is my order ABC123?", state: ConversationState())
        let again = brain.decide(text: "Where is my order?", state: first.state)
        guard case .plan(let steps) = again.action else { Issue.record("re-asked a filled slot: \(again.action)"); return }
        #expect(steps.first?.args == ["order_id": "ABC123"])
    }

    @Test func askingForAHumanWinsOverAPendingSlot() {
        let first = brain.decide(text: "Where is my order?", state: ConversationState())
        let second = brain.decide(text: "ABC123 — actually let me talk to a person", state: first.state)
        #expect(second.intent == "human_agent")
    }

    @Test(arguments: [
        (JSONValue.object(["order_id": "ABC123", "found": true, "status": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "estimated_delivery": "2026-11-25"]), ["UPS", "1Z999AA10123456784", "shipped", "2026-11-25"]),
        (JSONValue.object(["order_id": "ZZZ999", "found": false]), ["couldn't find", "ZZZ999"]),
        (JSONValue.object(["order_id": "DEF456", "found": true, "status": "processing", "carrier": .null]), ["being prepared", "DEF456"]),
        (JSONValue.object(["order_id": "JKL012", "found": true, "status": "cancelled"]), ["cancelled"]),
    ])
    func answersAreGroundedInTheResult(result: JSONValue, mustContain: [String]) throws {
        let text = try #require(brain.answer(intent: "order_status", result: result, state: ConversationState()))
        for fragment in mustContain { #expect(text.contains(fragment), "\(text)") }
        #expect(!text.contains("{{"))
        #expect(!text.contains("&"), "text templates must not HTML-escape")
    }
}
