import Events
import Foundation
import HTTPClient
import JSON
import Testing

/// A second tenant against the running platform (docs/SECURITY.md, tenants): with an
/// administrator's token of its own, `acme` reaches every endpoint of the gateway and HILQueue
/// and the inbox's live stream, and sees nothing of the demo tenant's conversations,
/// handovers, approvals, costs or events, and changes nothing of them.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct TenantIsolationTests {
    @Test func anotherTenantSeesAndChangesNothingOfTheFirstOnAnyEndpointOrStream() async throws {
        try await Platform.with("tenants") { p in
            let acme: HTTPHeaders = ["authorization": "Bearer \(try p.token(tenant: "acme", scopes: [.admin], subject: "acme-admin"))"]
            let empty: HTTPHeaders = ["authorization": "Bearer \(try p.token(tenant: "empty", scopes: [.admin], subject: "empty-admin"))"]

            // The inbox's live streams, open before anything happens: the demo tenant's and acme's.
            let ownInbox = try SSEClient(url: p.stack.url(of: "hilqueue"), path: "/v1/hil/stream", token: p.token)
            defer { ownInbox.close() }
            let acmeInbox = try SSEClient(url: p.stack.url(of: "hilqueue"), path: "/v1/hil/stream", token: try p.token(tenant: "acme", scopes: [.hilAgent], subject: "agent_ana", kind: .agent))
            defer { acmeInbox.close() }
            _ = try await ownInbox.wait { $0.count >= 1 }
            _ = try await acmeInbox.wait { $0.count >= 1 }
            // The inboxes poll every second; a new tenant's first poll announces its (empty) state.
            try await Task.sleep(for: .seconds(2.5))
            let acmeBaseline = acmeInbox.events.count

            // The demo tenant's day: an answer, a handover, an approval waiting for a person.
            #expect(try await p.post("ti-order", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#).status == 200)
            #expect(try await p.post("ti-human", #"{"customer_id":"cus_1001","text":"I want to talk to a human please"}"#).status == 200)
            #expect(try await p.post("ti-refund", #"{"customer_id":"cus_1001","text":"Please refund $80 for order DEF456"}"#).status == 200)
            let approval = try await p.pendingApproval("ti-refund")
            let approvalID = try #require(approval["approval_id"]?.stringValue)
            _ = try await p.eventually("the handover in the queue") {
                try await p.get("/v1/hil/queue", service: "hilqueue").json["conversations"]?.arrayValue?.first { $0["conversation_id"] == "ti-human" }
            }
            let changes = try await ownInbox.wait { $0.count >= 2 }
            #expect(changes.count >= 2, "the demo tenant's inbox hears of its handover")
            let ours = ["ti-order", "ti-human", "ti-refund"]

            // Gateway, every endpoint.
            let list = try await p.get("/v1/conversations", headers: acme)
            #expect(list.status == 200 && list.json["conversations"]?.arrayValue?.isEmpty == true, "\(list.json)")
            for id in ours {
                #expect(try await p.get("/v1/conversations/\(id)", headers: acme).status == 404, "\(id)")
                #expect(try await p.get("/v1/conversations/\(id)/stream", headers: acme).status == 404, "\(id) stream")
                let events = try await p.get("/v1/conversations/\(id)/events", headers: acme)
                #expect(events.status == 404 || events.json["events"]?.arrayValue?.isEmpty == true, "\(id) events: \(events.json)")
                #expect(try await p.post(id, #"{"customer_id":"cus_1001","text":"hello"}"#, wait: nil, headers: ["content-type": "application/json", "authorization": acme["authorization"] ?? ""]).status == 404, "\(id) message")
                let email = try await p.request("POST", "/v1/conversations/\(id)/answer-by-email", body: #"{"customer_id":"cus_1001","email":"x@example.com","text":"hi"}"#, headers: acme)
                #expect(email.status == 404, "\(id) answer-by-email: \(email.status)")
            }
            let costs = try await p.get("/v1/costs/summary?group_by=conversation", headers: acme)
            #expect(costs.status == 200)
            #expect(!ours.contains { costs.json.serializedString().contains($0) }, "\(costs.json)")
            let kpis = try await p.get("/v1/kpis", headers: acme)
            let emptyKPIs = try await p.get("/v1/kpis", headers: empty)
            #expect(kpis.status == 200 && Self.withoutTimes(kpis.json) == Self.withoutTimes(emptyKPIs.json), "acme's KPIs are an empty tenant's: \(kpis.json)")
            #expect(Self.withoutTimes(try await p.get("/v1/kpis").json) != Self.withoutTimes(emptyKPIs.json), "while the demo tenant's count its turns")

            // HILQueue, every endpoint.
            func hil(_ method: String, _ path: String, _ body: String = "{}") async throws -> Platform.Reply {
                method == "GET" ? try await p.get(path, service: "hilqueue", headers: acme) : try await p.request(method, path, body: body, service: "hilqueue", headers: acme)
            }
            #expect(try await hil("GET", "/v1/handovers").json["handovers"]?.arrayValue?.isEmpty == true)
            #expect(try await hil("GET", "/v1/hil/queue").json["conversations"]?.arrayValue?.isEmpty == true)
            #expect(try await hil("GET", "/v1/approvals").json["approvals"]?.arrayValue?.isEmpty == true)
            #expect(try await hil("GET", "/v1/hil/agents").json["agents"]?.arrayValue?.isEmpty == true, "the demo tenant's agents are not acme's")
            #expect(try await hil("GET", "/v1/hil/conversations/ti-human").status == 404)
            #expect(try await hil("GET", "/v1/approvals/\(approvalID)").status == 404)
            #expect(try await hil("POST", "/v1/approvals/\(approvalID)/approve", #"{"agent_id":"agent_ana"}"#).status == 404)
            #expect(try await hil("POST", "/v1/approvals/\(approvalID)/deny", #"{"agent_id":"agent_ana","reason":"no"}"#).status == 404)
            let claim = try await hil("POST", "/v1/hil/claim", #"{"agent_id":"agent_ana"}"#)
            #expect(claim.status != 200 && claim.json["conversation_id"] == nil, "acme claims nothing of ours: \(claim.status) \(claim.json)")
            for (path, body) in [
                ("reply", #"{"agent_id":"agent_ana","text":"hi"}"#), ("notes", #"{"agent_id":"agent_ana","text":"note"}"#),
                ("transfer", #"{"agent_id":"agent_ana","to_queue":"billing"}"#), ("resolve", #"{"agent_id":"agent_ana"}"#), ("back-to-ai", #"{"agent_id":"agent_ana"}"#),
            ] {
                let response = try await hil("POST", "/v1/hil/conversations/ti-human/\(path)", body)
                #expect(response.status == 404, "\(path): \(response.status) \(response.json)")
            }

            // Erasing acme's customer of the same id leaves the demo tenant's customer alone.
            #expect(try await p.request("DELETE", "/v1/customers/cus_1001", body: "", headers: acme).status / 100 == 2)

            // Nothing of the demo tenant changed, and acme's inbox heard nothing of it.
            try await Task.sleep(for: .seconds(2))
            #expect(acmeInbox.events.count == acmeBaseline, "acme's inbox heard of no change: \(acmeInbox.events)")
            let still = try await p.get("/v1/approvals/\(approvalID)", service: "hilqueue")
            #expect(still.status == 200 && still.json["status"] == "pending", "\(still.json)")
            let queue = try await p.get("/v1/hil/queue", service: "hilqueue").json["conversations"]?.arrayValue ?? []
            #expect(queue.first { $0["conversation_id"] == "ti-human" }?["phase"] == "pending_human")
            let conversation = try await p.get("/v1/conversations/ti-order")
            #expect(conversation.json["messages"]?[0]?["text"] == "Where is my order ABC123?", "the demo tenant's customer is not erased: \(conversation.json)")
            #expect(!p.log.allRecords.contains { record in
                (try? EventCodec.decode(record.value)).map { $0.tenantID == "acme" && ours.contains($0.conversationID) } == true
            }, "no event of acme's lands in our conversations")
        }
    }

    /// KPIs without the window's timestamps (which differ between two calls).
    static func withoutTimes(_ value: JSONValue) -> JSONValue {
        guard case .object(var members) = value else { return value }
        for key in ["from", "to", "at", "generated_at", "window"] { members[key] = nil }
        return .object(members)
    }
}
