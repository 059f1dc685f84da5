import EventBus
import Events
import Foundation
public import Postgres
public import Projections

/// `costs.cost_ledger` (run by the planner): one row per LLM call, from `LLMCallCompleted`,
/// with views rolling it up by hour, day and month per tenant and model. Budgets (issue 4) and
/// `GET /v1/costs/summary` read it.
public struct CostLedgerProjection: Projection {
    public let name = "costs.ledger"
    public let schema: String
    public let version = 1
    public let tables = ["cost_ledger"]
    public let interestedIn: Set<String>? = [LLMCallCompleted.eventType]

    public init(schema: String = ReadModels.costs.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "cost_ledger", sql: """
            CREATE TABLE cost_ledger (
                event_id uuid PRIMARY KEY,
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                turn_id uuid NOT NULL,
                provider text NOT NULL,
                model text NOT NULL,
                purpose text NOT NULL,
                tokens_in integer NOT NULL,
                tokens_out integer NOT NULL,
                cost_micros bigint NOT NULL,
                latency_ms integer NOT NULL,
                success boolean NOT NULL,
                outcome text NOT NULL,
                cached boolean NOT NULL,
                occurred_at timestamptz NOT NULL,
                log_partition integer NOT NULL,
                log_offset bigint NOT NULL
            );
            CREATE INDEX cost_ledger_tenant_time ON cost_ledger (tenant_id, occurred_at);
            CREATE INDEX cost_ledger_conversation ON cost_ledger (conversation_id);
            CREATE VIEW costs_hourly AS SELECT date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AS period, tenant_id, model,
                count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(cost_micros) AS cost_micros,
                avg(latency_ms) AS avg_latency_ms, avg(success::int) AS success_rate
                FROM cost_ledger GROUP BY 1, 2, 3;
            CREATE VIEW costs_daily AS SELECT date_trunc('day', occurred_at AT TIME ZONE 'UTC') AS period, tenant_id, model,
                count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(cost_micros) AS cost_micros,
                avg(latency_ms) AS avg_latency_ms, avg(success::int) AS success_rate
                FROM cost_ledger GROUP BY 1, 2, 3;
            CREATE VIEW costs_monthly AS SELECT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS period, tenant_id, model,
                count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(cost_micros) AS cost_micros,
                avg(latency_ms) AS avg_latency_ms, avg(success::int) AS success_rate
                FROM cost_ledger GROUP BY 1, 2, 3;
            """),
    ]

    /// One row per call, keyed by the event: a repeated event changes nothing.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        var rows: [[String?]] = []
        for logged in events {
            let (event, position) = (logged.event, logged.position)
            let call = try event.decode(LLMCallCompleted.self)
            rows.append([
                event.id.lowercaseString, event.tenantID, event.conversationID, event.correlationID.lowercaseString, call.provider, call.model, call.purpose,
                String(call.tokensIn), String(call.tokensOut), String(call.costMicros), String(call.latencyMs), call.outcome == .success ? "t" : "f",
                call.outcome.rawValue, call.cached ? "t" : "f", Timestamp.format(millis: event.occurredAtMillis), String(position.partition), String(position.offset),
            ])
        }
        try BulkWrite.upsert(
            schema: schema, table: "cost_ledger",
            columns: [
                "event_id uuid", "tenant_id", "conversation_id", "turn_id uuid", "provider", "model", "purpose", "tokens_in integer", "tokens_out integer",
                "cost_micros bigint", "latency_ms integer", "success boolean", "outcome", "cached boolean", "occurred_at timestamptz",
                "log_partition integer", "log_offset bigint",
            ],
            conflict: ["event_id"], update: false, rows: rows, in: connection)
    }
}
