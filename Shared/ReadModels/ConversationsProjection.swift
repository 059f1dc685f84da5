import EventBus
import Events
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

    public init(schema: String = ReadModels.gateway.liveSchema) { self.schema = schema }

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

    /// Set-based: messages go in with one INSERT … ON CONFLICT DO NOTHING (whose RETURNING
    /// says which were new: a repeated event changes nothing); conversation rows are folded in
    /// memory in log order from the rows they had, then written with one upsert.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        let quotedSchema = try PostgresQuery.quotedIdentifier(schema)
        // 1. Message rows; the first occurrence of an id wins.
        var messageRows: [[String?]] = []
        var firstSeen = Set<UUID>()
        for logged in events {
            let (event, position) = (logged.event, logged.position)
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
        // Lower-case text: cheaper than parsing UUIDs back.
        let inserted = Set(try BulkWrite.upsert(
            schema: schema, table: "messages",
            columns: ["message_id uuid", "conversation_id", "turn_id uuid", "role", "kind", "text", "occurred_at timestamptz", "log_partition integer", "log_offset bigint"],
            conflict: ["message_id"], update: false, rows: messageRows, in: connection))

        // 2. Conversations: fold from their stored rows, in log order.
        struct Conversation {
            var tenant: String, customer: String, status: ConversationStatus, owner: ConversationOwner, turns: Int, first: Int64, last: Int64
        }
        let touched = Array(Set(events.map(\.event.conversationID)))
        var state: [String: Conversation] = [:]
        do {
            let rows = try BulkWrite.rows("""
                SELECT conversation_id, tenant_id, customer_id, status, owner, turn_count,
                       (extract(epoch FROM first_activity_at) * 1000)::bigint AS first_ms,
                       (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
                FROM \(quotedSchema).conversations WHERE conversation_id
                """, keys: touched, in: connection)
            for row in rows {
                state[try row.decode("conversation_id", as: String.self)] = Conversation(
                    tenant: try row.decode("tenant_id", as: String.self), customer: try row.decode("customer_id", as: String.self),
                    status: try .stored(try row.decode("status", as: String.self), column: "conversations.status"),
                    owner: try .stored(try row.decode("owner", as: String.self), column: "conversations.owner"),
                    turns: try row.decode("turn_count", as: Int.self), first: try row.decode("first_ms", as: Int64.self), last: try row.decode("last_ms", as: Int64.self)
                )
            }
        }
        var changed = Set<String>()
        var counted = Set<UUID>()
        for logged in events {
            let event = logged.event
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
                    state[id] = Conversation(tenant: event.tenantID, customer: message.customerID, status: .open, owner: .ai, turns: 1, first: at, last: at)
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
                conversation.status = .handedOver
                conversation.owner = .human
                conversation.last = max(conversation.last, at)
                state[id] = conversation
                changed.insert(id)
            default:
                continue
            }
        }
        guard !changed.isEmpty else { return }
        try BulkWrite.upsert(
            schema: schema, table: "conversations",
            columns: ["conversation_id", "tenant_id", "customer_id", "status", "owner", "turn_count integer", "first_activity_at timestamptz", "last_activity_at timestamptz"],
            conflict: ["conversation_id"], update: true,
            rows: changed.sorted().compactMap { id -> [String?]? in
                guard let c = state[id] else { return nil }
                return [id, c.tenant, c.customer, c.status.rawValue, c.owner.rawValue, String(c.turns), Timestamp.format(millis: c.first), Timestamp.format(millis: c.last)]
            }, in: connection)
    }
}
