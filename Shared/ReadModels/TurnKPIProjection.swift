import EventBus
import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// `gateway.turn_kpis` (run by the gateway, from the same fetch as its other read models): one
/// row per turn — its intent and the rollout mode it ran in, when the message arrived and when
/// the first reply went out, whether it was handed over or asked for an approval, and what the
/// shadow candidate thought of it — and `gateway.turn_costs`, one row per model call. `GET
/// /v1/kpis` (`KPIQueries`) rolls them up per intent and mode.
///
/// Every update is idempotent (a minimum, a flag, a row keyed by its event), so an event the log
/// holds twice changes nothing.
public struct TurnKPIProjection: Projection {
    public let name = "gateway.turn_kpis"
    public let schema: String
    public let version = 1
    public let tables = ["turn_kpis", "turn_costs"]
    public let interestedIn: Set<String>? = [
        MessageReceived.eventType, DecisionMade.eventType, ReplyDelivered.eventType, HandoverRequested.eventType,
        ApprovalRequested.eventType, LLMCallCompleted.eventType, ShadowDecisionRecorded.eventType,
    ]

    public init(schema: String = ReadModels.gateway.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        Migration(version: 5, name: "turn_kpis", sql: """
            CREATE TABLE turn_kpis (
                turn_id uuid PRIMARY KEY,
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                received_at timestamptz,
                intent text,
                mode text,
                brain text,
                first_reply_at timestamptz,
                handed_over boolean NOT NULL DEFAULT false,
                approval_requested boolean NOT NULL DEFAULT false,
                shadow_agrees boolean
            );
            CREATE INDEX turn_kpis_tenant_time ON turn_kpis (tenant_id, received_at);
            CREATE TABLE turn_costs (
                event_id uuid PRIMARY KEY,
                turn_id uuid NOT NULL,
                cost_micros bigint NOT NULL
            );
            CREATE INDEX turn_costs_turn ON turn_costs (turn_id);
            """),
    ]

    struct Row {
        var tenant: String, conversation: String
        var received: Int64?, intent: String?, mode: String?, brain: String?, firstReply: Int64?
        var handedOver = false, approval = false, shadowAgrees: Bool?
    }

    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        let touched = Array(Set(events.filter { $0.event.type != LLMCallCompleted.eventType }.map { $0.event.correlationID.lowercaseString }))
        var rows: [String: Row] = [:]
        for row in try BulkWrite.rows("""
            SELECT turn_id::text AS turn, tenant_id, conversation_id, intent, mode, brain, handed_over, approval_requested, shadow_agrees,
                   (extract(epoch FROM received_at) * 1000)::bigint AS received_ms, (extract(epoch FROM first_reply_at) * 1000)::bigint AS reply_ms
            FROM \(quoted).turn_kpis WHERE turn_id
            """, keys: touched, in: connection) {
            rows[try row.decode("turn", as: String.self)] = Row(
                tenant: try row.decode("tenant_id", as: String.self), conversation: try row.decode("conversation_id", as: String.self),
                received: try row.decode("received_ms", as: Int64?.self), intent: try row.decode("intent", as: String?.self),
                mode: try row.decode("mode", as: String?.self), brain: try row.decode("brain", as: String?.self),
                firstReply: try row.decode("reply_ms", as: Int64?.self), handedOver: try row.decode("handed_over", as: Bool.self),
                approval: try row.decode("approval_requested", as: Bool.self), shadowAgrees: try row.decode("shadow_agrees", as: Bool?.self))
        }
        var costs: [[String?]] = []
        for logged in events {
            let event = logged.event
            let turn = event.correlationID.lowercaseString
            if event.type == LLMCallCompleted.eventType {
                costs.append([event.id.lowercaseString, turn, String(try event.decode(LLMCallCompleted.self).costMicros)])
                continue
            }
            var row = rows[turn] ?? Row(tenant: event.tenantID, conversation: event.conversationID)
            switch event.type {
            case MessageReceived.eventType:
                row.received = min(row.received ?? .max, event.occurredAtMillis)
            case DecisionMade.eventType:
                let decision = try event.decode(DecisionMade.self)
                // A model's next round decides again: the turn keeps its first intent and mode.
                if row.intent == nil {
                    row.intent = decision.intent
                    row.mode = (decision.mode ?? .autonomous).rawValue
                    row.brain = decision.brain
                }
            case ReplyDelivered.eventType:
                row.firstReply = min(row.firstReply ?? .max, event.occurredAtMillis)
            case HandoverRequested.eventType:
                row.handedOver = true
            case ApprovalRequested.eventType:
                row.approval = true
            case ShadowDecisionRecorded.eventType:
                row.shadowAgrees = try event.decode(ShadowDecisionRecorded.self).agrees
            default:
                continue
            }
            rows[turn] = row
        }
        func time(_ millis: Int64?) -> String? { millis.map { Timestamp.format(millis: $0) } }
        try BulkWrite.upsert(
            schema: schema, table: "turn_kpis",
            columns: [
                "turn_id uuid", "tenant_id", "conversation_id", "received_at timestamptz", "intent", "mode", "brain", "first_reply_at timestamptz",
                "handed_over boolean", "approval_requested boolean", "shadow_agrees boolean",
            ],
            conflict: ["turn_id"], update: true,
            rows: rows.map { turn, row in
                [turn, row.tenant, row.conversation, time(row.received), row.intent, row.mode, row.brain, time(row.firstReply),
                 row.handedOver ? "t" : "f", row.approval ? "t" : "f", row.shadowAgrees.map { $0 ? "t" : "f" }]
            }, in: connection)
        try BulkWrite.upsert(schema: schema, table: "turn_costs", columns: ["event_id uuid", "turn_id uuid", "cost_micros bigint"], conflict: ["event_id"], update: false, rows: costs, in: connection)
    }
}

/// `GET /v1/kpis`: per intent and rollout mode, over turns that arrived in a window.
public struct KPIQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String

    public init(pool: PostgresPool, schema: String = ReadModels.gateway.liveSchema) {
        self.pool = pool
        self.schema = schema
    }

    public struct Row: Sendable, Equatable {
        public var intent: String
        public var mode: String
        public var turns: Int
        public var conversations: Int
        /// Turns that got a reply and were not handed over.
        public var automationRate: Double
        public var escalationRate: Double
        /// Turns that asked a person to approve a step or a reply.
        public var approvalRate: Double
        /// Shadow turns whose candidate agreed with what was done (nil: none recorded).
        public var shadowAgreement: Double?
        public var shadowTurns: Int
        public var costMicrosPerConversation: Double
        /// Message to first reply, over turns that got one.
        public var latencyP50Ms: Double?
        public var latencyP95Ms: Double?
    }

    public func kpis(tenant: String, fromMillis: Int64?, toMillis: Int64?) async throws -> [Row] {
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        let from = Timestamp.format(millis: fromMillis ?? 0)
        let to = Timestamp.format(millis: toMillis ?? 253_402_300_799_000)
        let rows = try await pool.query(PostgresQuery(unsafeSQL: """
            WITH turns AS (
                SELECT k.*, COALESCE(c.cost, 0) AS cost,
                       extract(epoch FROM (k.first_reply_at - k.received_at)) * 1000 AS latency_ms
                FROM \(quoted).turn_kpis k
                LEFT JOIN (SELECT turn_id, sum(cost_micros) AS cost FROM \(quoted).turn_costs GROUP BY turn_id) c USING (turn_id)
                WHERE k.tenant_id = $1 AND k.received_at >= $2::timestamptz AND k.received_at < $3::timestamptz AND k.intent IS NOT NULL
            )
            SELECT intent, mode, count(*)::bigint AS turns, count(DISTINCT conversation_id)::bigint AS conversations,
                   avg((first_reply_at IS NOT NULL AND NOT handed_over)::int)::float8 AS automation,
                   avg(handed_over::int)::float8 AS escalation, avg(approval_requested::int)::float8 AS approval,
                   avg(shadow_agrees::int)::float8 AS agreement, count(shadow_agrees)::bigint AS shadow_turns,
                   (sum(cost)::float8 / count(DISTINCT conversation_id)) AS cost_per_conversation,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::float8 AS p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::float8 AS p95
            FROM turns GROUP BY intent, mode ORDER BY intent, mode
            """, binds: [PostgresValue(tenant), PostgresValue(from), PostgresValue(to)]))
        return try rows.map { row in
            Row(
                intent: try row.decode("intent", as: String.self), mode: try row.decode("mode", as: String?.self) ?? RolloutMode.autonomous.rawValue,
                turns: Int(try row.decode("turns", as: Int64.self)), conversations: Int(try row.decode("conversations", as: Int64.self)),
                automationRate: try row.decode("automation", as: Double.self), escalationRate: try row.decode("escalation", as: Double.self),
                approvalRate: try row.decode("approval", as: Double.self), shadowAgreement: try row.decode("agreement", as: Double?.self),
                shadowTurns: Int(try row.decode("shadow_turns", as: Int64.self)), costMicrosPerConversation: try row.decode("cost_per_conversation", as: Double.self),
                latencyP50Ms: try row.decode("p50", as: Double?.self), latencyP95Ms: try row.decode("p95", as: Double?.self))
        }
    }
}
