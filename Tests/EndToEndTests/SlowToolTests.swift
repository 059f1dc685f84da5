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
    @Test func aSlowToolEndsTheTurnGracefullyWithinItsWallTime() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        // get_order_status bound to an upstream that answers after 2 s, with a 1.5 s timeout and
        // ten attempts: 15 s of trying, against the pack's 8 s.
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let slow = retail.replacingOccurrences(of: """
              get_order_status:
                description: Look up an order's status, carrier, tracking number and expected delivery.
                risk_tier: read
                binding: native
                timeout_ms: 2000
            """, with: """
              get_order_status:
                description: Look up an order's status, carrier, tracking number and expected delivery.
                risk_tier: read
                binding: http
                timeout_ms: 1500
                retries: { attempts: 10, base_delay_ms: 10, max_delay_ms: 20 }
                http: { method: GET, url: '\(upstream.url("/slow/orders/{order_id}"))' }
            """)
        #expect(slow != retail)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("slow-\(UUID().uuidString).yaml").path
        try slow.write(toFile: path, atomically: true, encoding: .utf8)
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
