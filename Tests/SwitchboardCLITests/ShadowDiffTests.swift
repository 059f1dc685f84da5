import Events
import Foundation
import JSON
import Kafka
import LogTools
@testable import SwitchboardCLI
import Testing

/// `switchboard shadow` without processes: a turn's side read from its events, agreement, the
/// figures, the production log folded into turns, and the executor's replay file.
@Suite struct ShadowDiffTests {
    static let conversation = "c-1"

    /// One turn's events as the services append them: message, decision, plan, approved steps
    /// with results, reply, and optionally a handover or an approval.
    static func turn(
        _ text: String, intent: String, steps: [(String, JSONValue, JSONValue?)] = [], reply: String, handover: HandoverReason? = nil,
        approval: Bool = false, conversation: String = conversation, at millis: Int64 = 1_000
    ) throws -> [EventEnvelope] {
        let message = try EventEnvelope.start(MessageReceived(customerID: "cus_1", text: text), conversationID: conversation, tenantID: "default", producer: "gateway", occurredAtMillis: millis)
        var events = [message]
        events.append(try message.reaction(DecisionMade(
            brain: "rules", intent: intent, confidence: 0.9, entities: [:], nextAction: handover != nil ? .handover : steps.isEmpty ? .respond : .toolCalls, explain: ""), producer: "planner"))
        let plan = UUID()
        let planSteps = steps.map { PlanStep(stepID: UUID(), tool: $0.0, args: $0.1, why: "") }
        if !planSteps.isEmpty { events.append(try message.reaction(PlanProposed(planID: plan, intent: intent, steps: planSteps), producer: "planner")) }
        for (step, recorded) in zip(planSteps, steps) {
            guard let result = recorded.2 else { continue }
            let approved = try message.reaction(StepApproved(planID: plan, stepID: step.stepID, tool: step.tool, args: step.args, riskTier: .read), producer: "verifier", label: "approve-\(step.stepID)")
            events.append(approved)
            if result == "FAIL" {
                events.append(try approved.reaction(ToolFailed(planID: plan, stepID: step.stepID, tool: step.tool, error: ToolError(code: "timeout", message: "slow", retriable: true), durationMs: 2), producer: "executor", label: "result"))
            } else {
                events.append(try approved.reaction(ToolSucceeded(planID: plan, stepID: step.stepID, tool: step.tool, result: result, durationMs: 2), producer: "executor", label: "result"))
            }
        }
        if approval {
            events.append(try message.reaction(ApprovalRequested(
                approvalID: UUID(), planID: plan, stepID: UUID(), tool: "create_refund", args: [:], riskTier: .highRiskWrite, reason: "limit",
                preview: EffectPreview(summary: "", changes: []), timeoutSeconds: 900), producer: "verifier"))
        }
        if let handover { events.append(try message.reaction(HandoverRequested(reason: handover, summary: "", skills: []), producer: "planner")) }
        events.append(try message.reaction(ReplyDelivered(replyID: UUID(), kind: handover != nil ? .handover : .answer, text: reply, channel: "api"), producer: "gateway"))
        return events
    }

    @Test func aSideIsReadFromItsTurnsEvents() throws {
        let events = try Self.turn("Refund $15 for VWX234", intent: "refund", steps: [
            ("get_order", ["order_id": "VWX234"], ["found": true]), ("create_refund", ["order_id": "VWX234", "amount": 15], ["refund_id": "R-9002"]),
        ], reply: "Done: refund R-9002")
        let side = ShadowSide(events: events + events) // a redelivered event counts once
        #expect(side.intent == "refund" && side.action == "tool_calls" && side.brain == "rules")
        #expect(side.tools == [.init(tool: "get_order", args: ["order_id": "VWX234"]), .init(tool: "create_refund", args: ["order_id": "VWX234", "amount": 15])])
        #expect(side.reply == "Done: refund R-9002" && side.handover == nil && !side.approval)
        let human = ShadowSide(events: try Self.turn("a human please", intent: "human_agent", reply: "passing you on", handover: .customerRequest))
        #expect(human.handover == "customer_request" && human.replyKind == "handover")
        #expect(ShadowSide(events: try Self.turn("refund $80", intent: "refund", reply: "asked a colleague", approval: true)).approval)
        // Only the message: nothing decided (a person has the conversation).
        #expect(ShadowSide(events: [try Self.turn("hi", intent: "greeting", reply: "Hello")[0]]).intent == nil)
    }

    @Test func agreementComparesIntentToolsInOrderAndHandover() {
        let production = ShadowSide(intent: "refund", tools: [.init(tool: "get_order", args: ["order_id": "A"]), .init(tool: "create_refund", args: ["order_id": "A", "amount": 15])])
        #expect(ShadowAgreement(production: production, candidate: production).overall)
        var reordered = production
        reordered.tools.reverse()
        #expect(ShadowAgreement(production: production, candidate: reordered) == ShadowAgreement(intent: true, tools: false, handover: true))
        var otherAmount = production
        otherAmount.tools[1].args = ["order_id": "A", "amount": 16]
        #expect(!ShadowAgreement(production: production, candidate: otherAmount).tools)
        // The same numbers however written; the reply is not compared.
        var sameNumbers = production
        sameNumbers.tools[1].args = ["amount": 15.0, "order_id": "A"]
        sameNumbers.reply = "different words"
        #expect(ShadowAgreement(production: production, candidate: sameNumbers).overall)
        let handedOver = ShadowSide(intent: "unknown", handover: "unknown_intent")
        #expect(ShadowAgreement(production: production, candidate: handedOver) == ShadowAgreement(intent: false, tools: false, handover: false))
        #expect(!ShadowAgreement(production: production, candidate: handedOver).overall)
        // Both handed over, for different reasons: the handover agrees.
        #expect(ShadowAgreement(production: ShadowSide(intent: "x", handover: "customer_request"), candidate: ShadowSide(intent: "x", handover: "low_confidence")).overall)
    }

    static func shadowTurn(_ conversation: String, _ index: Int, production: ShadowSide, candidate: ShadowSide?) -> ShadowTurn {
        ShadowTurn(
            conversationID: conversation, candidateConversationID: "shadow-r-" + conversation, index: index, turnID: UUID(), customerID: "cus_1",
            text: "text \(index)", occurredAtMillis: 0, production: production, candidate: candidate)
    }

    @Test func summaryCountsComparedTurnsByProductionIntent() throws {
        let status = ShadowSide(intent: "order_status", tools: [.init(tool: "get_order_status", args: ["order_id": "ABC123"])])
        let invoice = ShadowSide(intent: "invoice", tools: [.init(tool: "get_invoice", args: ["order_id": "ABC123"])])
        let unknown = ShadowSide(intent: "unknown", handover: "unknown_intent", outcome: .handedOver)
        let turns = [
            Self.shadowTurn("a", 1, production: status, candidate: status),
            Self.shadowTurn("b", 1, production: status, candidate: status),
            Self.shadowTurn("c", 1, production: invoice, candidate: unknown),
            Self.shadowTurn("c", 2, production: status, candidate: nil),
            Self.shadowTurn("d", 1, production: ShadowSide(intent: nil), candidate: status),
        ]
        #expect(turns.map(\.status) == [.compared, .compared, .compared, .notReplayed, .noProductionDecision])
        let summary = ShadowSummary(turns)
        #expect(summary.turns == 5 && summary.compared == 3 && summary.notReplayed == 1 && summary.noProductionDecision == 1 && summary.conversations == 4)
        #expect(summary.all == .init(turns: 3, overall: 2, intent: 2, tools: 2, handover: 2))
        #expect(summary.byIntent["order_status"] == .init(turns: 2, overall: 2, intent: 2, tools: 2, handover: 2))
        #expect(summary.byIntent["invoice"] == .init(turns: 1, overall: 0, intent: 0, tools: 0, handover: 0))
        let json = summary.json()
        #expect(json["agreement"]?["overall"]?.doubleValue == 2.0 / 3.0)
        #expect(json["by_intent"]?["invoice"]?["overall"] == 0 && json["by_intent"]?["order_status"]?["turns"] == 2)
        let table = summary.table()
        #expect(table.contains("order_status") && table.contains("100.0%") && table.contains("66.7%"), "\(table)")
        #expect(table.contains("1 not replayed (candidate handed over)"))

        let diff = ShadowDiff(runID: "r", brain: "rules", policy: "p.yaml", from: nil, to: nil, turns: turns)
        let document = diff.json()
        #expect(document["turns"]?.arrayValue?.count == 5)
        let notReplayed = try #require(document["turns"]?[3])
        #expect(notReplayed["status"] == "not_replayed" && notReplayed["candidate"] == .null && notReplayed["agree"] == .null)
        #expect(document["turns"]?[2]?["agree"] == ["intent": false, "tools": false, "handover": false, "overall": false])
        #expect(document["turns"]?[2]?["production"]?["tools"] == [["tool": "get_invoice", "args": ["order_id": "ABC123"]]])
        let html = diff.html()
        #expect(html.contains("Disagreements (1)") && html.contains("c turn 1: differs in intent, tools, handover") && html.contains("unknown_intent"))
    }

    func record(_ event: EventEnvelope, offset: Int64) -> KafkaRecord {
        KafkaRecord(
            topic: "t", partition: 0, offset: offset, key: Array(event.conversationID.utf8), value: EventCodec.encode(event),
            headers: [KafkaHeader(key: "event-type", value: Array(event.type.utf8))], timestampMs: nil)
    }

    /// The production log folded into turns: only messages in the range open a turn, the outcome
    /// events join their turn wherever they are, conversations come in the order of their first
    /// message, and the replay file holds the calls production ran with their results.
    @Test func theLogIsFoldedIntoTurnsAndARecording() throws {
        let early = try Self.turn("Where is ABC123?", intent: "order_status", steps: [("get_order_status", ["order_id": "ABC123"], ["found": true])], reply: "shipped", conversation: "late-starter", at: 500)
        let first = try Self.turn("Where is ABC123?", intent: "order_status", steps: [("get_order_status", ["order_id": "ABC123"], ["found": true])], reply: "shipped", conversation: "b-conv", at: 1_000)
        let second = try Self.turn("Refund $15 for VWX234", intent: "refund", steps: [
            ("get_order", ["order_id": "VWX234"], ["found": true]), ("create_refund", ["order_id": "VWX234", "amount": 15], "FAIL"),
        ], reply: "system down", conversation: "a-conv", at: 2_000)
        let third = try Self.turn("hello", intent: "greeting", reply: "Hello!", conversation: "b-conv", at: 3_000)
        let outside = try Self.turn("hello", intent: "greeting", reply: "Hello!", conversation: "a-conv", at: 9_000)
        let collector = ShadowRecording.Collector(filter: EventFilter(fromMillis: 1_000, toMillis: 5_000), only: [])
        var offset: Int64 = 0
        // Partitions interleave: the second conversation's messages arrive between the first's.
        for event in early + first + second + third + outside + [first[3]] {
            collector.take(record(event, offset: offset))
            offset += 1
        }
        let recording = collector.recording()
        #expect(recording.conversations.map(\.id) == ["b-conv", "a-conv"])
        #expect(recording.conversations.map { $0.turns.map(\.text) } == [["Where is ABC123?", "hello"], ["Refund $15 for VWX234"]])
        #expect(recording.conversations[0].turns[0].events.count == first.count - 1, "a repeated event is taken once")
        #expect(ShadowSide(events: recording.conversations[1].turns[0].events).tools.map(\.tool) == ["get_order", "create_refund"])

        let file = recording.replayFile { "shadow-r-" + $0 }
        #expect(file == [
            ["conversation_id": "shadow-r-b-conv", "tool": "get_order_status", "args": ["order_id": "ABC123"], "risk_tier": 0, "outcome": "succeeded", "result": ["found": true]],
            ["conversation_id": "shadow-r-a-conv", "tool": "get_order", "args": ["order_id": "VWX234"], "risk_tier": 0, "outcome": "succeeded", "result": ["found": true]],
            ["conversation_id": "shadow-r-a-conv", "tool": "create_refund", "args": ["order_id": "VWX234", "amount": 15], "risk_tier": 0, "outcome": "failed",
             "error": ["code": "timeout", "message": "slow", "retriable": true]],
        ])

        let only = ShadowRecording.Collector(filter: EventFilter(), only: ["a-conv"])
        for (index, event) in (first + second + outside).enumerated() { only.take(record(event, offset: Int64(index))) }
        #expect(only.recording().conversations.map { $0.turns.count } == [2])
    }

    @Test func candidateConversationIDsFitTheGateway() {
        #expect(ShadowReplayer.candidateID(runID: "ab12cd34", conversationID: "demo-1") == "shadow-ab12cd34-demo-1")
        let long = String(repeating: "x", count: 128)
        let a = ShadowReplayer.candidateID(runID: "ab12cd34", conversationID: long)
        let b = ShadowReplayer.candidateID(runID: "ab12cd34", conversationID: long.dropLast() + "y")
        #expect(a.count == 128 && b.count == 128 && a != b && EnvelopeRules.isValidAggregateID(a))
    }
}
