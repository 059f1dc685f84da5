public import EventBus
public import Events
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
    public init(schema: String = "hilqueue") { self.schema = schema }

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

    public func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws {
        switch event.type {
        case HandoverRequested.eventType:
            let request = try event.decode(HandoverRequested.self)
            let skills = String(decoding: JSONValue.array(request.skills.map(JSONValue.string)).serialized(), as: UTF8.self)
            try connection.query("""
                INSERT INTO \(identifier: schema).handovers (turn_id, conversation_id, tenant_id, reason, summary, skills, status, requested_at)
                VALUES (\(event.correlationID), \(event.conversationID), \(event.tenantID), \(request.reason), \(request.summary), \(skills)::jsonb, 'requested', \(event.occurredAt))
                ON CONFLICT (turn_id) DO NOTHING
                """)
        case HandoverQueued.eventType:
            let queued = try event.decode(HandoverQueued.self)
            try connection.query("""
                UPDATE \(identifier: schema).handovers SET status = 'queued', queue = \(queued.queue), priority = \(queued.priority), queued_at = \(event.occurredAt)
                WHERE turn_id = \(event.correlationID)
                """)
        default:
            return
        }
    }
}

