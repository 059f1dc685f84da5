import EventBus
public import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// Read model of the human side (schema `hilqueue`): every conversation's phase
/// (`ConversationPhase`, folded from the log with the same table HILQueue's commands are
/// checked against), its current or last handover (reason, summary, queue, priority, agent,
/// SLA), and its transcript as agents see it: the customer, the AI, agents' replies and their
/// internal notes.
public struct HandoverProjection: Projection {
    public let name = "hilqueue.handovers"
    public let schema: String
    /// 2: conversations and their transcript replace the per-turn `handovers` table.
    public let version = 2
    public let tables = ["conversations", "conversation_messages"]
    public let interestedIn: Set<String>? = ConversationPhase.eventTypes
    public init(schema: String = ReadModels.hilqueue.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "handovers", sql: """
            CREATE TABLE handovers (
                turn_id uuid PRIMARY KEY,
                conversation_id text NOT NULL,
                tenant_id text NOT NULL,
                reason text NOT NULL,
                summary text NOT NULL,
                skills jsonb NOT NULL,
                queue text,
                priority integer,
                status text NOT NULL,
                requested_at timestamptz NOT NULL,
                queued_at timestamptz
            );
            CREATE INDEX handovers_status ON handovers (status, priority, requested_at);
            """),
        // (Version 3 is ApprovalsProjection's: the two share the schema's history.)
        Migration(version: 4, name: "conversations_transcripts", sql: """
            DROP TABLE handovers;
            CREATE TABLE conversations (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                phase text NOT NULL,
                handover_id uuid,
                reason text,
                summary text,
                skills jsonb,
                queue text,
                priority integer,
                agent_id text,
                sla_breached boolean NOT NULL DEFAULT false,
                requested_at timestamptz,
                queued_at timestamptz,
                claimed_at timestamptz,
                last_event_id uuid,
                last_activity_at timestamptz NOT NULL
            );
            CREATE INDEX conversations_queue ON conversations (tenant_id, phase, sla_breached DESC, priority, requested_at);
            CREATE TABLE conversation_messages (
                message_id uuid PRIMARY KEY,
                conversation_id text NOT NULL,
                role text NOT NULL CHECK (role IN ('customer', 'assistant', 'agent', 'note')),
                agent_id text,
                text text NOT NULL,
                occurred_at timestamptz NOT NULL,
                log_partition integer NOT NULL,
                log_offset bigint NOT NULL
            );
            CREATE INDEX conversation_messages_conversation ON conversation_messages (conversation_id, log_offset);
            """),
    ]

    struct Row {
        var tenant: String, customer: String, phase: ConversationPhase
        var handover: String? = nil, reason: String? = nil, summary: String? = nil, skills: String? = nil, queue: String? = nil
        var priority: Int? = nil, agent: String? = nil
        var slaBreached = false, requested: Int64? = nil, queued: Int64? = nil, claimed: Int64? = nil, lastEvent: String? = nil, last: Int64
    }

    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        // 1. Transcript rows; the first occurrence of an id wins (a repeated event adds nothing).
        var messages: [[String?]] = []
        var seen = Set<UUID>()
        // (The transcript's ids are those of `messageID(of:)`.)
        for logged in events {
            let event = logged.event
            let message: (id: UUID, role: String, agent: String?, text: String)
            switch event.type {
            case MessageReceived.eventType: message = (event.id, "customer", nil, try event.decode(MessageReceived.self).text)
            case ReplyDelivered.eventType:
                let reply = try event.decode(ReplyDelivered.self)
                message = (reply.replyID, "assistant", nil, reply.text)
            case AgentReplied.eventType:
                let reply = try event.decode(AgentReplied.self)
                message = (reply.messageID, "agent", reply.agentID, reply.text)
            case InternalNoteAdded.eventType:
                let note = try event.decode(InternalNoteAdded.self)
                message = (note.noteID, "note", note.agentID, note.text)
            default: continue
            }
            guard seen.insert(message.id).inserted else { continue }
            messages.append([
                message.id.lowercaseString, event.conversationID, message.role, message.agent, message.text,
                Timestamp.format(millis: event.occurredAtMillis), String(logged.position.partition), String(logged.position.offset),
            ])
        }
        let inserted = Set(try BulkWrite.upsert(
            schema: schema, table: "conversation_messages",
            columns: ["message_id uuid", "conversation_id", "role", "agent_id", "text", "occurred_at timestamptz", "log_partition integer", "log_offset bigint"],
            conflict: ["message_id"], update: false, rows: messages, in: connection))

        // 2. Conversations: folded through the state machine from their stored rows.
        var rows: [String: Row] = [:]
        for row in try BulkWrite.rows("""
            SELECT conversation_id, tenant_id, customer_id, phase, handover_id::text AS handover, reason, summary, skills::text AS skills, queue, priority,
                   agent_id, sla_breached, (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms,
                   (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms, (extract(epoch FROM claimed_at) * 1000)::bigint AS claimed_ms,
                   last_event_id::text AS last_event, (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
            FROM \(quoted).conversations WHERE conversation_id
            """, keys: Array(Set(events.map(\.event.conversationID))), in: connection) {
            rows[try row.decode("conversation_id")] = Row(
                tenant: try row.decode("tenant_id"), customer: try row.decode("customer_id"),
                phase: try .stored(try row.decode("phase"), column: "conversations.phase"), handover: try row.decode("handover"),
                reason: try row.decode("reason"), summary: try row.decode("summary"), skills: try row.decode("skills"), queue: try row.decode("queue"),
                priority: try row.decode("priority"), agent: try row.decode("agent_id"), slaBreached: try row.decode("sla_breached"),
                requested: try row.decode("requested_ms"), queued: try row.decode("queued_ms"), claimed: try row.decode("claimed_ms"),
                lastEvent: try row.decode("last_event"), last: try row.decode("last_ms"))
        }
        var changed = Set<String>()
        var counted = Set<UUID>()
        for logged in events {
            let event = logged.event
            guard let transition = try ConversationPhase.transition(for: event) else { continue }
            // A repeated message (same id) was not inserted above, or was counted already in
            // this batch: it changes nothing.
            if let messageID = try Self.messageID(of: event) {
                guard inserted.contains(messageID.lowercaseString), counted.insert(messageID).inserted else { continue }
            }
            let id = event.conversationID
            let at = event.occurredAtMillis
            var row = rows[id] ?? Row(
                tenant: event.tenantID, customer: (try? event.decode(MessageReceived.self).customerID) ?? "", phase: .new, slaBreached: false, last: at)
            guard row.lastEvent != event.id.lowercaseString, let next = row.phase.applying(transition) else { continue }
            switch event.type {
            case HandoverRequested.eventType where row.phase != next:
                let request = try event.decode(HandoverRequested.self)
                row.handover = event.correlationID.lowercaseString
                (row.reason, row.summary, row.skills) = (request.reason.rawValue, request.summary, JSONValue.array(request.skills.map(JSONValue.string)).serializedString())
                (row.queue, row.priority, row.agent, row.slaBreached, row.requested, row.queued, row.claimed) = (nil, nil, nil, false, at, nil, nil)
            case HandoverQueued.eventType where row.phase != next:
                let queued = try event.decode(HandoverQueued.self)
                (row.queue, row.priority, row.queued) = (queued.queue, queued.priority, at)
            case HandoverClaimed.eventType:
                let claimed = try event.decode(HandoverClaimed.self)
                (row.agent, row.claimed) = (claimed.agentID, at)
            case HandoverTransferred.eventType:
                let transfer = try event.decode(HandoverTransferred.self)
                if let agent = transfer.toAgent {
                    (row.agent, row.claimed) = (agent, at)
                } else {
                    (row.agent, row.queue, row.queued) = (nil, transfer.toQueue ?? row.queue, at)
                }
            case HandoverReleased.eventType:
                (row.agent, row.queued) = (nil, at)
            case HandoverSLABreached.eventType:
                (row.slaBreached, row.priority) = (true, try event.decode(HandoverSLABreached.self).priority)
            default:
                break
            }
            row.phase = next
            row.lastEvent = event.id.lowercaseString
            row.last = max(row.last, at)
            rows[id] = row
            changed.insert(id)
        }
        try BulkWrite.upsert(
            schema: schema, table: "conversations",
            columns: [
                "conversation_id", "tenant_id", "customer_id", "phase", "handover_id uuid", "reason", "summary", "skills jsonb", "queue", "priority integer",
                "agent_id", "sla_breached boolean", "requested_at timestamptz", "queued_at timestamptz", "claimed_at timestamptz", "last_event_id uuid",
                "last_activity_at timestamptz",
            ],
            conflict: ["conversation_id"], update: true,
            rows: changed.sorted().compactMap { id -> [String?]? in
                guard let r = rows[id] else { return nil }
                return [
                    id, r.tenant, r.customer, r.phase.rawValue, r.handover, r.reason, r.summary, r.skills, r.queue, r.priority.map(String.init), r.agent,
                    String(r.slaBreached), r.requested.map(Timestamp.format(millis:)), r.queued.map(Timestamp.format(millis:)),
                    r.claimed.map(Timestamp.format(millis:)), r.lastEvent, Timestamp.format(millis: r.last),
                ]
            }, in: connection)
    }

    /// The transcript id an event adds, if it adds a line.
    static func messageID(of event: EventEnvelope) throws -> UUID? {
        switch event.type {
        case MessageReceived.eventType: event.id
        case ReplyDelivered.eventType: try event.decode(ReplyDelivered.self).replyID
        case AgentReplied.eventType: try event.decode(AgentReplied.self).messageID
        case InternalNoteAdded.eventType: try event.decode(InternalNoteAdded.self).noteID
        default: nil
        }
    }
}
