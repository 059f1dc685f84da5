import EventBus
import Events
import Foundation
public import Postgres
public import Projections

/// `gateway.audit_log`: every event as its canonical envelope (what our producers write), keyed
/// by its log position and searchable by conversation, type, time and producer (the actor). It
/// is the read side of `GET /v1/conversations/{id}/events` and, being a complete archive, what
/// history tools can read below the broker's log start (issue 3).
public struct AuditProjection: Projection {
    public let name = "gateway.audit"
    public let schema: String
    /// Never bumped: the archive is not emptied to rebuild (`isArchive`); change it with a migration.
    public let version = 1
    public let isArchive = true
    public let tables = ["audit_log"]
    public let interestedIn: Set<String>? = nil

    public init(schema: String = ReadModels.gateway.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        Migration(version: 3, name: "audit_log", sql: """
            CREATE TABLE audit_log (
                topic text NOT NULL,
                partition integer NOT NULL,
                log_offset bigint NOT NULL,
                event_id uuid NOT NULL,
                type text NOT NULL,
                version integer NOT NULL,
                conversation_id text NOT NULL,
                tenant_id text NOT NULL,
                occurred_at timestamptz NOT NULL,
                producer text NOT NULL,
                causation_id uuid,
                correlation_id uuid NOT NULL,
                envelope text NOT NULL,
                PRIMARY KEY (topic, partition, log_offset)
            );
            CREATE INDEX audit_log_conversation ON audit_log (conversation_id, partition, log_offset);
            CREATE INDEX audit_log_type_time ON audit_log (type, occurred_at);
            CREATE INDEX audit_log_time ON audit_log (occurred_at);
            CREATE INDEX audit_log_producer ON audit_log (producer, occurred_at);
            CREATE INDEX audit_log_correlation ON audit_log (correlation_id);
            """),
    ]

    /// The envelope column holds the record's bytes as they are on the log (for our producers,
    /// the canonical encoding), so the archive is verbatim and nothing is re-encoded. Keyed by
    /// position, so a repeated record changes nothing.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        try BulkWrite.upsert(
            schema: schema, table: "audit_log",
            columns: [
                "topic", "partition integer", "log_offset bigint", "event_id uuid", "type", "version integer", "conversation_id", "tenant_id",
                "occurred_at timestamptz", "producer", "causation_id uuid", "correlation_id uuid", "envelope",
            ],
            conflict: ["topic", "partition", "log_offset"], update: false,
            rows: events.map { logged in
                let (event, position) = (logged.event, logged.position)
                return [
                    position.topic, String(position.partition), String(position.offset), event.id.lowercaseString, event.type, String(event.version),
                    event.conversationID, event.tenantID, Timestamp.format(millis: event.occurredAtMillis), event.producer,
                    event.causationID?.lowercaseString, event.correlationID.lowercaseString, String(decoding: logged.bytes, as: UTF8.self),
                ]
            }, in: connection)
    }
}
