public import Postgres

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

    static func entry(_ row: PostgresRow) throws -> Entry {
        Entry(partition: try row.decode("partition"), logOffset: try row.decode("log_offset"), type: try row.decode("type"), envelope: try row.decode("envelope"))
    }
}
