import Events
import Foundation
import JSON
import Postgres
import Testing

/// The telecom pack on the real platform with no LLM: a read tool answers from the demo
/// `telecom` schema the executor seeds, a clarified slot is normalised before the tool sees
/// it, and a write tool never runs without approval.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct TelecomFlowTests {
    @Test func outageBalanceAndTopUpWithTheTelecomPack() async throws {
        try await Platform.with("telecom", pack: "telecom") { p in
            // 1. A network complaint naming a city: the outage comes from the tool.
            let outage = try await p.post("tc-outage", #"{"customer_id":"cus_1","text":"No signal in Manchester since this morning"}"#)
            #expect(outage.status == 200)
            let outageText = try #require(outage.json["reply"]?["text"]?.stringValue)
            #expect(outageText.contains("mobile data") && outageText.contains("Manchester") && outageText.contains("25 Nov 2026, 18:00 UTC"), "\(outageText)")
            let outageEvents = try await p.log.waitForEvents(conversation: "tc-outage", count: foundOrderSequence.count)
            #expect(outageEvents.map(\.type) == foundOrderSequence)

            // 2. A balance question without a number: one question, then the answer; the number
            //    reaches the tool in E.164 whatever way it was typed.
            let ask = try await p.post("tc-balance", #"{"customer_id":"cus_2","text":"How much credit do I have left?"}"#)
            #expect(ask.json["reply"]?["kind"] == "clarification")
            #expect(ask.json["reply"]?["text"]?.stringValue?.contains("mobile number") == true)
            let balance = try await p.post("tc-balance", #"{"customer_id":"cus_2","text":"it's 07700 900 123"}"#)
            let balanceText = try #require(balance.json["reply"]?["text"]?.stringValue)
            #expect(balanceText.contains("£12.50") && balanceText.contains("+447700900123"), "\(balanceText)")
            let balanceEvents = try await p.log.waitForEvents(conversation: "tc-balance", count: clarificationSequence.count + foundOrderSequence.count)
            let decided = try #require(balanceEvents.last { $0.type == "DecisionMade" }).decode(DecisionMade.self)
            #expect(decided.entities["phone_number"] == SlotValue(value: "+447700900123", source: .customer))
            let step = try #require(balanceEvents.first { $0.type == "StepApproved" }).decode(StepApproved.self)
            #expect(step.tool == "get_balance" && step.args == ["phone_number": "+447700900123"])

            // 3. A top-up is a write: the verifier does not let it run unapproved, the customer is
            //    handed over, and no credit is added.
            let topUp = try await p.post("tc-topup", #"{"customer_id":"cus_3","text":"Top up £10 on 07700900123"}"#)
            #expect(topUp.json["reply"]?["kind"] == "fallback")
            #expect(topUp.json["reply"]?["text"]?.stringValue?.hasPrefix("I can't do that here") == true, "the pack's step_rejected reply")
            let topUpEvents = try await p.log.waitForEvents(conversation: "tc-topup", count: 5)
            let rejected = try #require(topUpEvents.first { $0.type == "StepRejected" }).decode(StepRejected.self)
            #expect(rejected.tool == "recharge" && rejected.reason == .approvalRequired)
            #expect(!topUpEvents.contains { $0.type == "ToolCallStarted" }, "nothing ran")
            #expect(try topUpEvents.first { $0.type == "HandoverRequested" }?.decode(HandoverRequested.self).reason == .stepRejected)
            let rows = try await p.pool.query("SELECT balance_pence FROM telecom.subscribers WHERE tenant_id = 'default' AND phone_number = '+447700900123'")
            #expect(try rows.first?.decode("balance_pence", as: Int64.self) == 1250)
        }
    }
}
