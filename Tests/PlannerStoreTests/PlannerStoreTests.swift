import DatabaseTestSupport
import Events
import Foundation
import Logging
@testable import PlannerApp
import Postgres
import Testing

/// `PlannerStore` against Postgres: the one-statement commit and the one-round-trip load.
@Suite("Planner store", .timeLimit(.minutes(1)))
struct PlannerStoreTests {
    static func event(_ conversation: String, type: String = MessageReceived.eventType, turn: UUID = UUID()) -> EventEnvelope {
        EventEnvelope(
            id: UUID(), type: type, version: 1, conversationID: conversation, tenantID: "t1",
            occurredAtMillis: EventEnvelope.nowMillis(), producer: "test", causationID: nil, correlationID: turn,
            traceparent: "00-00000000000000000000000000000001-0000000000000001-01", payload: [:])
    }

    static func episode(_ event: EventEnvelope, customer: String, outcome: String = "answered") -> PlannerStore.Episode {
        PlannerStore.Episode(
            tenant: event.tenantID, customer: customer, turnID: event.correlationID, conversationID: event.conversationID,
            request: "where is my order?", intent: "order_status", tools: ["get_order_status"], outcome: outcome, at: event.occurredAt)
    }

    /// A scratch database with the planner's schema; customer "c-yes" consented, "c-no" did not.
    static func withStore(_ body: (PlannerStore, PostgresPool) async throws -> Void) async throws {
        let database = try await ScratchDatabase.create("planner_store")
        let pool = PostgresPool(url: database.url, size: 2, logger: TestDB.logger)
        do {
            try await migrate(pool, schema: "planner", migrations: PlannerStore.migrations, logger: TestDB.logger)
            try await pool.query("""
                INSERT INTO planner.customer_consent (tenant_id, customer_id, granted, ttl_seconds, changed_at)
                VALUES ('t1', 'c-yes', true, 3600, now()), ('t1', 'c-no', false, 3600, now())
                """)
            try await body(PlannerStore(pool: pool), pool)
        } catch {
            await pool.close()
            try await database.drop()
            throw error
        }
        await pool.close()
        try await database.drop()
    }

    @Test("a commit stores state, plan and episode at once; the same event again changes nothing")
    func commitOnce() async throws {
        try await Self.withStore { store, pool throws in
            let message = Self.event("conv-1")
            var state = ConversationState()
            state.remember("customer", "where is my order?")
            let turn = PlanTurn.propose(after: message.id, turnID: message.correlationID, conversationID: "conv-1", intent: "order_status",
                                        steps: [BrainDecision.ProposedStep(tool: "get_order_status", args: ["order_id": "ABC123"], why: "asked")]).turn
            let before = try await store.load(message, plan: turn.planID)
            #expect(!before.processed && before.state == ConversationState() && before.turn == nil)

            #expect(try await store.commit(message, .init(state: state, turns: [turn], episode: Self.episode(message, customer: "c-yes"))))
            let after = try await store.load(message, plan: turn.planID)
            #expect(after.processed && after.state == state && after.turn == turn)
            #expect(try await pool.query("SELECT outcome FROM planner.episodes WHERE turn_id = \(message.correlationID)").map { try $0.decode("outcome", as: String.self) } == ["answered"])

            // Redelivered (or handled by another instance meanwhile): the first result stands.
            var other = state
            other.remember("customer", "something else")
            #expect(try await !store.commit(message, .init(state: other, turns: [], episode: Self.episode(message, customer: "c-yes", outcome: "changed"))))
            #expect(try await store.load(message).state == state)
            #expect(try await pool.query("SELECT outcome FROM planner.episodes WHERE turn_id = \(message.correlationID)").map { try $0.decode("outcome", as: String.self) } == ["answered"])
        }
    }

    @Test("episodes are kept only with consent, and a customer's expired episodes go with the next one")
    func episodesNeedConsentAndExpire() async throws {
        try await Self.withStore { store, pool throws in
            let refused = Self.event("conv-2")
            #expect(try await store.commit(refused, .init(state: ConversationState(), episode: Self.episode(refused, customer: "c-no"))))
            #expect(try await pool.query("SELECT 1 FROM planner.episodes WHERE customer_id = 'c-no'").isEmpty)

            let old = UUID()
            try await pool.query("""
                INSERT INTO planner.episodes (tenant_id, customer_id, turn_id, conversation_id, request, intent, tools, outcome, at, expires_at)
                VALUES ('t1', 'c-yes', \(old), 'conv-0', 'old', 'order_status', '', 'answered', now() - interval '2 hours', now() - interval '1 hour')
                """)
            let next = Self.event("conv-3")
            #expect(try await store.commit(next, .init(episode: Self.episode(next, customer: "c-yes"))))
            let turns = try await pool.query("SELECT turn_id FROM planner.episodes WHERE customer_id = 'c-yes'").map { try $0.decode("turn_id", as: UUID.self) }
            #expect(turns == [next.correlationID])
        }
    }

    @Test("a commit with customer memory writes the facts in the same transaction, once")
    func memory() async throws {
        try await Self.withStore { store, pool throws in
            let message = Self.event("conv-4")
            let memory = PlannerStore.MemoryWrite(tenant: "t1", customer: "c-yes", facts: ["city": "Pune"], at: message.occurredAt)
            #expect(try await store.commit(message, .init(state: ConversationState(), memory: memory)))
            let changed = PlannerStore.MemoryWrite(tenant: "t1", customer: "c-yes", facts: ["city": "Delhi"], at: message.occurredAt)
            #expect(try await !store.commit(message, .init(state: ConversationState(), memory: changed)))
            #expect(try await store.memory(tenant: "t1", customer: "c-yes").map(\.value) == ["Pune"])
        }
    }
}
