public import Foundation
public import Postgres

/// The reads of `tickets`, `ticket_facts` and `ticket_decisions` (TicketsProjection), for the
/// live schema or a scratch one.
public struct TicketQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.cases.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    /// A conversation's case record.
    public struct Ticket: Sendable, Hashable {
        public var conversationID: String
        public var tenantID: String
        public var customerID: String
        public var status: TicketStatus
        public var intent: String?
        /// The planned tools, comma-separated, in plan order.
        public var workflow: String?
        public var openedAtMillis: Int64
        public var updatedAtMillis: Int64
        /// How many decisions the planner made in the conversation.
        public var decisionCount: Int
        /// In name order.
        public var facts: [Fact]
    }

    public struct Fact: Sendable, Hashable {
        public var name: String
        public var value: String
        /// `customer`, `tool` or `inferred`.
        public var provenance: String
        public var setByEvent: UUID
        public var setAtMillis: Int64
    }

    /// The conversation's ticket, nil until the planner opened one. `tenant` nil: any tenant,
    /// for operator tools only.
    public func ticket(conversation id: String, tenant: String?) async throws -> Ticket? {
        let rows = try await pool.query("""
            SELECT conversation_id, tenant_id, customer_id, status, intent, workflow,
                   (extract(epoch FROM opened_at) * 1000)::bigint AS opened_ms, (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms,
                   (SELECT count(*) FROM \(identifier: schema).ticket_decisions d WHERE d.conversation_id = t.conversation_id) AS decisions
            FROM \(identifier: schema).tickets t
            WHERE conversation_id = \(id) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant))
            """)
        guard let row = rows.first else { return nil }
        let facts = try await pool.query("""
            SELECT name, value, provenance, set_by_event, (extract(epoch FROM set_at) * 1000)::bigint AS set_ms
            FROM \(identifier: schema).ticket_facts WHERE conversation_id = \(id) ORDER BY name
            """)
        return Ticket(
            conversationID: try row.decode("conversation_id"), tenantID: try row.decode("tenant_id"), customerID: try row.decode("customer_id"),
            status: try .stored(try row.decode("status"), column: "tickets.status"), intent: try row.decode("intent"), workflow: try row.decode("workflow"),
            openedAtMillis: try row.decode("opened_ms"), updatedAtMillis: try row.decode("updated_ms"), decisionCount: try row.decode("decisions"),
            facts: try facts.map { fact in
                Fact(name: try fact.decode("name"), value: try fact.decode("value"), provenance: try fact.decode("provenance"),
                     setByEvent: try fact.decode("set_by_event"), setAtMillis: try fact.decode("set_ms"))
            })
    }
}
