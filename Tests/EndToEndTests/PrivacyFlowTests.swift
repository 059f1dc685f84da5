import Events
import Foundation
import JSON
import Testing

/// Personal data through the real services (docs/SECURITY.md): what the log, the read models,
/// the exports and the logs hold of a customer's card and email, and what is left after the
/// customer is erased, live and after a rebuild from the log.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct PrivacyFlowTests {
    static let email = "ada.lovelace@example.com"
    static let card = "4111 1111 1111 1111"

    @Test func redactedOnTheLogSealedOriginalsAndErasureThatSurvivesARebuild() async throws {
        try await Platform.with("privacy") { p in
            let text = "Where is my order ABC123? Mail \(Self.email), I paid with \(Self.card)"
            let reply = try await p.post("priv-1", JSONValue.object(["customer_id": "cus_1001", "text": .string(text)]).serializedString())
            #expect(reply.status == 200, "\(reply.json)")
            // The planner answered from the redacted text: the order id is not personal data.
            #expect(reply.json["reply"]?["text"]?.stringValue?.contains("shipped") == true, "\(reply.json)")
            let other = try await p.post("priv-2", #"{"customer_id":"cus_1002","text":"Where is my order GHI789?"}"#)
            #expect(other.status == 200)

            let events = try await p.log.waitForEvents(conversation: "priv-1", count: 2)
            let message = try #require(events.first { $0.type == MessageReceived.eventType }).decode(MessageReceived.self)
            #expect(message.text == "Where is my order ABC123? Mail [EMAIL], I paid with [CARD]")
            #expect(message.sealed != nil && message.redactions == ["email": 1, "payment_card": 1])
            let view = try await p.get("/v1/conversations/priv-1").json
            #expect(view["messages"]?[0]?["text"] == .string(message.text), "the read model holds the redacted text")

            // Erasure.
            let erased = try await p.request("DELETE", "/v1/customers/cus_1001", body: "")
            #expect(erased.status == 202 && erased.json["key_destroyed"] == true, "\(erased.json)")
            let blanked: [JSONValue] = try await p.eventually("the customer's messages are blanked") { () -> [JSONValue]? in
                let messages = try await p.get("/v1/conversations/priv-1").json["messages"]?.arrayValue ?? []
                return !messages.isEmpty && messages.allSatisfy { $0["text"] == "[erased]" } ? messages : nil
            }
            #expect(blanked.count == 2, "customer message and reply stay as rows")
            #expect(try await p.get("/v1/conversations/priv-2").json["messages"]?[0]?["text"] == "Where is my order GHI789?", "other customers keep theirs")
            // The planner forgets the customer for good: consent recorded as withdrawn.
            _ = try await p.eventually("the planner withdrew the erased customer's consent") { () -> Bool? in
                try await p.pool.query("SELECT 1 FROM planner.customer_consent WHERE customer_id = 'cus_1001' AND NOT granted").count == 1 ? true : nil
            }
            let key = try await p.pool.query("SELECT count(*)::int AS n FROM privacy.customer_keys WHERE customer_id = 'cus_1001'")
            #expect(try key.first(where: { _ in true })?.decode("n", as: Int.self) == 0, "the key is gone")

            // A rebuild from offset 0 equals the erased live read model; the export shows no original.
            let verify = try runCLI(p, ["projections", "verify"])
            #expect(verify.status == 0, "\(verify.stdout)\n\(verify.stderr)")
            #expect(verify.stdout.contains("gateway.messages\t") && !verify.stdout.contains("DIFFERENT"), "\(verify.stdout)")
            let exported = try runCLI(p, ["events", "export", "--conversation", "priv-1"])
            #expect(exported.status == 0, "\(exported.stderr)")
            #expect(exported.stdout.contains("[EMAIL]"), "the export holds the redacted text")
            // Nothing anywhere holds the originals in clear: the export, the log, the services' logs.
            let logs = try DevStackLogs.all(p)
            for secret in [Self.email, Self.card, "4111111111111111"] {
                #expect(!exported.stdout.contains(secret), "\(secret) in the export")
                #expect(!p.log.allRecords.contains { String(decoding: $0.value, as: UTF8.self).contains(secret) }, "\(secret) on the log")
                #expect(!logs.contains(secret), "\(secret) in a service's log")
            }
        }
    }
}

/// Every service's log file of a platform, concatenated.
enum DevStackLogs {
    static func all(_ p: Platform) throws -> String {
        let folder = p.stack.options.runDirectory + "/logs"
        return try FileManager.default.contentsOfDirectory(atPath: folder).map { file in
            (try? String(contentsOfFile: folder + "/" + file, encoding: .utf8)) ?? ""
        }.joined(separator: "\n")
    }
}
