import Events
import Foundation
import JSON
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

            #expect(try await consent("cus_mem", #"{"granted":true,"ttl_seconds":3600}"#).status == 202)
            #expect(try await consent("cus_short", #"{"granted":true,"ttl_seconds":2}"#).status == 202)
            #expect(try await consent("cus_mem", #"{"granted":"yes"}"#).status == 422)
            #expect(try await consent("cus_mem", #"{"granted":true,"ttl_seconds":0}"#).status == 422)
            #expect(try await consent("bad*id", #"{"granted":true}"#).status == 400)

            // First conversation: the customer gives the number.
            #expect(try await balance("mem-1", "cus_mem", "What's my balance on 07700 900123?").contains("£12.50"))
            // A new conversation: remembered, not asked.
            let remembered = try await balance("mem-2", "cus_mem", "What's my balance?")
            #expect(remembered.contains("£12.50") && remembered.contains("+447700900123"), "\(remembered)")
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
            #expect(try await consent("cus_mem", #"{"granted":false}"#).status == 202)
            _ = try await p.eventually("the planner applied the withdrawal") { () -> Bool? in
                try await p.pool.query("SELECT 1 FROM planner.customer_memory WHERE customer_id = 'cus_mem'").count == 0 ? true : nil
            }
            #expect(try await balance("mem-3", "cus_mem", "What's my balance?").contains(asked))
        }
    }
}
