import Events
import Foundation
import JSON
import LLMFixture
import Testing

/// Rollout modes per intent (docs/ROLLOUT.md) through the running platform: shadow (the rules
/// brain answers, the model's decision is recorded beside it), assisted (each reply waits for a
/// person in the inbox's approvals), autonomous; a mode changed in the pack file takes effect
/// without a restart; `GET /v1/kpis` reports per intent and mode.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RolloutFlowTests {
    static let greetingDecision = #"{"intent":"greeting","confidence":90,"entities":{},"next_action":"respond","steps":[],"clarification_question":null,"reply":"Hi! How can I help?","explain":"a greeting"}"#
    static let orderDecision = #"{"intent":"order_status","confidence":92,"entities":{"order_id":"ABC123"},"next_action":"tool_calls","steps":[{"tool":"get_order_status","args":{"order_id":"ABC123"},"why":"asked"}],"clarification_question":null,"reply":null,"explain":"order status"}"#

    /// The retail pack with these modes on the order-status and greeting intents.
    static func pack(orderStatus: RolloutMode, greeting: RolloutMode) throws -> String {
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let withModes = retail
            .replacingOccurrences(of: "  - name: order_status\n", with: "  - name: order_status\n    rollout: \(orderStatus.rawValue)\n")
            .replacingOccurrences(of: "  - name: greeting\n", with: "  - name: greeting\n    rollout: \(greeting.rawValue)\n")
        #expect(withModes.components(separatedBy: "    rollout: ").count == 3)
        return withModes
    }

    @Test func modesPerIntentChangeWithoutARestartAndTheKPIsReportThem() async throws {
        let packPath = FileManager.default.temporaryDirectory.appendingPathComponent("rollout-\(UUID().uuidString.prefix(8)).yaml").path
        try Self.pack(orderStatus: .assisted, greeting: .shadow).write(toFile: packPath, atomically: true, encoding: .utf8)
        try await withLLMFixtureServer { fixture in
            let environment = ["SWITCHBOARD_LLM_BASE_URL": fixture.openAIBaseURL, "SWITCHBOARD_LLM_MODEL": "candidate"]
            try await Platform.with("rollout", pack: packPath, environment: environment) { p in
                // Shadow: the rules brain answers; the model decides in the background, for the record.
                fixture.enqueue(.ok(content: Self.greetingDecision), for: .openAIChatCompletions)
                let hello = try await p.post("ro-shadow", #"{"customer_id":"cus_1001","text":"Hello"}"#, wait: 20)
                #expect(hello.status == 200)
                #expect(hello.json["reply"]?["text"]?.stringValue?.hasPrefix("Hello! I can help with your orders") == true, "the rules brain's greeting: \(hello.json)")
                let shadow = try await p.eventually("the shadow decision") {
                    try p.log.events(conversation: "ro-shadow").first { $0.type == "ShadowDecisionRecorded" }?.decode(ShadowDecisionRecorded.self)
                }
                #expect(shadow.production.brain == "rules" && shadow.production.intent == "greeting" && shadow.production.nextAction == .respond)
                #expect(shadow.candidate?.brain == "env-model" && shadow.candidate?.intent == "greeting" && shadow.candidate?.nextAction == .respond)
                #expect(shadow.agrees, "same intent and action, no tools")
                let greeted = try #require(p.log.events(conversation: "ro-shadow").first { $0.type == "DecisionMade" }).decode(DecisionMade.self)
                #expect(greeted.brain == "rules" && greeted.mode == .shadow)
                // (The log reader of the test may trail the gateway's reply by a moment.)
                _ = try await p.eventually("the rules brain's reply on the log") { () -> Bool? in
                    p.log.events(conversation: "ro-shadow").contains { $0.type == "ReplyDelivered" } ? true : nil
                }
                #expect(p.log.events(conversation: "ro-shadow").filter { $0.type == "ReplyDelivered" }.count == 1, "only the rules brain's reply reaches the customer")

                // Assisted: the model decides and the tools run, but the reply waits for a person.
                fixture.setDefaultReply(.ok(content: Self.orderDecision), for: .openAIChatCompletions)
                let asked = try await p.post("ro-assisted", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 2)
                #expect(asked.status == 202)
                let held = try await p.eventually("the reply held for approval") {
                    try p.log.events(conversation: "ro-assisted").first { $0.type == "ApprovalRequested" }?.decode(ApprovalRequested.self)
                }
                #expect(held.tool == ApprovalRequested.replyTool && held.args["text"]?.stringValue?.contains("1Z999AA10123456784") == true, "\(held.args)")
                #expect(held.preview.changes.first?.after == held.args["text"])
                #expect(!p.log.events(conversation: "ro-assisted").contains { $0.type == "ReplyDelivered" }, "nothing is sent before a person approves")
                let decided = try #require(p.log.events(conversation: "ro-assisted").first { $0.type == "DecisionMade" }).decode(DecisionMade.self)
                #expect(decided.mode == .assisted && decided.brain == "env-model")
                // No "a colleague is checking" message for a held reply: the customer just waits.
                #expect(p.log.events(conversation: "ro-assisted").filter { $0.type == "ReplyDrafted" }.count == 1)
                // One click in the inbox's approvals sends it.
                let approved = try await p.eventually("the approval, once HILQueue has it") { () -> Platform.Reply? in
                    let reply = try await p.request("POST", "/v1/approvals/\(held.approvalID.uuidString.lowercased())/approve", body: #"{"agent_id":"agent_ana","note":"looks right"}"#, service: "hilqueue")
                    return reply.status == 404 ? nil : reply
                }
                #expect(approved.status == 200, "\(approved.json)")
                let sent = try await p.eventually("the approved reply delivered") {
                    try p.log.events(conversation: "ro-assisted").first { $0.type == "ReplyDelivered" }?.decode(ReplyDelivered.self)
                }
                #expect(sent.text == held.args["text"]?.stringValue)

                // Denied: the reply is blocked and a person takes the conversation.
                _ = try await p.post("ro-denied", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 0)
                let second = try await p.eventually("a second held reply") {
                    try p.log.events(conversation: "ro-denied").first { $0.type == "ApprovalRequested" }?.decode(ApprovalRequested.self)
                }
                _ = try await p.eventually("the denial") { () -> Platform.Reply? in
                    let reply = try await p.request("POST", "/v1/approvals/\(second.approvalID.uuidString.lowercased())/deny", body: #"{"agent_id":"agent_ana","reason":"tone"}"#, service: "hilqueue")
                    return reply.status == 404 ? nil : reply
                }
                let blocked = try await p.eventually("the handover after the denial") {
                    try p.log.events(conversation: "ro-denied").first { $0.type == "HandoverRequested" }?.decode(HandoverRequested.self)
                }
                #expect(blocked.reason == .replyBlocked)
                #expect(!p.log.events(conversation: "ro-denied").compactMap { try? $0.decode(ReplyDelivered.self) }.contains { $0.text.contains("1Z999AA10123456784") })

                // The pack file changes: order status is autonomous from now on, without a restart.
                try Self.pack(orderStatus: .autonomous, greeting: .shadow).write(toFile: packPath, atomically: true, encoding: .utf8)
                _ = try await p.eventually("the planner took the new modes", timeout: .seconds(15)) { () -> Bool? in
                    let log = try String(contentsOfFile: p.stack.options.runDirectory + "/logs/planner.log", encoding: .utf8)
                    return log.contains("rollout modes changed") && log.contains("order_status=autonomous") ? true : nil
                }
                let direct = try await p.post("ro-auto", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 20)
                #expect(direct.status == 200 && direct.json["reply"]?["text"]?.stringValue?.contains("1Z999AA10123456784") == true, "\(direct.json)")
                let auto = try #require(p.log.events(conversation: "ro-auto").first { $0.type == "DecisionMade" }).decode(DecisionMade.self)
                #expect(auto.mode == .autonomous)

                // KPIs per intent and mode, from the gateway's read model.
                let kpis = try await p.eventually("the KPIs of all three modes") { () -> [JSONValue]? in
                    let rows = try await p.get("/v1/kpis").json["intents"]?.arrayValue ?? []
                    return rows.count >= 3 && rows.contains(where: { $0["mode"] == "autonomous" && $0["automation_rate"] == 1 }) ? rows : nil
                }
                func row(_ intent: String, _ mode: String) -> JSONValue? { kpis.first { $0["intent"]?.stringValue == intent && $0["mode"]?.stringValue == mode } }
                let greeting = try #require(row("greeting", "shadow"), "\(kpis)")
                #expect(greeting["turns"] == 1 && greeting["shadow_agreement"] == 1 && greeting["shadow_turns"] == 1 && greeting["automation_rate"] == 1)
                let assisted = try #require(row("order_status", "assisted"), "\(kpis)")
                #expect(assisted["turns"] == 2 && assisted["approval_rate"] == 1 && assisted["escalation_rate"] == 0.5 && assisted["automation_rate"] == 0.5)
                #expect(assisted["shadow_agreement"] == .null)
                let autonomous = try #require(row("order_status", "autonomous"), "\(kpis)")
                #expect(autonomous["approval_rate"] == 0 && autonomous["escalation_rate"] == 0)
                #expect((autonomous["latency_ms"]?["p50"]?.doubleValue ?? -1) >= 0)

                // Bad input is a clear error; the read model rebuilds equal to the live one.
                let bad = try await p.get("/v1/kpis?from=yesterday")
                #expect(bad.status == 400 && bad.json["title"]?.stringValue?.contains("from must be a time") == true)
                let verify = try runCLI(p, ["projections", "verify"])
                #expect(verify.status == 0 && verify.stdout.contains("gateway.turn_kpis\t"), "\(verify.stdout)\n\(verify.stderr)")
            }
        }
    }
}
