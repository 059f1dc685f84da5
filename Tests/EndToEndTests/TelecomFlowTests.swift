import Events
import Foundation
import Privacy
import JSON
import Postgres
import Testing

/// The telecom pack on the real platform with no LLM: a read tool answers from the demo
/// `telecom` schema the executor seeds, a clarified slot is normalised before the tool sees
/// it, and a write tool runs only after a human approves it.
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

            // 2. A balance question without a number: one question, then the answer. The number
            //    is sealed (privacy.unseal): on the log, in the decision and the plan it is a
            //    reference; only the executor unseals it, in E.164 whatever way it was typed, for
            //    the tool (the balance found proves the tool got the right number).
            let ask = try await p.post("tc-balance", #"{"customer_id":"cus_ada","text":"How much credit do I have left?"}"#)
            #expect(ask.json["reply"]?["kind"] == "clarification")
            #expect(ask.json["reply"]?["text"]?.stringValue?.contains("mobile number") == true)
            let balance = try await p.post("tc-balance", #"{"customer_id":"cus_ada","text":"it's 07700 900 123"}"#)
            let balanceText = try #require(balance.json["reply"]?["text"]?.stringValue)
            #expect(balanceText.contains("£12.50") && balanceText.contains("your phone number") && !balanceText.contains("PHONE#"), "\(balanceText)")
            let balanceEvents = try await p.log.waitForEvents(conversation: "tc-balance", count: clarificationSequence.count + foundOrderSequence.count)
            let said = try #require(balanceEvents.last { $0.type == "MessageReceived" }).decode(MessageReceived.self)
            let reference = try #require(SealedReference.all(in: said.text).first)
            #expect(said.text == "it's \(reference.placeholder)" && said.sealed != nil)
            let decided = try #require(balanceEvents.last { $0.type == "DecisionMade" }).decode(DecisionMade.self)
            #expect(decided.entities["phone_number"] == SlotValue(value: reference.placeholder, source: .customer))
            let step = try #require(balanceEvents.first { $0.type == "StepApproved" }).decode(StepApproved.self)
            #expect(step.tool == "get_balance" && step.args == ["phone_number": .string(reference.placeholder)])
            let result = try #require(balanceEvents.first { $0.type == "ToolSucceeded" }).decode(ToolSucceeded.self)
            #expect(result.result["phone_number"] == .string(reference.placeholder), "the tool's answer names the number by its reference again")

            // 3. A top-up moves money (tier 2): it waits for a human, who sees the balance before
            //    and after; once approved, the credit is added once and the customer is told.
            let topUp = try await p.post("tc-topup", #"{"customer_id":"cus_ada","text":"Top up £10 on 07700900123"}"#)
            #expect(topUp.json["reply"]?["text"]?.stringValue?.hasPrefix("I've asked a colleague to approve this") == true, "\(topUp.json)")
            let approval = try await p.pendingApproval("tc-topup")
            #expect(approval["tool"] == "recharge" && approval["risk_tier"] == 2)
            #expect(approval["preview"]?["changes"]?[0]?["before"] == "£12.50" && approval["preview"]?["changes"]?[0]?["after"] == "£22.50", "\(approval)")
            #expect(!p.log.events(conversation: "tc-topup").contains { $0.type == "ToolCallStarted" }, "nothing ran before the approval")
            let pence = { () async throws -> Int64 in
                let rows = try await p.pool.query("SELECT balance_pence FROM telecom.subscribers WHERE tenant_id = 'default' AND phone_number = '+447700900123'")
                return try #require(rows.first).decode("balance_pence", as: Int64.self)
            }
            #expect(try await pence() == 1250)
            let id = try #require(approval["approval_id"]?.stringValue)
            #expect(try await p.request("POST", "/v1/approvals/\(id)/approve", body: #"{"agent_id":"agent_sam"}"#, service: "hilqueue").status == 200)
            let answer = try await p.eventually("the top-up's answer") { try p.deliveredReplies("tc-topup").dropFirst().first }
            #expect(answer.contains("£22.50"), "\(answer)")
            #expect(try await pence() == 2250)

            // The numbers never reach the log in clear, in any form.
            for record in p.log.allRecords {
                let text = String(decoding: record.value, as: UTF8.self)
                for raw in ["7700900123", "7700 900 123", "07700900123"] {
                    #expect(!text.contains(raw), "\(raw) in a \(record.header("event-type") ?? "?") event")
                }
            }
        }
    }
}
