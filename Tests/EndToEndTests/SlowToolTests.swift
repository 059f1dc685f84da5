import Events
import Foundation
import HTTPClient
import JSON
import Logging
import Testing
import UpstreamFixture

/// A tool slower than its timeout, with retries that would add up to far more than the turn's
/// wall-time budget: the turn ends with the pack's graceful message within the budget, instead
/// of the customer waiting on retry after retry.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SlowToolTests {
    /// The retail pack with get_order_status bound to the upstream fixture instead of Postgres.
    static func packWithHTTPOrderStatus(_ http: String) throws -> String {
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let changed = retail.replacingOccurrences(of: """
              get_order_status:
                description: Look up an order's status, carrier, tracking number and expected delivery.
                risk_tier: read
                binding: native
                timeout_ms: 2000
            """, with: """
              get_order_status:
                description: Look up an order's status, carrier, tracking number and expected delivery.
                risk_tier: read
            """ + "\n" + http.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        #expect(changed != retail)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pack-\(UUID().uuidString).yaml").path
        try changed.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The tool's circuit breaker opens after two failures; from then on the customer is told
    /// the system is unavailable, with what the knowledge base says, without a call or a handover.
    @Test func anOpenBreakerAnswersFromKnowledgeAndTellsTheCustomer() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        let path = try Self.packWithHTTPOrderStatus("""
            binding: http
            timeout_ms: 2000
            circuit_breaker: { failures: 2, cool_down_ms: 600000 }
            http: { method: GET, url: '\(upstream.url("/down/orders/{order_id}"))' }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Platform.with("breaker", pack: path) { p in
            let ingest = try runCLI(p, ["kb", "ingest", Platform.repoRoot.appendingPathComponent("deploy/knowledge/retail").path])
            #expect(ingest.status == 0, "\(ingest.stderr)")
            for conversation in ["br-1", "br-2"] {
                let failed = try await p.post(conversation, #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
                #expect(failed.json["reply"]?["text"]?.stringValue?.hasPrefix("Our order system isn't answering right now.") == true, "\(failed.json)")
            }
            let open = try await p.post("br-3", #"{"customer_id":"cus_1001","text":"Where is my order ABC123? Is there tracking for shipping?"}"#)
            let text = try #require(open.json["reply"]?["text"]?.stringValue)
            #expect(text.hasPrefix("I can't reach the system I need for that right now"), "\(text)")
            let events = p.log.events(conversation: "br-3")
            #expect(try events.first { $0.type == "StepFailed" }?.decode(StepFailed.self).errorCode == "circuit_open")
            #expect(!events.contains { $0.type == "HandoverRequested" }, "no person is asked to look it up during an outage")
            let client = HTTPClient(logger: Logger(label: "breaker-test"))
            #expect(try await upstream.log(client).count == 2, "the open breaker sends nothing")
            await client.shutdown()
            // The executor exports the breaker's state (2: open) and the transition, for the
            // SwitchboardCircuitOpen alert.
            let metrics = String(decoding: try await p.http.execute(.init(url: p.stack.url(of: "executor") + "/metrics")).body, as: UTF8.self)
            let breakerLines = metrics.split(separator: "\n").filter { $0.hasPrefix("switchboard_circuit_breaker_") && $0.contains("get_order_status") }
            #expect(breakerLines.contains(#"switchboard_circuit_breaker_state{kind="tool",key="get_order_status"} 2.0"#), "\(breakerLines)")
            #expect(breakerLines.contains(#"switchboard_circuit_breaker_transitions_total{kind="tool",key="get_order_status",to="open"} 1"#), "\(breakerLines)")
        }
    }

    /// An upstream that refuses the request as given (404): the customer is asked to check the
    /// details, not handed over.
    @Test func aRefusedRequestAsksTheCustomerToCheck() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        let path = try Self.packWithHTTPOrderStatus("""
            binding: http
            timeout_ms: 2000
            http: { method: GET, url: '\(upstream.url("/notfound/orders/{order_id}"))' }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Platform.with("refused", pack: path) { p in
            let reply = try await p.post("nf-1", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
            #expect(reply.json["reply"]?["text"] == "I couldn't do that with the details given. Could you check them and try again?")
            let events = p.log.events(conversation: "nf-1")
            #expect(try events.first { $0.type == "StepFailed" }?.decode(StepFailed.self).errorCode == "rejected_request")
            #expect(!events.contains { $0.type == "HandoverRequested" })

            // The third turn in a row that could not help goes to a person (the pack's
            // consecutive_errors), with a brief of the conversation for them.
            let second = try await p.post("nf-1", #"{"customer_id":"cus_1001","text":"Then where is my order DEF456?"}"#)
            #expect(second.json["reply"]?["text"] == "I couldn't do that with the details given. Could you check them and try again?")
            let third = try await p.post("nf-1", #"{"customer_id":"cus_1001","text":"Where is my order GHI789?"}"#)
            #expect(third.json["reply"]?["text"] == "I'm passing you to a member of our team, who will pick this up shortly.", "\(third.json)")
            let handover = try #require(p.log.events(conversation: "nf-1").first { $0.type == "HandoverRequested" }).decode(HandoverRequested.self)
            #expect(handover.reason == .repeatedErrors)
            #expect(handover.summary.hasPrefix("Customer wants: order_status — \"Where is my order GHI789?\""), "\(handover.summary)")
            #expect(handover.summary.contains("Facts: order_id=GHI789 (customer)"), "\(handover.summary)")
            #expect(handover.summary.contains("AI did: get_order_status({\"order_id\":\"GHI789\"}) → not completed"), "\(handover.summary)")
            #expect(handover.summary.contains("Stopped because: several turns in a row could not help — 3 turns in a row could not help"), "\(handover.summary)")
        }
    }

    /// A request for something the shop does not offer: a polite denial citing the document.
    @Test func aFeatureTheShopDoesNotOfferIsDeclinedCitingTheKnowledgeBase() async throws {
        try await Platform.with("not_offered") { p in
            let ingest = try runCLI(p, ["kb", "ingest", Platform.repoRoot.appendingPathComponent("deploy/knowledge/retail").path])
            #expect(ingest.status == 0, "\(ingest.stderr)")
            _ = try await p.eventually("the knowledge index") { () -> Bool? in
                let rows = try await p.pool.query("SELECT count(*)::bigint AS n FROM knowledge.documents WHERE NOT deleted")
                return try rows.first(where: { _ in true })?.decode("n", as: Int64.self) ?? 0 >= 5 ? true : nil
            }
            let reply = try await p.post("gift", #"{"customer_id":"cus_1001","text":"Do you offer gift wrapping?"}"#)
            let text = try #require(reply.json["reply"]?["text"]?.stringValue)
            #expect(text.hasPrefix("According to What we offer, and what we don't:") && text.contains("do not offer gift wrapping"), "\(text)")
            let events = p.log.events(conversation: "gift")
            #expect(try events.first { $0.type == "DecisionMade" }?.decode(DecisionMade.self).intent == "knowledge_answer")
            #expect(!events.contains { $0.type == "HandoverRequested" })
        }
    }

    @Test func aSlowToolEndsTheTurnGracefullyWithinItsWallTime() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        // get_order_status bound to an upstream that answers after 2 s, with a 1.5 s timeout and
        // ten attempts: 15 s of trying, against the pack's 8 s.
        let path = try Self.packWithHTTPOrderStatus("""
            binding: http
            timeout_ms: 1500
            retries: { attempts: 10, base_delay_ms: 10, max_delay_ms: 20 }
            http: { method: GET, url: '\(upstream.url("/slow/orders/{order_id}"))' }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }

        try await Platform.with("slow_tool", pack: path) { p in
            let reply = try await p.post("slow-1", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 20)
            #expect(reply.status == 200)
            #expect(reply.json["reply"]?["text"]?.stringValue?.hasPrefix("Our order system isn't answering right now.") == true, "\(reply.json)")
            let events = p.log.events(conversation: "slow-1")
            let failed = try #require(events.first { $0.type == "ToolFailed" }).decode(ToolFailed.self)
            #expect(failed.error.code == "timeout")
            let plan = try #require(events.first { $0.type == "PlanProposed" }).decode(PlanProposed.self)
            let deadline = try #require(plan.deadlineMillis)
            let planned = try #require(events.first { $0.type == "PlanProposed" }).occurredAtMillis
            #expect(deadline - planned <= 8000, "the pack's wall time")
            let failedAt = try #require(events.first { $0.type == "ToolFailed" }).occurredAtMillis
            #expect(failedAt <= deadline + 1000, "the executor stopped at the turn's deadline, not after ten attempts")
            let client = HTTPClient(logger: Logger(label: "slow-tool-test"))
            let attempts = try await upstream.log(client).count
            await client.shutdown()
            #expect((2...6).contains(attempts), "about 8 s of 1.5 s attempts, not 10: \(attempts)")
            #expect(events.contains { $0.type == "HandoverRequested" }, "a person follows up")
        }
    }
}
