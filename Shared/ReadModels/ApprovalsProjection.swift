import EventBus
import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// Read model of approvals waiting for humans (schema `hilqueue`): what each step would change,
/// why it needs a person, when it expires, and who decided. The first decision on the log wins
/// (`ApprovalStatus`); a later one for the same approval changes nothing.
public struct ApprovalsProjection: Projection {
    public let name = "hilqueue.approvals"
    public let schema: String
    public let version = 1
    public let tables = ["approvals"]
    public let interestedIn: Set<String>? = [
        ApprovalRequested.eventType, ApprovalGranted.eventType, ApprovalDenied.eventType, ApprovalExpired.eventType,
    ]
    public init(schema: String = ReadModels.hilqueue.liveSchema) { self.schema = schema }

    /// Versions after HandoverProjection's: the two share the schema's migration history.
    public static let migrations: [Migration] = [
        Migration(version: 3, name: "approvals", sql: """
            CREATE TABLE approvals (
                approval_id uuid PRIMARY KEY,
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                turn_id uuid NOT NULL,
                plan_id uuid NOT NULL,
                step_id uuid NOT NULL,
                tool text NOT NULL,
                args jsonb NOT NULL,
                risk_tier integer NOT NULL,
                reason text NOT NULL,
                preview jsonb NOT NULL,
                status text NOT NULL,
                requested_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                decided_by text,
                decision_note text,
                decided_at timestamptz
            );
            CREATE INDEX approvals_queue ON approvals (tenant_id, status, requested_at);
            CREATE INDEX approvals_due ON approvals (expires_at) WHERE status = 'pending';
            """),
    ]

    struct Row {
        var tenant: String, conversation: String, turn: String, plan: String, step: String, tool: String, args: String
        var tier: Int, reason: String, preview: String, status: ApprovalStatus, requested: Int64, expires: Int64
        var decidedBy: String?, note: String?, decided: Int64?
    }

    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        var ids: [String] = []
        for logged in events {
            let event = logged.event
            switch event.type {
            case ApprovalRequested.eventType: ids.append(try event.decode(ApprovalRequested.self).approvalID.lowercaseString)
            case ApprovalGranted.eventType: ids.append(try event.decode(ApprovalGranted.self).approvalID.lowercaseString)
            case ApprovalDenied.eventType: ids.append(try event.decode(ApprovalDenied.self).approvalID.lowercaseString)
            case ApprovalExpired.eventType: ids.append(try event.decode(ApprovalExpired.self).approvalID.lowercaseString)
            default: continue
            }
        }
        var rows: [String: Row] = [:]
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        for row in try BulkWrite.rows("""
            SELECT approval_id::text AS id, tenant_id, conversation_id, turn_id::text AS turn, plan_id::text AS plan, step_id::text AS step, tool,
                   args::text AS args, risk_tier, reason, preview::text AS preview, status,
                   (extract(epoch FROM requested_at) * 1000)::bigint AS requested_ms, (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms,
                   decided_by, decision_note, (extract(epoch FROM decided_at) * 1000)::bigint AS decided_ms
            FROM \(quoted).approvals WHERE approval_id
            """, keys: Array(Set(ids)), in: connection) {
            rows[try row.decode("id")] = Row(
                tenant: try row.decode("tenant_id"), conversation: try row.decode("conversation_id"), turn: try row.decode("turn"),
                plan: try row.decode("plan"), step: try row.decode("step"), tool: try row.decode("tool"), args: try row.decode("args"),
                tier: try row.decode("risk_tier"), reason: try row.decode("reason"), preview: try row.decode("preview"),
                status: try .stored(try row.decode("status"), column: "approvals.status"), requested: try row.decode("requested_ms"),
                expires: try row.decode("expires_ms"), decidedBy: try row.decode("decided_by"), note: try row.decode("decision_note"),
                decided: try row.decode("decided_ms"))
        }
        var changed = Set<String>()
        for logged in events {
            let event = logged.event
            func decide(_ id: UUID, _ decision: ApprovalStatus.Decision, by: String?, note: String?) {
                let key = id.lowercaseString
                guard var row = rows[key], let next = row.status.applying(decision) else { return }
                (row.status, row.decidedBy, row.note, row.decided) = (next, by, note, event.occurredAtMillis)
                rows[key] = row
                changed.insert(key)
            }
            switch event.type {
            case ApprovalRequested.eventType:
                let request = try event.decode(ApprovalRequested.self)
                let key = request.approvalID.lowercaseString
                guard rows[key] == nil else { continue }
                rows[key] = Row(
                    tenant: event.tenantID, conversation: event.conversationID, turn: event.correlationID.lowercaseString,
                    plan: request.planID.lowercaseString, step: request.stepID.lowercaseString, tool: request.tool,
                    args: request.args.serializedString(), tier: request.riskTier.rawValue, reason: request.reason,
                    preview: try JSONValueEncoder().encode(request.preview).serializedString(), status: .pending, requested: event.occurredAtMillis,
                    expires: event.occurredAtMillis + Int64(request.timeoutSeconds) * 1000, decidedBy: nil, note: nil, decided: nil)
                changed.insert(key)
            case ApprovalGranted.eventType:
                let granted = try event.decode(ApprovalGranted.self)
                decide(granted.approvalID, .grant, by: granted.decidedBy, note: granted.note)
            case ApprovalDenied.eventType:
                let denied = try event.decode(ApprovalDenied.self)
                decide(denied.approvalID, .deny, by: denied.decidedBy, note: denied.reason)
            case ApprovalExpired.eventType:
                decide(try event.decode(ApprovalExpired.self).approvalID, .expire, by: nil, note: nil)
            default:
                continue
            }
        }
        try BulkWrite.upsert(
            schema: schema, table: "approvals",
            columns: [
                "approval_id uuid", "tenant_id", "conversation_id", "turn_id uuid", "plan_id uuid", "step_id uuid", "tool", "args jsonb",
                "risk_tier integer", "reason", "preview jsonb", "status", "requested_at timestamptz", "expires_at timestamptz",
                "decided_by", "decision_note", "decided_at timestamptz",
            ],
            conflict: ["approval_id"], update: true,
            rows: changed.sorted().compactMap { id -> [String?]? in
                guard let r = rows[id] else { return nil }
                return [id, r.tenant, r.conversation, r.turn, r.plan, r.step, r.tool, r.args, String(r.tier), r.reason, r.preview, r.status.rawValue,
                        Timestamp.format(millis: r.requested), Timestamp.format(millis: r.expires), r.decidedBy, r.note, r.decided.map(Timestamp.format(millis:))]
            }, in: connection)
    }
}
