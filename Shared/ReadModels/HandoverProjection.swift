import EventBus
public import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// Read model of the human side (schema `hilqueue`): the conversations that were handed over,
/// their phase (`ConversationPhase`, folded with the same table HILQueue's commands are
/// checked against) and current or last handover (reason, brief, queue, priority, agent, SLA),
/// and the agents' internal notes.
///
/// It reads only the events of handovers, so the AI's turns cost it nothing: a conversation
/// enters at its `HandoverRequested` (from an AI phase), and its messages are the gateway's
/// read model's (`ConversationQueries`), which the inbox merges with the notes. Customer
/// messages and AI replies do not move a conversation that is with humans, and after it left
/// them this model keeps where it left (resolved, back to AI) until the next handover.
public struct HandoverProjection: Projection {
    public let name = "hilqueue.handovers"
    public let schema: String
    /// 2: conversations and notes replace the per-turn `handovers` table.
    public let version = 2
    public let tables = ["conversations", "notes"]
    public let interestedIn: Set<String>? = ConversationPhase.eventTypes.subtracting([MessageReceived.eventType, ReplyDelivered.eventType])
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
        Migration(version: 4, name: "conversations_notes", sql: """
            DROP TABLE handovers;
            CREATE TABLE conversations (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
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
            CREATE TABLE notes (
                note_id uuid PRIMARY KEY,
                conversation_id text NOT NULL,
                agent_id text NOT NULL,
                text text NOT NULL,
                occurred_at timestamptz NOT NULL,
                log_partition integer NOT NULL,
                log_offset bigint NOT NULL
            );
            CREATE INDEX notes_conversation ON notes (conversation_id, log_offset);
            """),
    ]

    struct Row {
        var tenant: String, phase: ConversationPhase
        var handover: String? = nil, reason: String? = nil, summary: String? = nil, skills: String? = nil, queue: String? = nil
        var priority: Int? = nil, agent: String? = nil
        var slaBreached = false, requested: Int64? = nil, queued: Int64? = nil, claimed: Int64? = nil, lastEvent: String? = nil, last: Int64
    }

    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        // 1. Notes; the first occurrence of an id wins (a repeated event adds nothing).
        var notes: [[String?]] = []
        var seen = Set<UUID>()
        for logged in events where logged.event.type == InternalNoteAdded.eventType {
            let note = try logged.event.decode(InternalNoteAdded.self)
            guard seen.insert(note.noteID).inserted else { continue }
            notes.append([
                note.noteID.lowercaseString, logged.event.conversationID, note.agentID, note.text,
                Timestamp.format(millis: logged.event.occurredAtMillis), String(logged.position.partition), String(logged.position.offset),
            ])
        }
        let inserted = Set(try BulkWrite.upsert(
            schema: schema, table: "notes",
            columns: ["note_id uuid", "conversation_id", "agent_id", "text", "occurred_at timestamptz", "log_partition integer", "log_offset bigint"],
            conflict: ["note_id"], update: false, rows: notes, in: connection))

        // 2. Conversations: folded through the state machine from their stored rows.
        var rows: [String: Row] = [:]
        for row in try BulkWrite.rows("""
            SELECT conversation_id, tenant_id, phase, handover_id::text AS handover, reason, summary, skills::text AS skills, queue, priority,
                   agent_id, sla_breached, (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms,
                   (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms, (extract(epoch FROM claimed_at) * 1000)::bigint AS claimed_ms,
                   last_event_id::text AS last_event, (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
            FROM \(quoted).conversations WHERE conversation_id
            """, keys: Array(Set(events.map(\.event.conversationID))), in: connection) {
            rows[try row.decode("conversation_id")] = Row(
                tenant: try row.decode("tenant_id"),
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
            // A repeated note (same id) was not inserted above, or was counted already in this
            // batch: it changes nothing.
            if event.type == InternalNoteAdded.eventType {
                let noteID = try event.decode(InternalNoteAdded.self).noteID
                guard inserted.contains(noteID.lowercaseString), counted.insert(noteID).inserted else { continue }
            }
            let id = event.conversationID
            let at = event.occurredAtMillis
            // A conversation this model has not seen enters at its handover, from an AI phase.
            guard let known = rows[id] ?? (event.type == HandoverRequested.eventType ? Row(tenant: event.tenantID, phase: .aiProcessing, last: at) : nil) else { continue }
            var row = known
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
                "conversation_id", "tenant_id", "phase", "handover_id uuid", "reason", "summary", "skills jsonb", "queue", "priority integer",
                "agent_id", "sla_breached boolean", "requested_at timestamptz", "queued_at timestamptz", "claimed_at timestamptz", "last_event_id uuid",
                "last_activity_at timestamptz",
            ],
            conflict: ["conversation_id"], update: true,
            rows: changed.sorted().compactMap { id -> [String?]? in
                guard let r = rows[id] else { return nil }
                return [
                    id, r.tenant, r.phase.rawValue, r.handover, r.reason, r.summary, r.skills, r.queue, r.priority.map(String.init), r.agent,
                    String(r.slaBreached), r.requested.map(Timestamp.format(millis:)), r.queued.map(Timestamp.format(millis:)),
                    r.claimed.map(Timestamp.format(millis:)), r.lastEvent, Timestamp.format(millis: r.last),
                ]
            }, in: connection)
    }
}
