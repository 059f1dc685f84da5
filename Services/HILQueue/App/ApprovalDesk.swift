import AccessControl
import Auth
import EventBus
public import Events
import Foundation
import Hummingbird
import JSON
import Logging
public import Postgres
import ReadModels
import ServiceRuntime

/// Where human decisions on approvals are taken: exactly one decision per approval, however
/// many agents press a button at once and however many HILQueue replicas serve them.
///
/// The decision is claimed first in `hilqueue_decisions.approval_decisions` (primary key: the
/// approval id), then appended with an id derived from the approval, so a retried request, a
/// second replica or the sweeper republishing after a crash all append the same event. The read
/// model (`ApprovalsProjection`) shows it once the log has it.
public struct ApprovalDesk: Sendable {
    let pool: PostgresPool
    let approvals: ApprovalQueries
    let producer: String
    let publish: @Sendable ([EventEnvelope]) async throws -> Void

    public init(pool: PostgresPool, approvals: ApprovalQueries? = nil, producer: String, publish: @escaping @Sendable ([EventEnvelope]) async throws -> Void) {
        self.pool = pool
        self.approvals = approvals ?? ApprovalQueries(pool: pool)
        self.producer = producer
        self.publish = publish
    }

    public static let schema = "hilqueue_decisions"
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "approval_decisions", sql: """
            CREATE TABLE approval_decisions (
                approval_id uuid PRIMARY KEY,
                decision text NOT NULL CHECK (decision IN ('grant', 'deny', 'expire')),
                decided_by text NOT NULL,
                note text NOT NULL,
                decided_at timestamptz NOT NULL DEFAULT now()
            );
            """),
    ]

    public enum Outcome: Sendable, Equatable {
        /// This decision is the approval's (now, or already by the same request).
        case decided(ApprovalStatus)
        /// Another decision came first.
        case conflict(existing: ApprovalStatus.Decision, by: String)
    }

    /// Claims `decision` for the approval and appends it. Deciding again the same way (a retried
    /// request) answers as decided; any other decision after the first is a conflict.
    public func decide(_ approval: ApprovalQueries.Approval, _ decision: ApprovalStatus.Decision, by agent: String, note: String) async throws -> Outcome {
        let rows = try await pool.query("""
            WITH claimed AS (
                INSERT INTO hilqueue_decisions.approval_decisions (approval_id, decision, decided_by, note)
                VALUES (\(approval.approvalID), \(decision.rawValue), \(agent), \(note))
                ON CONFLICT (approval_id) DO NOTHING
                RETURNING decision, decided_by, note
            )
            SELECT decision, decided_by, note FROM claimed
            UNION ALL
            SELECT decision, decided_by, note FROM hilqueue_decisions.approval_decisions
            WHERE approval_id = \(approval.approvalID) AND NOT EXISTS (SELECT 1 FROM claimed)
            """)
        guard let row = rows.first(where: { _ in true }) else { throw PostgresDecodingFailure("approval decision neither claimed nor found") }
        let existing = try ApprovalStatus.Decision(rawValue: try row.decode("decision", as: String.self)) ?? .expire
        let decidedBy = try row.decode("decided_by", as: String.self)
        guard existing == decision, decidedBy == agent else { return .conflict(existing: existing, by: decidedBy) }
        try await publish([try Self.event(for: approval, existing, by: decidedBy, note: try row.decode("note", as: String.self), producer: producer)])
        return .decided(ApprovalStatus.pending.applying(existing)!)
    }

    /// The decision as an event of the approval's conversation and turn; its id depends only on
    /// the approval, so every append of it is the same event.
    static func event(for approval: ApprovalQueries.Approval, _ decision: ApprovalStatus.Decision, by agent: String, note: String, producer: String) throws -> EventEnvelope {
        let id = DerivedID.make(from: approval.approvalID, label: "decision")
        func start<P: EventPayload>(_ payload: P) throws -> EventEnvelope {
            try EventEnvelope.start(payload, id: id, conversationID: approval.conversationID, tenantID: approval.tenantID, producer: producer, correlationID: approval.turnID)
        }
        switch decision {
        case .grant: return try start(ApprovalGranted(approvalID: approval.approvalID, stepID: approval.stepID, decidedBy: agent, note: note))
        case .deny: return try start(ApprovalDenied(approvalID: approval.approvalID, stepID: approval.stepID, decidedBy: agent, reason: note))
        case .expire: return try start(ApprovalExpired(approvalID: approval.approvalID, stepID: approval.stepID))
        }
    }

    /// Expires approvals whose time ran out (`ApprovalExpired`, which hands the conversation to
    /// a human), and appends again any claimed decision the log does not show after `grace`
    /// (a replica that died between claiming and appending). Returns how many it expired.
    @discardableResult
    public func sweep(nowMillis: Int64 = EventEnvelope.nowMillis(), grace: Duration = .seconds(10)) async throws -> Int {
        var expired = 0
        for approval in try await approvals.due(nowMillis: nowMillis, limit: 100) {
            if case .decided = try await decide(approval, .expire, by: "timeout", note: "") { expired += 1 }
        }
        let graceMillis = grace.components.seconds * 1000
        let stranded = try await pool.query("""
            SELECT d.approval_id, d.decision, d.decided_by, d.note FROM hilqueue_decisions.approval_decisions d
            JOIN \(identifier: approvals.schema).approvals a ON a.approval_id = d.approval_id
            WHERE a.status = 'pending' AND d.decided_at < to_timestamp(\(Double(nowMillis - graceMillis) / 1000)) LIMIT 100
            """)
        for row in stranded {
            guard let approval = try await approvals.approval(try row.decode("approval_id"), tenant: nil),
                  let decision = ApprovalStatus.Decision(rawValue: try row.decode("decision", as: String.self)) else { continue }
            try await publish([try Self.event(for: approval, decision, by: try row.decode("decided_by"), note: try row.decode("note"), producer: producer)])
        }
        return expired
    }
}

/// `GET /v1/approvals?status=pending|granted|denied|expired` (default pending), `GET
/// /v1/approvals/{id}`, `POST /v1/approvals/{id}/approve` (`{"agent_id", "note"?}`) and
/// `POST /v1/approvals/{id}/deny` (`{"agent_id", "reason"}`); the deciding agent is the token's
/// (`agent_id` may be left out; only `hil:admin` may name another). Errors are problem+json: 404 for
/// an unknown approval, 409 when it was decided already (with the decision), 400/415/422 for
/// bodies that are not what is asked.
struct ApprovalAPI: Sendable {
    let desk: ApprovalDesk

    static let maxBodyBytes = 4 * 1024

    func addRoutes(to routes: SecuredRoutes) {
        let agent = InboxAPI.agentAccess
        routes.get("/v1/approvals", agent) { request, _, principal in try await self.list(request, tenantID: principal.tenantID) }
        routes.get("/v1/approvals/:id", agent) { _, context, principal in try await self.show(context, tenantID: principal.tenantID) }
        routes.post("/v1/approvals/:id/approve", agent) { request, context, principal in try await self.decide(request, context, principal, .grant) }
        routes.post("/v1/approvals/:id/deny", agent) { request, context, principal in try await self.decide(request, context, principal, .deny) }
    }

    func list(_ request: Request, tenantID: String) async throws -> Response {
        guard let status = ApprovalStatus(rawValue: request.uri.queryParameters.get("status") ?? ApprovalStatus.pending.rawValue) else {
            throw ProblemDetails(.badRequest, kind: "invalid-status", title: "status must be pending, granted, denied or expired", field: "status")
        }
        let items = try await desk.approvals.approvals(status: status, tenant: tenantID, limit: 200).map(Self.json)
        return jsonResponse(.ok, bytes: JSONValue.object(["approvals": .array(items)]).serialized())
    }

    func show(_ context: EdgeRequestContext, tenantID: String) async throws -> Response {
        jsonResponse(.ok, bytes: Self.json(try await approval(context, tenantID: tenantID)).serialized())
    }

    func approval(_ context: EdgeRequestContext, tenantID: String) async throws -> ApprovalQueries.Approval {
        guard let text = context.pathParameter(), let id = UUID(uuidString: text) else {
            throw ProblemDetails(.notFound, kind: "approval-not-found", title: "No such approval")
        }
        guard let approval = try await desk.approvals.approval(id, tenant: tenantID) else {
            throw ProblemDetails(.notFound, kind: "approval-not-found", title: "No such approval", detail: "approval \(id.lowercaseString) is unknown, or not yet on the read model")
        }
        return approval
    }

    func decide(_ request: Request, _ context: EdgeRequestContext, _ principal: Principal, _ decision: ApprovalStatus.Decision) async throws -> Response {
        let (named, note) = try await Self.body(request, reasonRequired: decision == .deny)
        let agent = try InboxAPI.actingAgent(named, principal)
        let approval = try await approval(context, tenantID: principal.tenantID)
        if approval.status != .pending {
            throw ProblemDetails(.conflict, kind: "approval-decided", title: "The approval was already decided", detail: "it is \(approval.status.rawValue)")
        }
        switch try await desk.decide(approval, decision, by: agent, note: note) {
        case .decided(let status):
            var object = Self.json(approval)
            object = object.merging(status: status, by: agent, note: note)
            return jsonResponse(.ok, bytes: object.serialized())
        case .conflict(let existing, let by):
            throw ProblemDetails(.conflict, kind: "approval-decided", title: "The approval was already decided",
                                 detail: "\(ApprovalStatus.pending.applying(existing)!.rawValue) by \(by)")
        }
    }

    /// `{"agent_id": "...", "note"|"reason": "..."}`; a denial needs its reason.
    static func body(_ request: Request, reasonRequired: Bool) async throws -> (agent: String?, note: String) {
        let key = reasonRequired ? "reason" : "note"
        let body = try await JSONBody.read(request, maxBytes: maxBodyBytes, allowed: ["agent_id", key], emptyAllowed: !reasonRequired)
        return (try body.optionalIdentifier("agent_id"), try body.text(key, required: reasonRequired))
    }

    static func json(_ approval: ApprovalQueries.Approval) -> JSONValue {
        .object([
            "approval_id": .string(approval.approvalID.lowercaseString),
            "conversation_id": .string(approval.conversationID),
            "turn_id": .string(approval.turnID.lowercaseString),
            "step_id": .string(approval.stepID.lowercaseString),
            "tool": .string(approval.tool),
            "args": approval.args,
            "risk_tier": .number(Double(approval.riskTier)),
            "reason": .string(approval.reason),
            "preview": approval.preview,
            "status": .string(approval.status.rawValue),
            "requested_at": .string(Timestamp.format(millis: approval.requestedAtMillis)),
            "expires_at": .string(Timestamp.format(millis: approval.expiresAtMillis)),
            "decided_by": approval.decidedBy.map(JSONValue.string) ?? .null,
            "decision_note": approval.decisionNote.map(JSONValue.string) ?? .null,
        ])
    }
}

extension JSONValue {
    /// The approval as the decision just taken leaves it (the read model catches up shortly).
    fileprivate func merging(status: ApprovalStatus, by agent: String, note: String) -> JSONValue {
        guard case .object(var object) = self else { return self }
        object["status"] = .string(status.rawValue)
        object["decided_by"] = .string(agent)
        object["decision_note"] = .string(note)
        return .object(object)
    }
}
