public import Foundation
public import Postgres

/// The reads of `cost_ledger` (CostLedgerProjection), for the live schema or a scratch one.
/// `spend` is the one query that sums LLM spend: the planner's budgets, the gateway's cost
/// summary and the CLI's time travel all call it, so they cannot disagree on what was spent.
public struct CostQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.costs.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    /// Which calls count; nil matches anything. Times are `[from, until)` on `occurred_at`.
    public struct Filter: Sendable, Hashable {
        public var tenant: String?
        public var conversation: String?
        public var from: Date?
        public var until: Date?
        public init(tenant: String? = nil, conversation: String? = nil, from: Date? = nil, until: Date? = nil) {
            self.tenant = tenant
            self.conversation = conversation
            self.from = from
            self.until = until
        }
    }

    public enum Grouping: String, Sendable, Hashable, CaseIterable {
        case model, tenant, conversation
    }

    /// What a set of LLM calls cost. Sums rather than averages, so spends add up exactly.
    public struct Spend: Sendable, Hashable {
        /// The model, tenant or conversation of a group; nil for an ungrouped total.
        public var key: String?
        public var calls: Int
        public var costMicros: Int64
        public var tokensIn: Int64
        public var tokensOut: Int64
        public var latencyMsTotal: Int64
        public var successes: Int

        public static let zero = Spend(key: nil, calls: 0, costMicros: 0, tokensIn: 0, tokensOut: 0, latencyMsTotal: 0, successes: 0)

        public init(key: String?, calls: Int, costMicros: Int64, tokensIn: Int64, tokensOut: Int64, latencyMsTotal: Int64, successes: Int) {
            self.key = key
            self.calls = calls
            self.costMicros = costMicros
            self.tokensIn = tokensIn
            self.tokensOut = tokensOut
            self.latencyMsTotal = latencyMsTotal
            self.successes = successes
        }

        /// Both together, without a key (a total of groups).
        public func adding(_ other: Spend) -> Spend {
            Spend(
                key: nil, calls: calls + other.calls, costMicros: costMicros + other.costMicros, tokensIn: tokensIn + other.tokensIn,
                tokensOut: tokensOut + other.tokensOut, latencyMsTotal: latencyMsTotal + other.latencyMsTotal, successes: successes + other.successes)
        }
    }

    /// Spend of the calls `filter` matches, one `Spend` per group, most expensive first (then by
    /// key); without grouping, one total, or none when nothing matched. The grouping column is
    /// chosen by a bound parameter, so no SQL text is ever assembled from input.
    public func spend(_ filter: Filter, groupedBy grouping: Grouping? = nil) async throws -> [Spend] {
        let rows = try await pool.query("""
            SELECT CASE \(grouping?.rawValue)::text WHEN 'model' THEN model WHEN 'tenant' THEN tenant_id WHEN 'conversation' THEN conversation_id END AS key,
                   count(*) AS calls, sum(cost_micros)::bigint AS cost_micros, sum(tokens_in)::bigint AS tokens_in,
                   sum(tokens_out)::bigint AS tokens_out, sum(latency_ms)::bigint AS latency_ms, sum(success::int)::bigint AS successes
            FROM \(identifier: schema).cost_ledger
            WHERE (\(filter.tenant)::text IS NULL OR tenant_id = \(filter.tenant))
              AND (\(filter.conversation)::text IS NULL OR conversation_id = \(filter.conversation))
              AND (\(filter.from)::timestamptz IS NULL OR occurred_at >= \(filter.from))
              AND (\(filter.until)::timestamptz IS NULL OR occurred_at < \(filter.until))
            GROUP BY 1 ORDER BY 3 DESC, 1
            """)
        return try rows.map { row in
            Spend(
                key: try row.decode("key"), calls: try row.decode("calls"), costMicros: try row.decode("cost_micros"),
                tokensIn: try row.decode("tokens_in"), tokensOut: try row.decode("tokens_out"),
                latencyMsTotal: try row.decode("latency_ms"), successes: try row.decode("successes"))
        }
    }

    /// The ungrouped total of `spend` (zero when nothing matched).
    public func total(_ filter: Filter) async throws -> Spend {
        try await spend(filter).first ?? .zero
    }
}
