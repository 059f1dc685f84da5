import Events
import Foundation
import JSON
import LLMFixture
import Testing

/// Customer memory: profile facts the pack marks `remember` (the telecom pack's phone number)
/// carry over to the customer's next conversation — only with consent, only until they expire,
/// and erased when consent is withdrawn.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct MemoryTests {
    @Test func aConsentingCustomerIsNotAskedAgainUntilTheFactExpiresOrConsentIsWithdrawn() async throws {
        try await Platform.with("memory", pack: "telecom") { p in
            func consent(_ customer: String, _ body: String) async throws -> Platform.Reply {
                try await p.request("PUT", "/v1/customers/\(customer)/memory-consent", body: body)
            }
            func balance(_ conversation: String, _ customer: String, _ text: String) async throws -> String {
                let reply = try await p.post(conversation, "{\"customer_id\":\"\(customer)\",\"text\":\"\(text)\"}")
                #expect(reply.status == 200, "\(reply.json)")
                return reply.json["reply"]?["text"]?.stringValue ?? ""
            }
            let asked = "What is your mobile number?"

            #expect(try await consent("cus_ada", #"{"granted":true,"ttl_seconds":3600}"#).status == 202)
            #expect(try await consent("cus_short", #"{"granted":true,"ttl_seconds":2}"#).status == 202)
            #expect(try await consent("cus_ada", #"{"granted":"yes"}"#).status == 422)
            #expect(try await consent("cus_ada", #"{"granted":true,"ttl_seconds":0}"#).status == 422)
            #expect(try await consent("bad*id", #"{"granted":true}"#).status == 400)
            // Consent is an event like any other: it applies once the planner has recorded it.
            _ = try await p.eventually("the planner recorded both consents") { () -> Bool? in
                try await p.pool.query("SELECT 1 FROM planner.customer_consent WHERE granted").count == 2 ? true : nil
            }

            // First conversation: the customer gives the number.
            #expect(try await balance("mem-1", "cus_ada", "What's my balance on 07700 900123?").contains("£12.50"))
            // A new conversation: remembered, not asked.
            let remembered = try await balance("mem-2", "cus_ada", "What's my balance?")
            // The number is sealed (the telecom pack's privacy.unseal): memory keeps its reference,
            // and the executor unseals it in the new conversation (the balance proves it).
            #expect(remembered.contains("£12.50") && remembered.contains("your phone number"), "\(remembered)")
            let kept = try await p.pool.query("SELECT row_to_json(m)::text AS row FROM planner.customer_memory m WHERE customer_id = 'cus_ada'").map { try $0.decode("row", as: String.self) }
            #expect(kept.contains { $0.contains("[PHONE#") } && !kept.contains { $0.contains("7700") }, "\(kept)")
            let decision = try #require(p.log.events(conversation: "mem-2").first { $0.type == "DecisionMade" }).decode(DecisionMade.self)
            #expect(decision.explain.contains("remembered from earlier conversations: phone_number"))

            // Without consent nothing is kept.
            _ = try await balance("nomem-1", "cus_other", "What's my balance on 07700 900123?")
            #expect(try await balance("nomem-2", "cus_other", "What's my balance?").contains(asked))

            // Expiry: a two-second memory is gone once two seconds have passed.
            _ = try await balance("short-1", "cus_short", "What's my balance on 07700 900123?")
            try await Task.sleep(for: .seconds(3))
            #expect(try await balance("short-2", "cus_short", "What's my balance?").contains(asked))

            // Withdrawal erases it.
            #expect(try await consent("cus_ada", #"{"granted":false}"#).status == 202)
            _ = try await p.eventually("the planner applied the withdrawal") { () -> Bool? in
                try await p.pool.query("SELECT 1 FROM planner.customer_memory WHERE customer_id = 'cus_ada'").count == 0 ? true : nil
            }
            #expect(try await balance("mem-3", "cus_ada", "What's my balance?").contains(asked))
        }
    }
}

/// Episodic memory: a consenting customer's past turns (what they asked, what was done, how it
/// ended) most similar to the new request go into the model's prompt.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct EpisodeTests {
    static let decision = #"{"intent":"order_status","confidence":90,"entities":{"order_id":"ABC123"},"next_action":"tool_calls","steps":[{"tool":"get_order_status","args":{"order_id":"ABC123"},"why":"asked"}],"clarification_question":null,"reply":null,"explain":"order question"}"#

    @Test func aConsentingCustomersSimilarPastTurnsReachTheModel() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.setDefaultReply(.ok(content: Self.decision), for: .openAIChatCompletions)
            let environment = ["SWITCHBOARD_LLM_BASE_URL": fixture.openAIBaseURL, "SWITCHBOARD_LLM_MODEL": "fixture-model"]
            try await Platform.with("episodes", environment: environment) { p in
                #expect(try await p.request("PUT", "/v1/customers/cus_1001/memory-consent", body: #"{"granted":true}"#).status == 202)
                _ = try await p.eventually("consent recorded") { () -> Bool? in
                    try await p.pool.query("SELECT 1 FROM planner.customer_consent WHERE customer_id = 'cus_1001'").count == 1 ? true : nil
                }
                func system(of conversation: String, _ customer: String, _ text: String) async throws -> String {
                    let before = fixture.requests(for: .openAIChatCompletions).count
                    let reply = try await p.post(conversation, "{\"customer_id\":\"\(customer)\",\"text\":\"\(text)\"}", wait: 30)
                    #expect(reply.status == 200)
                    let requests = fixture.requests(for: .openAIChatCompletions)
                    #expect(requests.count == before + 1, "one model call (not a cache hit)")
                    // This turn's context (facts, similar past turns) is the last message.
                    return requests.last?.json?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
                }
                let first = try await system(of: "ep-1", "cus_1001", "Where is my order ABC123?")
                #expect(!first.contains("Earlier with this customer"))
                let second = try await system(of: "ep-2", "cus_1001", "Has my order ABC123 shipped yet?")
                #expect(second.contains("Earlier with this customer") && second.contains("Where is my order ABC123?"), "\(second)")
                #expect(second.contains("intent order_status, tools get_order_status; answered: Your order ABC123 has shipped"), "\(second)")

                // Without consent, nothing is kept.
                _ = try await system(of: "noep-1", "cus_noep", "Where is my parcel ABC123?")
                let other = try await system(of: "noep-2", "cus_noep", "Did parcel ABC123 ship?")
                #expect(!other.contains("Earlier with this customer"))
            }
        }
    }
}
