import Foundation
import JSON
import Testing

/// Load shedding through the real services (docs/SECURITY.md): with the planner gone, messages
/// pile up on the log; once its lag passes the limit the gateway answers 503 with Retry-After
/// and the answer-by-email offer instead of queueing more, and takes messages again when the
/// planner is back and has caught up. Nothing accepted is lost.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct LoadSheddingTests {
    @Test func pastThePlannersLagLimitMessagesAreRefusedThenTakenAgain() async throws {
        try await Platform.with("shedding", environment: ["SWITCHBOARD_SHED_MAX_LAG": "3"]) { p in
            await p.stack.process("planner")?.killHard()
            for index in 0..<6 {
                let accepted = try await p.post("shed-\(index)", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 0)
                #expect(accepted.status == 202, "\(accepted.json)")
            }
            // The gateway measures the lag every 2 s.
            let refused = try await p.eventually("the gateway sheds", timeout: .seconds(15)) { () -> Platform.Reply? in
                let reply = try await p.post("shed-late", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 0)
                return reply.status == 503 ? reply : nil
            }
            #expect(refused.json["type"] == "https://switchboard.dev/problems/overloaded")
            #expect(refused.json["answer_by_email"] == "/v1/conversations/shed-late/answer-by-email")
            let emailed = try await p.request("POST", "/v1/conversations/shed-late/answer-by-email", body: #"{"customer_id":"cus_1001","email":"c1@example.com","text":"Where is my order ABC123?"}"#)
            #expect(emailed.status == 202, "\(emailed.json)")

            try p.stack.startService("planner")
            try await p.stack.waitUntilReady("planner")
            let taken = try await p.eventually("the gateway takes messages again", timeout: .seconds(30)) { () -> Platform.Reply? in
                let reply = try await p.post("shed-after", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 15)
                return reply.status == 200 ? reply : nil
            }
            #expect(taken.json["reply"]?["text"]?.stringValue?.contains("shipped") == true)
            // Every message accepted while the planner was gone got its reply.
            for index in 0..<6 {
                _ = try await p.eventually("shed-\(index) answered", timeout: .seconds(20)) { () -> Bool? in
                    let messages = try await p.get("/v1/conversations/shed-\(index)").json["messages"]?.arrayValue ?? []
                    return messages.contains { $0["role"] == "assistant" } ? true : nil
                }
            }
        }
    }
}
