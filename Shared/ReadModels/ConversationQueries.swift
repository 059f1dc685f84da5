public import Events
public import Foundation
public import Postgres

/// The reads of `conversations` and `messages` (ConversationsProjection), for any schema: the
/// live one, or a scratch schema a time-travel fold just wrote. The gateway and the CLI call
/// these instead of writing SQL against the tables.
///
/// Times are milliseconds since 1970: the projection writes them from `occurred_at`, which has
/// millisecond resolution, so `Timestamp.format(millis:)` gives back exactly what the events said.
public struct ConversationQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.gateway.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    public struct Conversation: Sendable, Hashable {
        public var conversationID: String
        public var tenantID: String
        public var customerID: String
        public var status: ConversationStatus
        public var owner: ConversationOwner
        /// Where it stands in the conversation state machine.
        public var phase: ConversationPhase
        public var turnCount: Int
        public var firstActivityMillis: Int64
        public var lastActivityMillis: Int64
    }

    public struct Message: Sendable, Hashable {
        public var messageID: UUID
        public var conversationID: String
        public var turnID: UUID
        /// `customer`, `assistant` or `agent` (a human agent).
        public var role: String
        /// The reply kind for assistant messages; nil for the others.
        public var kind: String?
        /// The human agent who wrote an `agent` message.
        public var agentID: String?
        public var text: String
        public var occurredAtMillis: Int64
        public var logPartition: Int
        public var logOffset: Int64
    }

    /// Filters of a conversation list; nil matches anything.
    public struct Filter: Sendable, Hashable {
        public var status: ConversationStatus?
        public var owner: ConversationOwner?
        public var customerID: String?
        public init(status: ConversationStatus? = nil, owner: ConversationOwner? = nil, customerID: String? = nil) {
            self.status = status
            self.owner = owner
            self.customerID = customerID
        }
    }

    /// Where a page ended: the last row's activity time and id (the list's sort key), so the
    /// next page starts after it even while conversations keep changing.
    public struct Position: Sendable, Hashable {
        public var lastActivityMillis: Int64
        public var conversationID: String
        public init(lastActivityMillis: Int64, conversationID: String) {
            self.lastActivityMillis = lastActivityMillis
            self.conversationID = conversationID
        }
    }

    public struct Page: Sendable, Hashable {
        public var conversations: [Conversation]
        /// Where the next page starts; nil when this page is the last.
        public var next: Position?
    }

    /// One conversation. `tenant` nil reads it whatever its tenant: only for operator tools
    /// (time travel), never for an API a tenant calls.
    public func conversation(_ id: String, tenant: String?) async throws -> Conversation? {
        let rows = try await pool.query("""
            SELECT conversation_id, tenant_id, customer_id, status, owner, phase, turn_count,
                   (extract(epoch FROM first_activity_at) * 1000)::bigint AS first_ms,
                   (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
            FROM \(identifier: schema).conversations
            WHERE conversation_id = \(id) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant))
            """)
        return try rows.first.map(Self.conversation)
    }

    /// A tenant's conversations, most recent activity first, `limit` at a time after `after`.
    public func list(tenant: String, filter: Filter = Filter(), after: Position? = nil, limit: Int) async throws -> Page {
        let afterTime = after.map { Date(timeIntervalSince1970: Double($0.lastActivityMillis) / 1000) }
        let afterID = after?.conversationID
        // One row more than asked for says whether another page follows.
        let rows = try await pool.query("""
            SELECT conversation_id, tenant_id, customer_id, status, owner, phase, turn_count,
                   (extract(epoch FROM first_activity_at) * 1000)::bigint AS first_ms,
                   (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
            FROM \(identifier: schema).conversations
            WHERE tenant_id = \(tenant)
              AND (\(filter.status?.rawValue)::text IS NULL OR status = \(filter.status?.rawValue))
              AND (\(filter.owner?.rawValue)::text IS NULL OR owner = \(filter.owner?.rawValue))
              AND (\(filter.customerID)::text IS NULL OR customer_id = \(filter.customerID))
              AND (\(afterTime)::timestamptz IS NULL OR (last_activity_at, conversation_id) < (\(afterTime), \(afterID)))
            ORDER BY last_activity_at DESC, conversation_id DESC
            LIMIT \(limit + 1)
            """)
        let conversations = try rows.prefix(limit).map(Self.conversation)
        let next = rows.count > limit ? conversations.last.map { Position(lastActivityMillis: $0.lastActivityMillis, conversationID: $0.conversationID) } : nil
        return Page(conversations: conversations, next: next)
    }

    /// Changes whenever a message arrives in one of the tenant's conversations with humans
    /// (read every second by live inboxes: the phases are literal so the partial index
    /// `conversations_with_humans` answers it, not a scan of every conversation).
    public func withHumansFingerprint(tenant: String) async throws -> String {
        let rows = try await pool.query("""
            SELECT coalesce(max(last_activity_at)::text, '') || '/' || count(*) AS fingerprint FROM \(identifier: schema).conversations
            WHERE tenant_id = \(tenant) AND phase IN ('handover', 'pending_human', 'human_active')
            """)
        return try rows.first.map { try $0.decode("fingerprint") } ?? ""
    }

    /// The conversation's messages in log order; only those after log offset `after` when
    /// given (a conversation lives in one partition, so its offsets order it).
    public func messages(conversation id: String, after: Int64? = nil) async throws -> [Message] {
        let rows = try await pool.query("""
            SELECT message_id, conversation_id, turn_id, role, kind, agent_id, text,
                   (extract(epoch FROM occurred_at) * 1000)::bigint AS occurred_ms, log_partition, log_offset
            FROM \(identifier: schema).messages WHERE conversation_id = \(id) AND log_offset > \(after ?? -1) ORDER BY log_offset
            """)
        return try rows.map(Self.message)
    }

    /// The turn's reply, if one was delivered (the first, should a turn ever have two).
    public func reply(turn: UUID) async throws -> Message? {
        let rows = try await pool.query("""
            SELECT message_id, conversation_id, turn_id, role, kind, agent_id, text,
                   (extract(epoch FROM occurred_at) * 1000)::bigint AS occurred_ms, log_partition, log_offset
            FROM \(identifier: schema).messages WHERE turn_id = \(turn) AND role = 'assistant' ORDER BY log_offset LIMIT 1
            """)
        return try rows.first.map(Self.message)
    }

    static func conversation(_ row: PostgresRow) throws -> Conversation {
        Conversation(
            conversationID: try row.decode("conversation_id"), tenantID: try row.decode("tenant_id"), customerID: try row.decode("customer_id"),
            status: try .stored(try row.decode("status"), column: "conversations.status"),
            owner: try .stored(try row.decode("owner"), column: "conversations.owner"),
            phase: try .stored(try row.decode("phase"), column: "conversations.phase"), turnCount: try row.decode("turn_count"),
            firstActivityMillis: try row.decode("first_ms"), lastActivityMillis: try row.decode("last_ms"))
    }

    static func message(_ row: PostgresRow) throws -> Message {
        Message(
            messageID: try row.decode("message_id"), conversationID: try row.decode("conversation_id"), turnID: try row.decode("turn_id"),
            role: try row.decode("role"), kind: try row.decode("kind"), agentID: try row.decode("agent_id"), text: try row.decode("text"),
            occurredAtMillis: try row.decode("occurred_ms"), logPartition: try row.decode("log_partition"), logOffset: try row.decode("log_offset"))
    }
}
