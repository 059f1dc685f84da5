import Events
import Foundation
import Glibc
import HTTPClient
import JSON
import LLMFixture
import Testing

/// Issue 10 end to end over the real processes: a customer asks for a human → handover → an
/// agent claims and replies → the customer's stream shows it (and a reconnect resumes without
/// gaps or repeats) → back to AI → the AI answers the next message with the human's turns in its
/// context. The AI stays quiet while the human has the conversation; notes never reach the
/// customer; a command the phase does not allow is a 409 that appends nothing.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HandoverFlowTests {
    static func decision(_ action: String, intent: String, reply: String? = nil) -> String {
        JSONValue.object([
            "intent": .string(intent), "confidence": 95, "entities": [:], "next_action": .string(action), "steps": [],
            "clarification_question": nil, "reply": reply.map(JSONValue.string) ?? .null, "explain": "scripted",
        ]).serializedString()
    }

    @Test func aCustomerGetsAHumanAndBackTheAI() async throws {
        try await withLLMFixtureServer { fixture in
            let environment = [
                "SWITCHBOARD_LLM_BASE_URL": fixture.openAIBaseURL, "SWITCHBOARD_LLM_MODEL": "fixture-model",
                "SWITCHBOARD_HIL_AGENTS": Platform.repoRoot.appendingPathComponent("deploy/agents.yaml").path,
            ]
            try await Platform.with("handover", environment: environment) { p in
                func hil(_ path: String, _ body: String) async throws -> Platform.Reply { try await p.request("POST", path, body: body, service: "hilqueue") }

                // 1. The customer asks for a person: honoured as said (no model call), handed over.
                let asked = try await p.post("ho-1", #"{"customer_id":"cus_1001","text":"I want to talk to a human please"}"#)
                #expect(asked.json["reply"]?["text"] == "Of course. I'm passing you to a member of our team, who will pick this up shortly.")
                let queued = try await p.eventually("the conversation in the queue") {
                    try await p.get("/v1/hil/queue", service: "hilqueue").json["conversations"]?.arrayValue?.first { $0["conversation_id"] == "ho-1" }
                }
                #expect(queued["phase"] == "pending_human" && queued["queue"] == "general" && queued["reason"] == "customer_request")
                let brief = queued["summary"]?.stringValue ?? ""
                #expect(brief.hasPrefix("Customer wants: \"I want to talk to a human please\"\nAI did: no tool calls\nStopped because: the customer asked for a person"), "\(brief)")
                #expect(fixture.requests(for: .openAIChatCompletions).isEmpty, "an explicit request needs no model")

                let stream = try SSEClient(url: p.stack.gatewayURL, path: "/v1/conversations/ho-1/stream", token: p.token)
                defer { stream.close() }
                let history = try await stream.wait { $0.count >= 2 }
                #expect(stream.responseHead.lowercased().contains("content-type: text/event-stream"))
                #expect(history.map { try? JSONValue.parse(Array($0.data.utf8))["role"] } == ["customer", "assistant"])

                // 2. An agent comes online and claims it; an offline one cannot.
                #expect(try await hil("/v1/hil/claim", #"{"agent_id":"agent_bo"}"#).status == 409)
                #expect(try await hil("/v1/hil/agents/agent_ana/status", #"{"status":"online"}"#).status == 200)
                let claim = try await hil("/v1/hil/claim", #"{"agent_id":"agent_ana"}"#)
                #expect(claim.status == 200 && claim.json["conversation_id"] == "ho-1", "\(claim.json)")
                #expect(try await hil("/v1/hil/claim", #"{"agent_id":"agent_ana"}"#).status == 204, "nothing else waits")

                // 3. While the human has it, the AI does not answer the customer.
                let meanwhile = try await p.post("ho-1", #"{"customer_id":"cus_1001","text":"Hello? Is someone there?"}"#, wait: 2)
                #expect(meanwhile.status == 202)
                let waitingTurn = try #require(meanwhile.json["turn_id"]?.stringValue)

                // 4. The agent replies (the customer sees it live) and leaves a note (they do not).
                let reply = try await hil("/v1/hil/conversations/ho-1/reply", #"{"agent_id":"agent_ana","text":"Hi, this is Ana. I've refunded the delivery fee for you."}"#)
                #expect(reply.status == 200 && reply.json["event_type"] == "AgentReplied", "\(reply.json)")
                #expect(try await hil("/v1/hil/conversations/ho-1/notes", #"{"agent_id":"agent_ana","text":"Customer is upset about delays; goodwill given."}"#).status == 200)
                #expect(try await hil("/v1/hil/conversations/ho-1/reply", #"{"agent_id":"agent_bo","text":"me too"}"#).status == 409, "only the holder")
                let live = try await stream.wait { $0.count >= 4 }
                let agentMessage = try JSONValue.parse(Array(live[3].data.utf8))
                #expect(agentMessage["role"] == "agent" && agentMessage["agent_id"] == "agent_ana")
                #expect(agentMessage["text"] == "Hi, this is Ana. I've refunded the delivery fee for you.")
                #expect(live[2].data.contains("Is someone there?"), "the customer's own message, from another device's view")
                #expect(!live.contains { $0.data.contains("goodwill") }, "an internal note never reaches the customer")

                // 5. A reconnect from the second event, to another gateway replica, gets exactly the
                //    ones after it.
                let gateway2 = try p.startReplica("gateway")
                defer { gateway2.stop() }
                _ = try await p.eventually("the second gateway") { () -> Bool? in
                    (try? await p.http.execute(HTTPRequest(url: gateway2.url + "/ready", timeout: .seconds(2))).status) == 200 ? true : nil
                }
                let resumed = try SSEClient(url: gateway2.url, path: "/v1/conversations/ho-1/stream", lastEventID: live[1].id, token: p.token)
                defer { resumed.close() }
                let after = try await resumed.wait { $0.count >= 2 }
                try await Task.sleep(for: .milliseconds(300))
                #expect(resumed.events.map(\.id) == live[2...].map(\.id), "nothing missed, nothing repeated")
                #expect(after.count == 2)

                // 6. Back to the AI, with a note; the AI answers the next message with the human's turns.
                let back = try await hil("/v1/hil/conversations/ho-1/back-to-ai", #"{"agent_id":"agent_ana","note":"Delivery fee refunded; the customer may ask when the order arrives."}"#)
                #expect(back.status == 200 && back.json["phase"] == "back_to_ai")
                let late = try await hil("/v1/hil/conversations/ho-1/reply", #"{"agent_id":"agent_ana","text":"one more thing"}"#)
                #expect(late.status == 409 && late.json["type"]?.stringValue?.hasSuffix("illegal-transition") == true, "\(late.json)")
                try await p.eventually("the planner to see the hand-back") {
                    p.log.events(conversation: "ho-1").contains { $0.type == "HandedBackToAI" } ? true : nil
                }
                let before = fixture.requests(for: .openAIChatCompletions).count
                fixture.enqueue(.ok(content: Self.decision("respond", intent: "unknown", reply: "Glad that's sorted. Anything else I can help with?")), for: .openAIChatCompletions)
                let next = try await p.post("ho-1", #"{"customer_id":"cus_1001","text":"Thanks! One more question."}"#, wait: 20)
                #expect(next.json["reply"]?["text"] == "Glad that's sorted. Anything else I can help with?", "\(next.json)")
                let prompt = try #require(fixture.requests(for: .openAIChatCompletions).dropFirst(before).first?.json?["messages"]?.serializedString())
                #expect(prompt.contains("Hi, this is Ana. I've refunded the delivery fee for you."), "the human's reply is in the AI's context")
                #expect(prompt.contains("Delivery fee refunded; the customer may ask when the order arrives."), "and the hand-back note")
                #expect(prompt.contains("Is someone there?"), "and what the customer said to the human")
                #expect(!prompt.contains("goodwill"), "never the internal note")

                // The AI made no decision for the message the human had.
                let events = p.log.events(conversation: "ho-1")
                #expect(!events.contains { $0.type == "DecisionMade" && $0.correlationID.lowercaseString == waitingTurn })
                #expect(events.map(\.type).filter { ["HandoverRequested", "HandoverQueued", "HandoverClaimed", "AgentReplied", "InternalNoteAdded", "HandedBackToAI"].contains($0) }
                    == ["HandoverRequested", "HandoverQueued", "HandoverClaimed", "AgentReplied", "InternalNoteAdded", "HandedBackToAI"])

                // Both read models agree on where the conversation stands.
                let gatewayView = try await p.eventually("the gateway's phase") { () -> JSONValue? in
                    let json = try await p.get("/v1/conversations/ho-1").json
                    return json["phase"] == "finished" ? json : Optional<JSONValue>.none
                }
                #expect(gatewayView["messages"]?.arrayValue?.contains { $0["role"] == "agent" && $0["agent_id"] == "agent_ana" } == true, "\(gatewayView)")
                let inbox = try await p.get("/v1/hil/conversations/ho-1", service: "hilqueue").json
                #expect(inbox["phase"] == "back_to_ai", "the human side ends where the human left it")
                #expect(inbox["customer_id"] == "cus_1001")
                #expect(inbox["transcript"]?.arrayValue?.map { $0["role"] } == ["customer", "assistant", "customer", "agent", "note", "customer", "assistant"])

                // Rebuilt from the log, the queue's and the gateway's read models equal the live ones.
                let verify = try runCLI(p, ["projections", "verify"])
                #expect(verify.status == 0, "\(verify.stdout)\n\(verify.stderr)")
                #expect(verify.stdout.contains("hilqueue.conversations\t") && verify.stdout.contains("hilqueue.notes\t"), "\(verify.stdout)")

                // The pack's handover policy, in the planner process: a model answer under the
                // confidence floor, and an unsure cancellation (a policy rule), go to a person.
                func clarify(_ intent: String, confidence: Int) -> String {
                    JSONValue.object([
                        "intent": .string(intent), "confidence": .number(Double(confidence)), "entities": [:], "next_action": "clarify", "steps": [],
                        "clarification_question": "Which order is it?", "reply": nil, "explain": "scripted",
                    ]).serializedString()
                }
                fixture.enqueue(.ok(content: Self.decision("respond", intent: "unknown", reply: "Probably fine.").replacingOccurrences(of: #""confidence":95"#, with: #""confidence":20"#)), for: .openAIChatCompletions)
                let unsure = try await p.post("ho-2", #"{"customer_id":"cus_1001","text":"Is my parcel insured?"}"#, wait: 20)
                #expect(unsure.json["reply"]?["text"] == "I'm passing you to a member of our team, who will pick this up shortly.", "\(unsure.json)")
                fixture.enqueue(.ok(content: clarify("cancel_order", confidence: 50)), for: .openAIChatCompletions)
                _ = try await p.post("ho-3", #"{"customer_id":"cus_1001","text":"Cancel it"}"#, wait: 20)
                let reasons = try ["ho-2", "ho-3"].map { conversation in
                    try p.log.events(conversation: conversation).first { $0.type == "HandoverRequested" }.map { try $0.decode(HandoverRequested.self).reason }
                }
                #expect(reasons == [.lowConfidence, .policyRule])
            }
        }
    }

    /// 20 claimers (10 agents, twice each) at once against 5 waiting conversations, half
    /// through a second HILQueue process: each conversation claimed exactly once, no agent over
    /// its capacity of one, and the claims counted on /metrics.
    @Test func concurrentClaimsAcrossTwoHILQueueProcesses() async throws {
        try await Platform.with("claims") { p in
            let second = try p.startReplica("hilqueue")
            defer { second.stop() }
            let replicas = [p.stack.url(of: "hilqueue"), second.url]
            _ = try await p.eventually("the second replica") { () -> Bool? in
                (try? await p.http.execute(HTTPRequest(url: replicas[1] + "/ready", timeout: .seconds(2))).status) == 200 ? true : nil
            }

            let agents = (1...10).map { "agent_\($0)" }
            for agent in agents {
                let saved = try await p.request("PUT", "/v1/hil/agents/\(agent)", body: #"{"name":"Agent","skills":["general"],"capacity":1,"status":"online"}"#, service: "hilqueue")
                #expect(saved.status == 200, "\(saved.json)")
            }
            for index in 1...5 {
                _ = try await p.post("claim-\(index)", #"{"customer_id":"cus_1001","text":"I want to talk to a person"}"#)
            }
            _ = try await p.eventually("five conversations waiting") { () -> Int? in
                let waiting = try await p.get("/v1/hil/queue", service: "hilqueue").json["conversations"]?.arrayValue?.count ?? 0
                return waiting == 5 ? waiting : nil
            }
            _ = try await p.eventually("the queue's depth on /metrics") { () -> Bool? in
                let metrics = String(decoding: try await p.http.execute(HTTPRequest(url: replicas[0] + "/metrics", timeout: .seconds(5))).body, as: UTF8.self)
                return metrics.contains(#"switchboard_hil_queue_depth{queue="general"} 5"#) ? true : nil
            }
            let http = p.http
            let outcomes = try await withThrowingTaskGroup(of: (String, Int, JSONValue).self) { group in
                for (index, agent) in (agents + agents).enumerated() {
                    group.addTask {
                        let response = try await http.execute(HTTPRequest(
                            method: "POST", url: replicas[index % 2] + "/v1/hil/claim", headers: p.authorized(["content-type": "application/json"]),
                            body: Array(#"{"agent_id":"\#(agent)"}"#.utf8), timeout: .seconds(10)))
                        return (agent, response.status, (try? JSONValue.parse(response.body)) ?? .null)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let claimed = outcomes.filter { $0.1 == 200 }
            #expect(claimed.count == 5, "\(outcomes.map { "\($0.0): \($0.1)" })")
            #expect(Set(claimed.compactMap { $0.2["conversation_id"]?.stringValue }) == Set((1...5).map { "claim-\($0)" }), "each conversation once")
            #expect(Set(claimed.map(\.0)).count == claimed.count, "no agent over its capacity of one")
            #expect(outcomes.allSatisfy { [200, 204, 409].contains($0.1) })
            let claimEvents = (1...5).flatMap { p.log.events(conversation: "claim-\($0)") }.filter { $0.type == "HandoverClaimed" }
            #expect(claimEvents.count == 5)
            #expect(Set(claimEvents.map(\.producer)).count == 2, "both replicas claimed: \(Set(claimEvents.map(\.producer)))")

            var metrics = ""
            for replica in replicas {
                metrics += String(decoding: try await p.http.execute(HTTPRequest(url: replica + "/metrics", timeout: .seconds(5))).body, as: UTF8.self)
            }
            let counted = metrics.split(separator: "\n").filter { $0.hasPrefix("switchboard_hil_claims_total") }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            #expect(counted.reduce(0, +) == 5, "claims on /metrics: \(counted)")
            #expect(metrics.contains("switchboard_hil_wait_seconds"), "wait time on /metrics")
        }
    }
}
