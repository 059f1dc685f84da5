import EventBus
import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// Read model of the handover queue (schema `hilqueue`).
public struct HandoverProjection: Projection {
    public let name = "hilqueue.handovers"
    public let schema: String
    public let version = 1
    public let tables = ["handovers"]
    public let interestedIn: Set<String>? = [HandoverRequested.eventType, HandoverQueued.eventType]
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
    ]

    /// Folds the batch over the handovers it touches (keyed by turn): the first request of a
    /// turn creates its row, queueing updates it; then one upsert.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        struct Handover {
            var conversation: String, tenant: String, reason: String, summary: String, skills: String
            var queue: String?, priority: Int?, status: HandoverStatus, requested: Int64, queued: Int64?
        }
        let touched = Array(Set(events.map { $0.event.correlationID.lowercaseString }))
        var handovers: [String: Handover] = [:]
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        for row in try BulkWrite.rows("""
            SELECT turn_id::text AS turn, conversation_id, tenant_id, reason, summary, skills::text AS skills, queue, priority, status,
                   (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms, (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms
            FROM \(quoted).handovers WHERE turn_id
            """, keys: touched, in: connection) {
            handovers[try row.decode("turn")] = Handover(
                conversation: try row.decode("conversation_id"), tenant: try row.decode("tenant_id"), reason: try row.decode("reason"),
                summary: try row.decode("summary"), skills: try row.decode("skills"), queue: try row.decode("queue"), priority: try row.decode("priority"),
                status: try .stored(try row.decode("status"), column: "handovers.status"), requested: try row.decode("requested_ms"), queued: try row.decode("queued_ms"))
        }
        var changed = Set<String>()
        for logged in events {
            let event = logged.event
            let turn = event.correlationID.lowercaseString
            switch event.type {
            case HandoverRequested.eventType:
                guard handovers[turn] == nil else { continue }
                let request = try event.decode(HandoverRequested.self)
                handovers[turn] = Handover(
                    conversation: event.conversationID, tenant: event.tenantID, reason: request.reason.rawValue, summary: request.summary,
                    skills: String(decoding: JSONValue.array(request.skills.map(JSONValue.string)).serialized(), as: UTF8.self),
                    queue: nil, priority: nil, status: .requested, requested: event.occurredAtMillis, queued: nil)
            case HandoverQueued.eventType:
                guard var handover = handovers[turn] else { continue }
                let queued = try event.decode(HandoverQueued.self)
                (handover.status, handover.queue, handover.priority, handover.queued) = (.queued, queued.queue, queued.priority, event.occurredAtMillis)
                handovers[turn] = handover
            default:
                continue
            }
            changed.insert(turn)
        }
        try BulkWrite.upsert(
            schema: schema, table: "handovers",
            columns: [
                "turn_id uuid", "conversation_id", "tenant_id", "reason", "summary", "skills jsonb", "queue", "priority integer", "status",
                "requested_at timestamptz", "queued_at timestamptz",
            ],
            conflict: ["turn_id"], update: true,
            rows: changed.sorted().compactMap { turn -> [String?]? in
                guard let h = handovers[turn] else { return nil }
                return [turn, h.conversation, h.tenant, h.reason, h.summary, h.skills, h.queue, h.priority.map(String.init), h.status.rawValue,
                        Timestamp.format(millis: h.requested), h.queued.map(Timestamp.format(millis:))]
            }, in: connection)
    }
}

