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
}
