import DevStack
import EventBus
import Events
import Foundation
import HTTPClient
import JSON
import Kafka
import Logging
import Postgres
import Testing
import UpstreamFixture

/// An approved write delivered three times, with the executor killed (-9) in the middle of the
/// effect and restarted: exactly one effect, in the system of record (one refund row) and at an
/// HTTP upstream (every request for the step carries one Idempotency-Key).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ExactlyOnceTests {
    static func publish(_ events: [EventEnvelope], _ p: Platform) async throws {
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!, clientID: "e2e-inject"), logger: Logger(label: "e2e.inject"))
        let publisher = EventPublisher(producer: producer, topic: "switchboard.conversations.v1")
        for event in events { _ = try await publisher.publish(event) }
        await producer.close()
    }

    static func approved(_ tool: String, _ args: JSONValue, conversation: String) throws -> EventEnvelope {
        try EventEnvelope.start(
            StepApproved(planID: UUID(), stepID: UUID(), tool: tool, args: args, riskTier: .highRiskWrite),
            conversationID: conversation, tenantID: "default", producer: "verifier@e2e")
    }

    /// One turn answered: the executor has joined its group and seeded the demo orders. Waits
    /// longer than a held request does, because a loaded machine can start slowly.
    static func warm(_ p: Platform) async throws {
        let accepted = try await p.post("eo-warm", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
        #expect([200, 202].contains(accepted.status))
        _ = try await p.eventually("the warm-up turn's answer", timeout: .seconds(60)) { try p.deliveredReplies("eo-warm").first }
    }

    static func restartExecutor(_ p: Platform) async throws {
        let executor = try #require(p.stack.process("executor"))
        await executor.killHard()
        #expect(!executor.isRunning)
        try p.stack.startService("executor")
        try await p.stack.waitUntilReady("executor")
    }

    @Test func aNativeRefundKilledMidEffectAndRedeliveredHappensOnce() async throws {
        try await Platform.with("exactly_once") { p in
            // Warm: the executor has joined its group and seeded the demo orders.
            try await Self.warm(p)

            // Hold the order's row, so the refund's transaction stops inside the effect.
            let blocker = try PostgresConnection.connect(url: p.databaseURL)
            try blocker.execute(simple: "BEGIN")
            try blocker.query("SELECT 1 FROM commerce.orders WHERE tenant_id = 'default' AND order_id = 'DEF456' FOR UPDATE")

            let step = try Self.approved("create_refund", ["order_id": "DEF456", "amount": 30, "reason": "late"], conversation: "eo-native")
            try await Self.publish([step, step, step], p)
            _ = try await p.eventually("the executor waiting on the order's row") { () -> Bool? in
                let rows = try await p.pool.query("""
                    SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'switchboard-executor' AND wait_event_type = 'Lock'
                    """)
                return try rows.first(where: { _ in true })?.decode("n", as: Int.self) ?? 0 > 0 ? true : nil
            }

            let executor = try #require(p.stack.process("executor"))
            await executor.killHard()
            try blocker.execute(simple: "ROLLBACK")
            blocker.close()
            try p.stack.startService("executor")
            try await p.stack.waitUntilReady("executor")

            let succeeded = try await p.eventually("the refund's result", timeout: .seconds(60)) { () -> [EventEnvelope]? in
                let events = p.log.events(conversation: "eo-native").filter { $0.type == "ToolSucceeded" }
                return events.isEmpty ? nil : events
            }
            try await Task.sleep(for: .seconds(1))
            let rows = try await p.pool.query("SELECT count(*)::int AS n, sum(amount_cents)::bigint AS cents FROM commerce.refunds WHERE tenant_id = 'default' AND order_id = 'DEF456'")
            let row = try #require(rows.first(where: { _ in true }))
            #expect(try row.decode("n", as: Int.self) == 1, "three deliveries and a kill mid-effect: one refund")
            #expect(try row.decode("cents", as: Int64.self) == 3000)
            #expect(Set(succeeded.map(\.id)).count == 1, "every delivery answered with the one recorded result")
            let refunded = try #require(try await p.pool.query("SELECT refunded_cents FROM commerce.orders WHERE tenant_id = 'default' AND order_id = 'DEF456'").first(where: { _ in true }))
            #expect(try refunded.decode("refunded_cents", as: Int64.self) == 3000)
        }
    }

    @Test func anHTTPWriteKilledMidCallIsRepeatedWithTheSameIdempotencyKey() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let pack = retail.replacingOccurrences(of: "\ntools:\n", with: """

            tools:
              issue_voucher:
                description: Issues a voucher at the shop's voucher service.
                risk_tier: 2
                binding: http
                timeout_ms: 5000
                http: { method: POST, url: '\(upstream.url("/slow/vouchers"))' }
                input_schema: { type: object, required: [amount], properties: { amount: { type: number } } }
                output_schema: { type: object }

            """)
        #expect(pack != retail)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("voucher-\(UUID().uuidString).yaml").path
        try pack.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }

        try await Platform.with("exactly_once_http", pack: path) { p in
            try await Self.warm(p)
            let client = HTTPClient(logger: Logger(label: "eo-http"))
            defer { Task { await client.shutdown() } }
            let step = try Self.approved("issue_voucher", ["amount": 10], conversation: "eo-http")
            let stepKey = try step.decode(StepApproved.self).stepID.lowercaseString
            try await Self.publish([step, step, step], p)
            // The upstream holds the request for 2 s: kill the executor while it waits.
            _ = try await p.eventually("the call in flight") { try await upstream.log(client).isEmpty ? nil : true }
            try await Self.restartExecutor(p)

            let succeeded = try await p.eventually("the voucher's result", timeout: .seconds(60)) { () -> [EventEnvelope]? in
                let events = p.log.events(conversation: "eo-http").filter { $0.type == "ToolSucceeded" }
                return events.isEmpty ? nil : events
            }
            try await Task.sleep(for: .seconds(1))
            let requests = try await upstream.log(client)
            #expect(requests.count >= 1 && requests.count <= 2, "the call in flight when killed, and one after the restart: \(requests)")
            #expect(Set(requests.map(\.key)) == [stepKey], "every request carries the step's id, so the upstream applies it once")
            #expect(Set(succeeded.map(\.id)).count == 1, "one recorded result for three deliveries")
        }
    }
}
