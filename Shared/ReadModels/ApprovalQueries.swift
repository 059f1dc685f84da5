public import Foundation
public import JSON
public import Postgres

/// The reads of `approvals` (ApprovalsProjection), for the live schema or a scratch one.
public struct ApprovalQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.hilqueue.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    public struct Approval: Sendable, Hashable {
        public var approvalID: UUID
        public var tenantID: String
        public var conversationID: String
        public var turnID: UUID
        public var planID: UUID
        public var stepID: UUID
        public var tool: String
        public var args: JSONValue
        public var riskTier: Int
        public var reason: String
        /// The dry run: `{summary, changes: [{target, field, before, after}]}`.
        public var preview: JSONValue
        public var status: ApprovalStatus
        public var requestedAtMillis: Int64
        public var expiresAtMillis: Int64
        public var decidedBy: String?
        public var decisionNote: String?
        public var decidedAtMillis: Int64?
    }

    static let columns: StaticString = """
        approval_id, tenant_id, conversation_id, turn_id, plan_id, step_id, tool, args::text AS args, risk_tier, reason, preview::text AS preview, status,
        (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms, (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms,
        decided_by, decision_note, (extract(epoch FROM decided_at) * 1000)::bigint AS decided_ms
        """

    /// Changes whenever one of the tenant's approvals arrives or is decided.
    public func fingerprint(tenant: String) async throws -> String {
        try await pool.query("""
            SELECT count(*) FILTER (WHERE status = 'pending') || '/' || coalesce(max(coalesce(decided_at, requested_at))::text, '') AS fingerprint
            FROM \(identifier: schema).approvals WHERE tenant_id = \(tenant)
            """).first(where: { _ in true })?.decode("fingerprint") ?? ""
    }

    /// A conversation's approvals, oldest first.
    public func approvals(conversation: String, tenant: String) async throws -> [Approval] {
        try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).approvals
            WHERE tenant_id = \(tenant) AND conversation_id = \(conversation) ORDER BY requested_at, approval_id LIMIT 100
            """).map(Self.approval)
    }

    /// A tenant's approvals in `status`, oldest first (the order to decide them), at most `limit`.
    public func approvals(status: ApprovalStatus, tenant: String, limit: Int) async throws -> [Approval] {
        try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).approvals
            WHERE tenant_id = \(tenant) AND status = \(status.rawValue) ORDER BY requested_at, approval_id LIMIT \(limit)
            """).map(Self.approval)
    }

    /// One approval of the tenant (nil: of any tenant); nil for an unknown id or another tenant's.
    public func approval(_ id: UUID, tenant: String?) async throws -> Approval? {
        try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).approvals WHERE approval_id = \(id) AND (\(tenant)::text IS NULL OR tenant_id = \(tenant))
            """).map(Self.approval).first
    }

    /// Pending approvals (any tenant) whose time ran out by `nowMillis`, oldest deadline first.
    public func due(nowMillis: Int64, limit: Int) async throws -> [Approval] {
        try await pool.query("""
            SELECT \(sql: Self.columns) FROM \(identifier: schema).approvals
            WHERE status = 'pending' AND expires_at <= to_timestamp(\(Double(nowMillis) / 1000)) ORDER BY expires_at LIMIT \(limit)
            """).map(Self.approval)
    }

    static func approval(_ row: PostgresRow) throws -> Approval {
        Approval(
            approvalID: try row.decode("approval_id"), tenantID: try row.decode("tenant_id"), conversationID: try row.decode("conversation_id"),
            turnID: try row.decode("turn_id"), planID: try row.decode("plan_id"), stepID: try row.decode("step_id"), tool: try row.decode("tool"),
            args: try JSONValue.parse(try row.decode("args", as: String.self)), riskTier: try row.decode("risk_tier"), reason: try row.decode("reason"),
            preview: try JSONValue.parse(try row.decode("preview", as: String.self)),
            status: try .stored(try row.decode("status"), column: "approvals.status"), requestedAtMillis: try row.decode("requested_ms"),
            expiresAtMillis: try row.decode("expires_ms"), decidedBy: try row.decode("decided_by"), decisionNote: try row.decode("decision_note"),
            decidedAtMillis: try row.decode("decided_ms"))
    }
}
