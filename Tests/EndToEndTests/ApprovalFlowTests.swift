import Events
import Foundation
import JSON
import Postgres
import Testing

/// The retail pack's writes through the five real services and the dev broker: a refund under
/// the tenant's limit runs on its own; one over it waits for a human, who approves it over
/// HILQueue's API, and it is applied exactly once; a denial and a rule are explained to the
/// customer; nothing runs that the verifier did not let through.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ApprovalFlowTests {
    static func refunds(_ p: Platform, order: String) async throws -> (count: Int, cents: Int64) {
        let row = try #require(try await p.pool.query("""
            SELECT count(*)::int AS n, coalesce(sum(amount_cents), 0)::bigint AS cents FROM commerce.refunds WHERE tenant_id = 'default' AND order_id = \(order)
            """).first)
        return (try row.decode("n"), try row.decode("cents"))
    }

    @Test func refundsUnderAndOverTheLimitAndARuleThatSaysNo() async throws {
        try await Platform.with("approvals") { p in
            // 1. Under the limit, confident: runs in the turn.
            let small = try await p.post("ap-small", #"{"customer_id":"cus_1001","text":"I want a refund of $20 for order DEF456"}"#)
            #expect(small.status == 200)
            let smallText = try #require(small.json["reply"]?["text"]?.stringValue)
            #expect(smallText.hasPrefix("Done: I've refunded USD 20.00 for order DEF456"), "\(smallText)")
            #expect(try await Self.refunds(p, order: "DEF456") == (1, 2000))
            let smallEvents = p.log.events(conversation: "ap-small")
            let approvedSteps = try smallEvents.filter { $0.type == "StepApproved" }.map { try $0.decode(StepApproved.self) }
            #expect(approvedSteps.map(\.tool) == ["get_order", "create_refund"])
            #expect(approvedSteps.last?.riskTier == .lowRiskWrite)
            #expect(!smallEvents.contains { $0.type == "ApprovalRequested" })

            // 2. Over the limit: the customer hears it waits; nothing is refunded yet.
            let big = try await p.post("ap-big", #"{"customer_id":"cus_1001","text":"Please refund $80 for order DEF456"}"#)
            #expect(big.json["reply"]?["text"]?.stringValue == "I've asked a colleague to approve this. I'll let you know here as soon as they have.")
            let approval = try await p.pendingApproval("ap-big")
            #expect(approval["tool"] == "create_refund" && approval["risk_tier"] == 2)
            #expect(approval["reason"] == "args.amount > tenant.auto_refund_limit")
            #expect(approval["preview"]?["summary"]?.stringValue?.hasPrefix("Refund USD 80.00 of order DEF456 (total USD 129.00, refunded so far USD 20.00)") == true, "\(approval)")
            #expect(try await Self.refunds(p, order: "DEF456") == (1, 2000), "nothing runs before a human approves")
            #expect(!p.log.events(conversation: "ap-big").contains { $0.type == "ToolCallStarted" && (try? $0.decode(ToolCallStarted.self).tool) == "create_refund" })

            // 3. Approved: applied once, and the customer gets the answer in the same conversation.
            let id = try #require(approval["approval_id"]?.stringValue)
            let granted = try await p.request("POST", "/v1/approvals/\(id)/approve", body: #"{"agent_id":"agent_ana","note":"regular customer"}"#, service: "hilqueue")
            #expect(granted.status == 200)
            let replies = try await p.eventually("the refund's answer") { () -> [String]? in
                let replies = try p.deliveredReplies("ap-big")
                return replies.count >= 2 ? replies : nil
            }
            #expect(replies[1].hasPrefix("Done: I've refunded USD 80.00 for order DEF456"), "\(replies)")
            #expect(try await Self.refunds(p, order: "DEF456") == (2, 10000))
            let again = try await p.request("POST", "/v1/approvals/\(id)/approve", body: #"{"agent_id":"agent_bo"}"#, service: "hilqueue")
            #expect(again.status == 409)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await Self.refunds(p, order: "DEF456") == (2, 10000), "exactly once")

            // 4. Denied: the customer hears the approver's reason; nothing is refunded.
            _ = try await p.post("ap-deny", #"{"customer_id":"cus_1001","text":"refund $55 for ABC123"}"#)
            let toDeny = try #require(try await p.pendingApproval("ap-deny")["approval_id"]?.stringValue)
            let denied = try await p.request("POST", "/v1/approvals/\(toDeny)/deny", body: #"{"agent_id":"agent_ana","reason":"it was already refunded by phone"}"#, service: "hilqueue")
            #expect(denied.status == 200)
            let denial = try await p.eventually("the denial's reply") { try p.deliveredReplies("ap-deny").dropFirst().first }
            #expect(denial == "A colleague reviewed your request and couldn't approve it: it was already refunded by phone")
            #expect(try await Self.refunds(p, order: "ABC123") == (0, 0))

            // 5. Rules say no, in the pack's words, without a handover: more than is left to
            //    refund (under the limit, so no human would be asked), and cancelling a shipped order.
            let tooMuch = try await p.post("ap-too-much", #"{"customer_id":"cus_1002","text":"refund $30 for GHI789 please"}"#)
            #expect(tooMuch.json["reply"]?["text"] == "That's more than what's left to refund on this order, so I can't do it.")
            let cancel = try await p.post("ap-cancel", #"{"customer_id":"cus_1001","text":"Please cancel order ABC123"}"#)
            #expect(cancel.json["reply"]?["text"]?.stringValue?.hasPrefix("That order has already shipped, so it can't be cancelled") == true, "\(cancel.json)")
            for conversation in ["ap-too-much", "ap-cancel"] {
                let events = p.log.events(conversation: conversation)
                #expect(events.contains { $0.type == "StepRejected" })
                #expect(!events.contains { $0.type == "HandoverRequested" }, "a rule's answer is not a handover")
            }
            let order = try #require(try await p.pool.query("SELECT status FROM commerce.orders WHERE tenant_id = 'default' AND order_id = 'ABC123'").first)
            #expect(try order.decode("status", as: String.self) == "shipped")
            #expect(try await Self.refunds(p, order: "GHI789") == (0, 0))
        }
    }

    /// Nobody decides within the pack's timeout: the sweeper expires the approval, the planner
    /// tells the customer and hands the conversation over; nothing is refunded.
    @Test func anApprovalNobodyGivesInTimeHandsTheConversationOver() async throws {
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let pack = retail.replacingOccurrences(of: "timeout_seconds: 900", with: "timeout_seconds: 2")
        #expect(pack != retail)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("retail-expiry-\(UUID().uuidString).yaml").path
        try pack.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Platform.with("approval_expiry", pack: path) { p in
            _ = try await p.post("ap-late", #"{"customer_id":"cus_1001","text":"Please refund $80 for order DEF456"}"#)
            _ = try await p.pendingApproval("ap-late")
            let reply = try await p.eventually("the expiry's reply") { try p.deliveredReplies("ap-late").dropFirst().first }
            #expect(reply == "The approval is taking longer than it should, so I'm passing you to a member of our team, who will follow up.")
            let events = p.log.events(conversation: "ap-late")
            #expect(events.contains { $0.type == "ApprovalExpired" })
            #expect(try events.filter { $0.type == "StepRejected" }.map { try $0.decode(StepRejected.self).reason } == [.approvalExpired])
            let handover = try #require(events.first { $0.type == "HandoverRequested" }).decode(HandoverRequested.self)
            #expect(handover.reason == .approvalTimeout)
            #expect(try await Self.refunds(p, order: "DEF456") == (0, 0))
        }
    }
}
