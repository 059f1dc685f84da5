public import Events
public import Foundation
import JSON
public import Postgres
import Projections

/// The reads of HandoverProjection's tables (the human side of conversations), for the live
/// schema or a scratch one.
public struct HandoverQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.hilqueue.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    /// A conversation as the inbox shows it: its phase and its current (or last) handover.
    public struct Conversation: Sendable, Hashable {
        public var conversationID: String
        public var tenantID: String
        public var phase: ConversationPhase
        /// The turn whose `HandoverRequested` started the current (or last) handover.
        public var handoverID: UUID?
        public var reason: String?
        public var summary: String?
        public var skills: [String]
        /// Set once queued.
        public var queue: String?
        /// Set once queued; lower goes first (0: SLA breached).
        public var priority: Int?
        public var agentID: String?
        public var slaBreached: Bool
        public var requestedAtMillis: Int64?
        public var queuedAtMillis: Int64?
        public var claimedAtMillis: Int64?
        public var lastActivityMillis: Int64
    }

    /// An agent's internal note.
    public struct Note: Sendable, Hashable {
        public var noteID: UUID
        public var agentID: String
        public var text: String
        public var occurredAtMillis: Int64
        /// Where its event is on the log (the conversation's partition), to place it among the
        /// conversation's messages.
        public var logOffset: Int64
    }

    static let columns: StaticString = """
        conversation_id, tenant_id, phase, handover_id, reason, summary, skills::text AS skills, queue, priority, agent_id, sla_breached,
        (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms, (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms,
        (extract(epoch FROM claimed_at) * 1000)::bigint AS claimed_ms, (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
        """

    /// A tenant's conversations in `phases`, in the order humans should take them: SLA-critical
    /// first, then by priority (unqueued last), then oldest request first; only `queue`'s when
    /// given.
    public func queue(tenant: String, phases: [ConversationPhase], queue: String? = nil, limit: Int) async throws -> [Conversation] {
        let rows = try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).conversations
            WHERE tenant_id = \(tenant) AND phase = ANY(\(BulkWrite.arrayLiteral(phases.map(\.rawValue)))::text[]) AND (\(queue)::text IS NULL OR queue = \(queue))
            ORDER BY sla_breached DESC, priority NULLS LAST, requested_at LIMIT \(limit)
            """)
        return try rows.map(Self.conversation)
    }

    /// One conversation of the tenant (nil: none, or another tenant's).
    public func conversation(_ id: String, tenant: String) async throws -> Conversation? {
        let rows = try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).conversations WHERE conversation_id = \(id) AND tenant_id = \(tenant)
            """)
        return try rows.first(where: { _ in true }).map(Self.conversation)
    }

    /// The conversations an agent holds now.
    public func held(by agent: String, tenant: String) async throws -> [Conversation] {
        let rows = try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).conversations
            WHERE tenant_id = \(tenant) AND phase = 'human_active' AND agent_id = \(agent) ORDER BY claimed_at
            """)
        return try rows.map(Self.conversation)
    }

    /// A conversation's notes in log order.
    public func notes(_ id: String, limit: Int = 500) async throws -> [Note] {
        let rows = try await pool.query("""
            SELECT note_id, agent_id, text, (extract(epoch FROM occurred_at) * 1000)::bigint AS at_ms, log_offset
            FROM \(identifier: schema).notes WHERE conversation_id = \(id) ORDER BY log_offset LIMIT \(limit)
            """)
        return try rows.map { row in
            Note(noteID: try row.decode("note_id"), agentID: try row.decode("agent_id"), text: try row.decode("text"),
                 occurredAtMillis: try row.decode("at_ms"), logOffset: try row.decode("log_offset"))
        }
    }

    /// Changes whenever a tenant's queue or a conversation with humans changes, notes included
    /// (each moves `last_activity_at`), for live inboxes to know when to read again.
    public func fingerprint(tenant: String) async throws -> String {
        try await pool.query("""
            SELECT coalesce(max(last_activity_at)::text, '') || '/' || count(*) FILTER (WHERE phase = 'pending_human') || '/'
                   || count(*) FILTER (WHERE phase = 'human_active') AS fingerprint
            FROM \(identifier: schema).conversations WHERE tenant_id = \(tenant)
            """).first(where: { _ in true })?.decode("fingerprint") ?? ""
    }

    /// Conversations waiting for a human, per queue (for `/metrics`), over every tenant.
    public func depthByQueue() async throws -> [String: Int] {
        let rows = try await pool.query("""
            SELECT queue, count(*)::int AS n FROM \(identifier: schema).conversations WHERE phase = 'pending_human' GROUP BY queue
            """)
        var depth: [String: Int] = [:]
        for row in rows { depth[try row.decode("queue", as: String?.self) ?? "general"] = try row.decode("n") }
        return depth
    }

    static func conversation(_ row: PostgresRow) throws -> Conversation {
        Conversation(
            conversationID: try row.decode("conversation_id"), tenantID: try row.decode("tenant_id"),
            phase: try .stored(try row.decode("phase"), column: "conversations.phase"), handoverID: try row.decode("handover_id"),
            reason: try row.decode("reason"), summary: try row.decode("summary"),
            skills: try (try row.decode("skills", as: String?.self)).map(Self.skills) ?? [],
            queue: try row.decode("queue"), priority: try row.decode("priority"), agentID: try row.decode("agent_id"),
            slaBreached: try row.decode("sla_breached"), requestedAtMillis: try row.decode("requested_ms"), queuedAtMillis: try row.decode("queued_ms"),
            claimedAtMillis: try row.decode("claimed_ms"), lastActivityMillis: try row.decode("last_ms"))
    }

    /// The projection stores skills as a JSON array of strings.
    static func skills(_ text: String) throws -> [String] {
        guard case .array(let items) = try JSONValue.parse(Array(text.utf8)) else { throw PostgresDecodingFailure("conversations.skills is not a JSON array") }
        return try items.map { item in
            guard case .string(let skill) = item else { throw PostgresDecodingFailure("conversations.skills holds a non-string") }
            return skill
        }
    }
}
