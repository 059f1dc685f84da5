import EventBus
public import Events
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
    public let version = 1
    public let tables = ["audit_log"]
    public let interestedIn: Set<String>? = nil

    public init(schema: String = "gateway") { self.schema = schema }

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

    public func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws {
        try apply(event, position: position, bytes: EventCodec.encode(event), in: connection)
    }

    /// The envelope column holds the record's bytes as they are on the log (for our producers,
    /// the canonical encoding), so the archive is verbatim and nothing is re-encoded.
    public func apply(_ event: EventEnvelope, position: LogPosition, bytes: [UInt8], in connection: PostgresConnection) throws {
        try connection.query("""
            INSERT INTO \(identifier: schema).audit_log (topic, partition, log_offset, event_id, type, version, conversation_id, tenant_id,
                                           occurred_at, producer, causation_id, correlation_id, envelope)
            VALUES (\(position.topic), \(Int(position.partition)), \(position.offset), \(event.id), \(event.type), \(event.version),
                    \(event.conversationID), \(event.tenantID), \(event.occurredAt), \(event.producer), \(event.causationID),
                    \(event.correlationID), \(String(decoding: bytes, as: UTF8.self)))
            ON CONFLICT (topic, partition, log_offset) DO NOTHING
            """)
    }

    public func applyBatch(_ events: [(EventEnvelope, LogPosition)], in connection: PostgresConnection) throws {
        try applyBatch(events, bytes: events.map { EventCodec.encode($0.0) }, in: connection)
    }

    /// COPY: the audit log is append-only and keyed by position, which a rebuild never repeats.
    public func applyBatch(_ events: [(EventEnvelope, LogPosition)], bytes: [[UInt8]], in connection: PostgresConnection) throws {
        precondition(events.count == bytes.count, "one encoding per event")
        let table = "\(try PostgresQuery.quotedIdentifier(schema)).audit_log"
        _ = try connection.copyIn(
            "COPY \(table) (topic, partition, log_offset, event_id, type, version, conversation_id, tenant_id, occurred_at, producer, causation_id, correlation_id, envelope) FROM STDIN",
            rows: zip(events, bytes).lazy.map { pair, bytes in
                let (event, position) = pair
                return [
                    position.topic, String(position.partition), String(position.offset), event.id.lowercaseString, event.type, String(event.version),
                    event.conversationID, event.tenantID, Timestamp.format(millis: event.occurredAtMillis), event.producer,
                    event.causationID?.lowercaseString, event.correlationID.lowercaseString, String(decoding: bytes, as: UTF8.self),
                ]
            }
        )
    }
}
