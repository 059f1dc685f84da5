public import Foundation
import JSON
public import Postgres

/// The reads of `handovers` (HandoverProjection), for the live schema or a scratch one.
public struct HandoverQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.hilqueue.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    /// One turn handed over to humans.
    public struct Handover: Sendable, Hashable {
        public var turnID: UUID
        public var conversationID: String
        public var tenantID: String
        public var reason: String
        public var summary: String
        public var skills: [String]
        /// Set once queued.
        public var queue: String?
        /// Set once queued; 1 goes first.
        public var priority: Int?
        public var status: HandoverStatus
        public var requestedAtMillis: Int64
        public var queuedAtMillis: Int64?
    }

    /// A tenant's handovers in `status`, in the order humans should take them: by priority
    /// (unqueued last), then oldest request first.
    public func handovers(status: HandoverStatus, tenant: String, limit: Int) async throws -> [Handover] {
        let rows = try await pool.query("""
            SELECT turn_id, conversation_id, tenant_id, reason, summary, skills::text AS skills, queue, priority, status,
                   (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms, (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms
            FROM \(identifier: schema).handovers WHERE status = \(status.rawValue) AND tenant_id = \(tenant)
            ORDER BY priority NULLS LAST, requested_at LIMIT \(limit)
            """)
        return try rows.map { row in
            Handover(
                turnID: try row.decode("turn_id"), conversationID: try row.decode("conversation_id"), tenantID: try row.decode("tenant_id"),
                reason: try row.decode("reason"), summary: try row.decode("summary"), skills: try Self.skills(try row.decode("skills")),
                queue: try row.decode("queue"), priority: try row.decode("priority"),
                status: try .stored(try row.decode("status"), column: "handovers.status"),
                requestedAtMillis: try row.decode("requested_ms"), queuedAtMillis: try row.decode("queued_ms"))
        }
    }

    /// The projection stores skills as a JSON array of strings.
    static func skills(_ text: String) throws -> [String] {
        guard case .array(let items) = try JSONValue.parse(Array(text.utf8)) else { throw PostgresDecodingFailure("handovers.skills is not a JSON array") }
        return try items.map { item in
            guard case .string(let skill) = item else { throw PostgresDecodingFailure("handovers.skills holds a non-string") }
            return skill
        }
    }
}
