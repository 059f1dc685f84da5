import EventBus
public import Events
import Foundation
public import Postgres
public import Projections

/// Conversations and their messages (owned by the gateway, schema `gateway`): a pure function
/// of the log (timestamps come from the events, never the clock), so a rebuild from offset 0
/// produces the same rows.
public struct ConversationsProjection: Projection {
    public let name = "gateway.conversations"
    public let schema: String
    public let version = 1
    public let tables = ["conversations", "messages"]
    public let interestedIn: Set<String>? = [MessageReceived.eventType, ReplyDelivered.eventType, HandoverQueued.eventType]

    public init(schema: String = "gateway") { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "conversations_messages", sql: """
            CREATE TABLE conversations (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                status text NOT NULL,
                owner text NOT NULL,
                turn_count integer NOT NULL,
                first_activity_at timestamptz NOT NULL,
                last_activity_at timestamptz NOT NULL
            );
            CREATE TABLE messages (
                message_id uuid PRIMARY KEY,
                conversation_id text NOT NULL,
                turn_id uuid NOT NULL,
                role text NOT NULL CHECK (role IN ('customer', 'assistant')),
                kind text,
                text text NOT NULL,
                occurred_at timestamptz NOT NULL,
                log_partition integer NOT NULL,
                log_offset bigint NOT NULL
            );
            CREATE INDEX messages_conversation ON messages (conversation_id, log_offset);
            CREATE INDEX messages_turn ON messages (turn_id);
            """),
    ]

    public func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws {
        let at = event.occurredAt
        switch event.type {
        case MessageReceived.eventType:
            let message = try event.decode(MessageReceived.self)
            let inserted = try connection.query("""
                INSERT INTO \(identifier: schema).messages (message_id, conversation_id, turn_id, role, kind, text, occurred_at, log_partition, log_offset)
                VALUES (\(event.id), \(event.conversationID), \(event.correlationID), 'customer', NULL, \(message.text), \(at), \(Int(position.partition)), \(position.offset))
                ON CONFLICT (message_id) DO NOTHING
                """)
            guard inserted.affectedRows == 1 else { return }
            try connection.query("""
                INSERT INTO \(identifier: schema).conversations (conversation_id, tenant_id, customer_id, status, owner, turn_count, first_activity_at, last_activity_at)
                VALUES (\(event.conversationID), \(event.tenantID), \(message.customerID), 'open', 'ai', 1, \(at), \(at))
                ON CONFLICT (conversation_id) DO UPDATE SET
                    turn_count = conversations.turn_count + 1,
                    last_activity_at = GREATEST(conversations.last_activity_at, EXCLUDED.last_activity_at)
                """)
        case ReplyDelivered.eventType:
            let reply = try event.decode(ReplyDelivered.self)
            let inserted = try connection.query("""
                INSERT INTO \(identifier: schema).messages (message_id, conversation_id, turn_id, role, kind, text, occurred_at, log_partition, log_offset)
                VALUES (\(reply.replyID), \(event.conversationID), \(event.correlationID), 'assistant', \(reply.kind.rawValue), \(reply.text), \(at), \(Int(position.partition)), \(position.offset))
                ON CONFLICT (message_id) DO NOTHING
                """)
            guard inserted.affectedRows == 1 else { return }
            try connection.query("UPDATE \(identifier: schema).conversations SET last_activity_at = GREATEST(last_activity_at, \(at)) WHERE conversation_id = \(event.conversationID)")
        case HandoverQueued.eventType:
            try connection.query("UPDATE \(identifier: schema).conversations SET status = 'handed_over', owner = 'human', last_activity_at = GREATEST(last_activity_at, \(at)) WHERE conversation_id = \(event.conversationID)")
        default:
            return
        }
    }

    /// Set-based: messages go in through COPY and one INSERT … ON CONFLICT DO NOTHING (whose
    /// RETURNING says which were new, as `apply` learns row by row); conversation rows are
    /// folded in memory in log order from the rows they had, then written with one upsert.
    public func applyBatch(_ events: [(EventEnvelope, LogPosition)], in connection: PostgresConnection) throws {
        let quotedSchema = try PostgresQuery.quotedIdentifier(schema)
        // 1. Message rows; the first occurrence of an id wins, as with one-by-one inserts.
        var messageRows: [[String?]] = []
        var firstSeen = Set<UUID>()
        for (event, position) in events {
            let row: (UUID, String, String?, String)
            switch event.type {
            case MessageReceived.eventType:
                row = (event.id, "customer", nil, try event.decode(MessageReceived.self).text)
            case ReplyDelivered.eventType:
                let reply = try event.decode(ReplyDelivered.self)
                row = (reply.replyID, "assistant", reply.kind.rawValue, reply.text)
            default:
                continue
            }
            guard firstSeen.insert(row.0).inserted else { continue }
            messageRows.append([
                row.0.lowercaseString, event.conversationID, event.correlationID.lowercaseString, row.1, row.2, row.3,
                Timestamp.format(millis: event.occurredAtMillis), String(position.partition), String(position.offset),
            ])
        }
        var inserted = Set<String>()  // lower-case text: cheaper than parsing UUIDs back
        if !messageRows.isEmpty {
            try connection.execute(simple: "CREATE TEMP TABLE IF NOT EXISTS batch_messages (LIKE \(quotedSchema).messages) ON COMMIT DELETE ROWS")
            _ = try connection.copyIn("COPY batch_messages FROM STDIN", rows: messageRows)
            for row in try connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(quotedSchema).messages SELECT * FROM batch_messages ON CONFLICT (message_id) DO NOTHING RETURNING message_id::text AS message_id")) {
                inserted.insert(try row.decode("message_id", as: String.self))
            }
        }

        // 2. Conversations: fold from their stored rows, in log order.
        struct Conversation {
            var tenant: String, customer: String, status: String, owner: String, turns: Int, first: Int64, last: Int64
        }
        let touched = Array(Set(events.map(\.0.conversationID)))
        var state: [String: Conversation] = [:]
        for chunk in stride(from: 0, to: touched.count, by: 1000).map({ Array(touched[$0..<min($0 + 1000, touched.count)]) }) {
            let placeholders = chunk.indices.map { "$\($0 + 1)" }.joined(separator: ",")
            let rows = try connection.query(PostgresQuery(unsafeSQL: """
                SELECT conversation_id, tenant_id, customer_id, status, owner, turn_count,
                       (extract(epoch FROM first_activity_at) * 1000)::bigint AS first_ms,
                       (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
                FROM \(quotedSchema).conversations WHERE conversation_id IN (\(placeholders))
                """, binds: chunk.map { PostgresValue($0) }))
            for row in rows {
                state[try row.decode("conversation_id", as: String.self)] = Conversation(
                    tenant: try row.decode("tenant_id", as: String.self), customer: try row.decode("customer_id", as: String.self),
                    status: try row.decode("status", as: String.self), owner: try row.decode("owner", as: String.self),
                    turns: try row.decode("turn_count", as: Int.self), first: try row.decode("first_ms", as: Int64.self), last: try row.decode("last_ms", as: Int64.self)
                )
            }
        }
        var changed = Set<String>()
        var counted = Set<UUID>()
        for (event, _) in events {
            let id = event.conversationID
            let at = event.occurredAtMillis
            switch event.type {
            case MessageReceived.eventType:
                guard inserted.contains(event.id.lowercaseString), counted.insert(event.id).inserted else { continue }
                if var conversation = state[id] {
                    conversation.turns += 1
                    conversation.last = max(conversation.last, at)
                    state[id] = conversation
                } else {
                    let message = try event.decode(MessageReceived.self)
                    state[id] = Conversation(tenant: event.tenantID, customer: message.customerID, status: "open", owner: "ai", turns: 1, first: at, last: at)
                }
                changed.insert(id)
            case ReplyDelivered.eventType:
                let replyID = try event.decode(ReplyDelivered.self).replyID
                guard inserted.contains(replyID.lowercaseString), counted.insert(replyID).inserted, var conversation = state[id] else { continue }
                conversation.last = max(conversation.last, at)
                state[id] = conversation
                changed.insert(id)
            case HandoverQueued.eventType:
                guard var conversation = state[id] else { continue }
                conversation.status = "handed_over"
                conversation.owner = "human"
                conversation.last = max(conversation.last, at)
                state[id] = conversation
                changed.insert(id)
            default:
                continue
            }
        }
        guard !changed.isEmpty else { return }
        try connection.execute(simple: "CREATE TEMP TABLE IF NOT EXISTS batch_conversations (LIKE \(quotedSchema).conversations) ON COMMIT DELETE ROWS")
        _ = try connection.copyIn("COPY batch_conversations FROM STDIN", rows: changed.map { id -> [String?] in
            let c = state[id]!
            return [id, c.tenant, c.customer, c.status, c.owner, String(c.turns), Timestamp.format(millis: c.first), Timestamp.format(millis: c.last)]
        })
        try connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO \(quotedSchema).conversations SELECT * FROM batch_conversations
            ON CONFLICT (conversation_id) DO UPDATE SET status = EXCLUDED.status, owner = EXCLUDED.owner,
                turn_count = EXCLUDED.turn_count, last_activity_at = EXCLUDED.last_activity_at
            """))
    }
}
