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
    /// 2: the conversation's phase (`ConversationPhase`) decides status and owner, so a handover
    /// starts on `HandoverRequested` here as everywhere; agents' replies are messages.
    public let version = 2
    public let tables = ["conversations", "messages", "erased_customers"]
    public let interestedIn: Set<String>? = ConversationPhase.eventTypes.union([CustomerErased.eventType])

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
        // (Version 3 is AuditProjection's: the two share the schema's history.)
        Migration(version: 4, name: "conversation_phase_agent_messages", sql: """
            ALTER TABLE conversations ADD COLUMN phase text NOT NULL DEFAULT 'new';
            ALTER TABLE conversations ADD COLUMN last_event_id uuid;
            -- Live inboxes read when a conversation with humans last changed, every second.
            CREATE INDEX conversations_with_humans ON conversations (tenant_id, last_activity_at)
                WHERE phase IN ('handover', 'pending_human', 'human_active');
            ALTER TABLE messages ADD COLUMN agent_id text;
            ALTER TABLE messages DROP CONSTRAINT messages_role_check;
            ALTER TABLE messages ADD CONSTRAINT messages_role_check CHECK (role IN ('customer', 'assistant', 'agent'));
            """),
        // (Version 5 is TurnKPIProjection's.)
        Migration(version: 6, name: "erased_customers", sql: """
            CREATE TABLE erased_customers (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                PRIMARY KEY (tenant_id, customer_id)
            );
            CREATE INDEX conversations_customer ON conversations (tenant_id, customer_id);
            """),
    ]

    /// What an erased customer's messages read as (their originals were sealed under the key
    /// erasure destroyed; the redacted clear text goes too).
    public static let erasedText = "[erased]"

    struct Conversation {
        var tenant: String, customer: String, phase: ConversationPhase, turns: Int, first: Int64, last: Int64, lastEvent: String?
    }

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
            let row: (UUID, String, String?, String, String?)
            switch event.type {
            case MessageReceived.eventType:
                row = (event.id, "customer", nil, try event.decode(MessageReceived.self).text, nil)
            case ReplyDelivered.eventType:
                let reply = try event.decode(ReplyDelivered.self)
                row = (reply.replyID, "assistant", reply.kind.rawValue, reply.text, nil)
            case AgentReplied.eventType:
                let reply = try event.decode(AgentReplied.self)
                row = (reply.messageID, "agent", nil, reply.text, reply.agentID)
            default:
                continue
            }
            guard firstSeen.insert(row.0).inserted else { continue }
            messageRows.append([
                row.0.lowercaseString, event.conversationID, event.correlationID.lowercaseString, row.1, row.2, row.3,
                Timestamp.format(millis: event.occurredAtMillis), String(position.partition), String(position.offset), row.4,
            ])
        }
        // Lower-case text: cheaper than parsing UUIDs back.
        let inserted = Set(try BulkWrite.upsert(
            schema: schema, table: "messages",
            columns: [
                "message_id uuid", "conversation_id", "turn_id uuid", "role", "kind", "text", "occurred_at timestamptz", "log_partition integer",
                "log_offset bigint", "agent_id",
            ],
            conflict: ["message_id"], update: false, rows: messageRows, in: connection))

        // 2. Conversations: fold from their stored rows, in log order, through the state machine.
        let touched = Array(Set(events.map(\.event.conversationID)))
        var state: [String: Conversation] = [:]
        do {
            let rows = try BulkWrite.rows("""
                SELECT conversation_id, tenant_id, customer_id, phase, turn_count, last_event_id::text AS last_event,
                       (extract(epoch FROM first_activity_at) * 1000)::bigint AS first_ms,
                       (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
                FROM \(quotedSchema).conversations WHERE conversation_id
                """, keys: touched, in: connection)
            for row in rows {
                state[try row.decode("conversation_id", as: String.self)] = Conversation(
                    tenant: try row.decode("tenant_id", as: String.self), customer: try row.decode("customer_id", as: String.self),
                    phase: try .stored(try row.decode("phase", as: String.self), column: "conversations.phase"),
                    turns: try row.decode("turn_count", as: Int.self), first: try row.decode("first_ms", as: Int64.self), last: try row.decode("last_ms", as: Int64.self),
                    lastEvent: try row.decode("last_event", as: String?.self)
                )
            }
        }
        var changed = Set<String>()
        var counted = Set<String>()
        for logged in events {
            let event = logged.event
            let id = event.conversationID
            let at = event.occurredAtMillis
            guard let transition = try ConversationPhase.transition(for: event) else { continue }
            // A repeated message or reply (same id) was not inserted above, or was counted
            // already in this batch: it changes nothing.
            let messageID: String?
            switch event.type {
            case MessageReceived.eventType: messageID = event.id.lowercaseString
            case ReplyDelivered.eventType: messageID = try event.decode(ReplyDelivered.self).replyID.lowercaseString
            case AgentReplied.eventType: messageID = try event.decode(AgentReplied.self).messageID.lowercaseString
            default: messageID = nil
            }
            if let messageID { guard inserted.contains(messageID), counted.insert(messageID).inserted else { continue } }
            var conversation: Conversation
            if let known = state[id] {
                conversation = known
            } else if event.type == MessageReceived.eventType {
                conversation = Conversation(
                    tenant: event.tenantID, customer: try event.decode(MessageReceived.self).customerID, phase: .new, turns: 0, first: at, last: at, lastEvent: nil)
            } else {
                continue
            }
            guard conversation.lastEvent != event.id.lowercaseString, let next = conversation.phase.applying(transition) else { continue }
            if event.type == MessageReceived.eventType { conversation.turns += 1 }
            conversation.phase = next
            conversation.lastEvent = event.id.lowercaseString
            conversation.last = max(conversation.last, at)
            state[id] = conversation
            changed.insert(id)
        }
        if !changed.isEmpty {
            try writeConversations(changed, state, in: connection)
        }

        // 3. Erasure (docs/SECURITY.md): a CustomerErased blanks every message of the customer's
        // conversations; messages of an erased customer that land later (from another partition,
        // or in a rebuild that reads the partitions in another order) are blanked as they land.
        let erased = try events.filter { $0.event.type == CustomerErased.eventType }.map { ($0.event.tenantID, try $0.event.decode(CustomerErased.self).customerID) }
        for (tenant, customer) in erased {
            try connection.query("INSERT INTO \(identifier: schema).erased_customers (tenant_id, customer_id) VALUES (\(tenant), \(customer)) ON CONFLICT DO NOTHING")
        }
        guard !erased.isEmpty || !inserted.isEmpty else { return }
        // Postgres array literal of the conversations to check (empty: all, after an erasure).
        let scope: String = "{" + (erased.isEmpty ? touched : []).map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
        let erasedText: String = Self.erasedText
        try connection.query("""
            UPDATE \(identifier: schema).messages m SET text = \(erasedText)
            FROM \(identifier: schema).conversations c
            JOIN \(identifier: schema).erased_customers e ON e.tenant_id = c.tenant_id AND e.customer_id = c.customer_id
            WHERE m.conversation_id = c.conversation_id AND m.text <> \(erasedText)
              AND (cardinality(\(scope)::text[]) = 0 OR c.conversation_id = ANY(\(scope)::text[]))
            """)
    }

    private func writeConversations(_ changed: Set<String>, _ state: [String: Conversation], in connection: PostgresConnection) throws {
        try BulkWrite.upsert(
            schema: schema, table: "conversations",
            columns: [
                "conversation_id", "tenant_id", "customer_id", "status", "owner", "phase", "turn_count integer", "first_activity_at timestamptz",
                "last_activity_at timestamptz", "last_event_id uuid",
            ],
            conflict: ["conversation_id"], update: true,
            rows: changed.sorted().compactMap { id -> [String?]? in
                guard let c = state[id] else { return nil }
                let (status, owner): (ConversationStatus, ConversationOwner) = c.phase.isWithHumans ? (.handedOver, .human) : (.open, .ai)
                return [
                    id, c.tenant, c.customer, status.rawValue, owner.rawValue, c.phase.rawValue, String(c.turns), Timestamp.format(millis: c.first),
                    Timestamp.format(millis: c.last), c.lastEvent,
                ]
            }, in: connection)
    }
}
