public import Postgres
import Kafka
import Projections

/// The reads of `audit_log` (AuditProjection), for the live schema or a scratch one.
public struct AuditQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.gateway.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    /// One logged event: where it sits on the log and its envelope as the log holds it.
    public struct Entry: Sendable, Hashable {
        public var partition: Int
        public var logOffset: Int64
        public var type: String
        /// The record's bytes as text (for our producers, the canonical encoding).
        public var envelope: String
    }

    /// The conversation's events after `afterOffset` (-1: from the start), in log order, at
    /// most `limit`. `tenant` nil: any tenant, for operator tools only.
    public func events(conversation id: String, tenant: String?, afterOffset: Int64 = -1, limit: Int) async throws -> [Entry] {
        let rows = try await pool.query("""
            SELECT partition, log_offset, type, envelope FROM \(identifier: schema).audit_log
            WHERE conversation_id = \(id) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant)) AND log_offset > \(afterOffset)
            ORDER BY partition, log_offset LIMIT \(limit)
            """)
        return try rows.map(Self.entry)
    }

    /// The conversation's latest event. `tenant` nil: any tenant, for operator tools only.
    public func lastEvent(conversation id: String, tenant: String?) async throws -> Entry? {
        let rows = try await pool.query("""
            SELECT partition, log_offset, type, envelope FROM \(identifier: schema).audit_log
            WHERE conversation_id = \(id) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant))
            ORDER BY partition DESC, log_offset DESC LIMIT 1
            """)
        return try rows.first.map(Self.entry)
    }

    // MARK: The archive (deploy/README.md "Keeping history")

    /// One archived record: its offset, its key (the conversation id, as our producers key
    /// events) and its bytes; `occurredAtMillis` becomes the record's timestamp on a restore.
    public struct ArchivedRecord: Sendable, Hashable {
        public var offset: Int64
        public var conversationID: String
        public var occurredAtMillis: Int64
        public var envelope: String
    }

    /// The archive of `topic`/`partition` from `fromOffset` (inclusive) below `toOffset`, in
    /// offset order, at most `limit`: page by passing the last offset + 1 as the next start.
    /// Empty when the schema does not exist yet (nothing archived).
    public func archived(topic: String, partition: Int32, from fromOffset: Int64, to toOffset: Int64, limit: Int) async throws -> [ArchivedRecord] {
        do {
            let rows = try await pool.query("""
                SELECT log_offset, conversation_id, (extract(epoch FROM occurred_at) * 1000)::bigint AS occurred_ms, envelope
                FROM \(identifier: schema).audit_log
                WHERE topic = \(topic) AND partition = \(Int(partition)) AND log_offset >= \(fromOffset) AND log_offset < \(toOffset)
                ORDER BY log_offset LIMIT \(limit)
                """)
            return try rows.map { row in
                ArchivedRecord(offset: try row.decode("log_offset"), conversationID: try row.decode("conversation_id"),
                               occurredAtMillis: try row.decode("occurred_ms"), envelope: try row.decode("envelope"))
            }
        } catch let error as PostgresError where Self.isMissingArchive(error) {
            return []
        }
    }

    /// Per partition of `topic`, the offset below which the archive is complete: where the
    /// audit projection has applied the log up to (its stored offsets, written in the same
    /// transaction as its rows). Empty when nothing was archived.
    public func completeThrough(topic: String) async throws -> [Int32: Int64] {
        let projection = AuditProjection(schema: schema)
        do {
            let stored = try await pool.withConnection { try ProjectionStore.offsets(schema: projection.schema, projection: projection.name, in: $0) }
            return Dictionary(uniqueKeysWithValues: stored.filter { $0.key.topic == topic }.map { ($0.key.partition, $0.value) })
        } catch let error as PostgresError where Self.isMissingArchive(error) {
            return [:]
        }
    }

    /// No gateway schema or table yet: a database no gateway has run against.
    static func isMissingArchive(_ error: PostgresError) -> Bool {
        error.sqlState == "42P01" || error.sqlState == "3F000"
    }

    static func entry(_ row: PostgresRow) throws -> Entry {
        Entry(partition: try row.decode("partition"), logOffset: try row.decode("log_offset"), type: try row.decode("type"), envelope: try row.decode("envelope"))
    }
}
