import APIContract
import AccessControl
import AccessTestSupport
import DatabaseTestSupport
import Events
import Foundation
import Hummingbird
@testable import HILQueueApp
import HummingbirdTesting
import JSON
import Logging
import NIOCore
import Postgres
import ReadModelTestSupport
import ReadModels
import ServiceRuntime
import Synchronization
import Testing

final class Appended: Sendable {
    let events = Mutex<[EventEnvelope]>([])
    func append(_ batch: [EventEnvelope]) { events.withLock { $0 += batch } }
    var all: [EventEnvelope] { events.withLock { $0 } }
}

/// The approvals API in process: the read model filled by its projection from events, decisions
/// claimed in real Postgres, and what the desk appends checked event by event.
@Suite(.timeLimit(.minutes(1)))
struct ApprovalRouteTests {
    static let preview = EffectPreview(summary: "Refund USD 80.00 of order DEF456", changes: [.init(target: "orders/DEF456", field: "refunded", before: 0, after: 80)])

    static func requested(_ script: inout ConversationScript, timeout: Int = 900, at time: String) throws -> ApprovalRequested {
        let approval = ApprovalRequested(
            approvalID: UUID(), planID: UUID(), stepID: UUID(), tool: "create_refund", args: ["order_id": "DEF456", "amount": 80],
            riskTier: .highRiskWrite, reason: "args.amount > tenant.auto_refund_limit", preview: preview, timeoutSeconds: timeout)
        _ = try script.react(approval, at: time)
        return approval
    }

    func withDesk(_ events: [EventEnvelope], _ body: @escaping @Sendable (ScratchReadModels, ApprovalDesk, Appended, TestClientProtocol) async throws -> Void) async throws {
        try await ScratchReadModels.with([ReadModels.hilqueue]) { models in
            try await migrate(models.pool, schema: ApprovalDesk.schema, migrations: ApprovalDesk.migrations, logger: TestDB.logger)
            try await models.apply(events)
            let appended = Appended()
            let desk = ApprovalDesk(
                pool: models.pool, approvals: ApprovalQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue)),
                producer: "hilqueue@test", publish: { appended.append($0) })
            var logger = Logger(label: "approval-route-tests")
            logger.logLevel = .critical
            let api = ApprovalAPI(desk: desk)
            try await Application(router: makeRouter { api.addRoutes(to: SecuredRoutes(router: $0, gatekeeper: TestAccess.gatekeeper, contract: try! APIDocument(yaml: HILQueueOpenAPI.yaml))) }, logger: logger).test(.router) { client in
                try await body(models, desk, appended, SignedClient(client))
            }
        }
    }

    static func post(_ client: TestClientProtocol, _ uri: String, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
    }

    @Test func listApproveRepeatAndConflict() async throws {
        var refund = ConversationScript("conv-refund")
        try refund.customerSays("refund $80 on DEF456", at: "2026-03-10T09:00:00.000Z")
        let first = try Self.requested(&refund, at: "2026-03-10T09:00:01.000Z")
        var other = ConversationScript("conv-other", tenant: "other")
        try other.customerSays("refund", at: "2026-03-10T09:00:00.000Z")
        let foreign = try Self.requested(&other, at: "2026-03-10T09:00:02.000Z")

        let turnID = refund.events[0].correlationID
        try await withDesk(refund.events + other.events) { models, _, appended, client in
            let list = try JSONValue.parse(Array(buffer: try await client.execute(uri: "/v1/approvals", method: .get).body))
            let items = try #require(list["approvals"]?.arrayValue)
            #expect(items.count == 1, "only the tenant's own")
            #expect(items[0]["approval_id"] == .string(first.approvalID.lowercaseString))
            #expect(items[0]["status"] == "pending" && items[0]["tool"] == "create_refund" && items[0]["risk_tier"] == 2)
            #expect(items[0]["preview"]?["summary"] == "Refund USD 80.00 of order DEF456")
            #expect(items[0]["expires_at"] == "2026-03-10T09:15:01.000Z")

            let uri = "/v1/approvals/\(first.approvalID.lowercaseString)"
            let approved = try await Self.post(client, uri + "/approve", #"{"agent_id":"ana","note":"regular customer"}"#)
            #expect(approved.status == .ok)
            #expect(try JSONValue.parse(Array(buffer: approved.body))["status"] == "granted")
            let again = try await Self.post(client, uri + "/approve", #"{"agent_id":"ana","note":"regular customer"}"#)
            #expect(again.status == .ok, "a retried request is the same decision")
            let deny = try await Self.post(client, uri + "/deny", #"{"agent_id":"bo","reason":"fraud"}"#)
            #expect(deny.status == .conflict)
            #expect(deny.headers[.contentType] == "application/problem+json")
            #expect(try JSONValue.parse(Array(buffer: deny.body))["detail"] == "granted by ana")

            let events = appended.all
            #expect(events.count == 2 && Set(events.map(\.id)).count == 1, "one decision event, appended twice with one id")
            let granted = try events[0].decode(ApprovalGranted.self)
            #expect(granted.stepID == first.stepID && granted.decidedBy == "ana" && granted.note == "regular customer")
            #expect(events[0].conversationID == "conv-refund" && events[0].correlationID == turnID, "the approval's turn")

            // Once the log has it, the read model shows it and the API refuses before claiming.
            try await models.apply([events[0]])
            let decided = try JSONValue.parse(Array(buffer: try await client.execute(uri: "/v1/approvals?status=granted", method: .get).body))
            #expect(decided["approvals"]?[0]?["decided_by"] == "ana")
            #expect(try await Self.post(client, uri + "/deny", #"{"agent_id":"bo","reason":"x"}"#).status == .conflict)

            #expect(try await Self.post(client, "/v1/approvals/\(foreign.approvalID.lowercaseString)/approve", #"{"agent_id":"ana"}"#).status == .notFound, "another tenant's")
            #expect(try await Self.post(client, "/v1/approvals/\(UUID().uuidString)/approve", #"{"agent_id":"ana"}"#).status == .notFound)
            #expect(try await client.execute(uri: "/v1/approvals/not-a-uuid", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/v1/approvals?status=maybe", method: .get).status == .badRequest)
        }
    }

    /// An agent decides as itself, within its tenant; without the agent scope nothing is shown.
    @Test func agentsActAsThemselvesInTheirTenant() async throws {
        var refund = ConversationScript("conv-refund")
        try refund.customerSays("refund $80 on DEF456", at: "2026-03-10T09:00:00.000Z")
        let first = try Self.requested(&refund, at: "2026-03-10T09:00:01.000Z")
        try await withDesk(refund.events) { _, _, appended, client in
            func call(_ uri: String, _ body: String?, _ token: String) async throws -> TestResponse {
                try await client.execute(
                    uri: uri, method: body == nil ? .get : .post, headers: [.contentType: "application/json", .authorization: "Bearer \(token)"],
                    body: body.map { ByteBuffer(string: $0) })
            }
            let ana = TestAccess.token(scopes: [.hilAgent], subject: "ana", kind: .agent)
            let uri = "/v1/approvals/\(first.approvalID.lowercaseString)"
            let impersonating = try await call(uri + "/approve", #"{"agent_id":"bo"}"#, ana)
            #expect(impersonating.status == .forbidden && String(buffer: impersonating.body).contains("not-this-agent"))
            let otherTenant = TestAccess.token(tenant: "other", scopes: [.hilAgent], subject: "ana", kind: .agent)
            #expect(try await call("/v1/approvals", nil, otherTenant).body.readableBytes > 0)
            #expect(try JSONValue.parse(Array(buffer: try await call("/v1/approvals", nil, otherTenant).body))["approvals"] == [], "another tenant's agent sees none")
            #expect(try await call(uri + "/approve", "{}", otherTenant).status == .notFound)
            #expect(try await call("/v1/approvals", nil, TestAccess.token(scopes: [.conversationsRead])).status == .forbidden)
            #expect(try await (client as! SignedClient).unsigned.execute(uri: "/v1/approvals", method: .get).status == .unauthorized)
            #expect(appended.all.isEmpty, "nothing decided so far")
            // The agent's own decision, with no agent_id in the body: decided by the token's agent.
            let approved = try await call(uri + "/approve", "", ana)
            #expect(approved.status == .ok)
            #expect(try appended.all.first?.decode(ApprovalGranted.self).decidedBy == "ana")
        }
    }

    @Test(arguments: [
        ("/deny", #"{"agent_id":"bo"}"#, 422, "invalid-reason"),
        ("/deny", #"{"agent_id":"bo","reason":"   "}"#, 422, "invalid-reason"),
        ("/approve", #"{"agent_id":5,"note":"ok"}"#, 422, "invalid-agent"),
        ("/approve", #"{"agent_id":"","note":"ok"}"#, 422, "invalid-agent"),
        ("/approve", #"{"agent_id":"ana","extra":1}"#, 422, "unknown-field"),
        ("/approve", #"{"agent_id":"ana","note":5}"#, 422, "invalid-note"),
        ("/approve", #"not json"#, 400, "invalid-json"),
        ("/approve", #"[1]"#, 400, "invalid-json"),
    ])
    func badBodiesAreRefusedAndDecideNothing(path: String, body: String, status: Int, kind: String) async throws {
        var refund = ConversationScript("conv-bad")
        try refund.customerSays("refund", at: "2026-03-10T09:00:00.000Z")
        let approval = try Self.requested(&refund, at: "2026-03-10T09:00:01.000Z")
        try await withDesk(refund.events) { _, _, appended, client in
            let response = try await Self.post(client, "/v1/approvals/\(approval.approvalID.lowercaseString)" + path, body)
            #expect(Int(response.status.code) == status)
            #expect(try JSONValue.parse(Array(buffer: response.body))["type"] == .string(ProblemDetails.typeBase + kind))
            #expect(appended.all.isEmpty)
        }
    }

    /// Many agents press approve and deny at once: exactly one wins, the rest get 409, and only
    /// the winner's decision is appended.
    @Test func concurrentDecisionsHaveOneWinner() async throws {
        var refund = ConversationScript("conv-race")
        try refund.customerSays("refund", at: "2026-03-10T09:00:00.000Z")
        let approval = try Self.requested(&refund, at: "2026-03-10T09:00:01.000Z")
        try await withDesk(refund.events) { _, desk, appended, _ in
            let stored = try #require(try await desk.approvals.approval(approval.approvalID, tenant: "default"))
            let outcomes = try await withThrowingTaskGroup(of: ApprovalDesk.Outcome.self) { group in
                for index in 0..<16 {
                    group.addTask { try await desk.decide(stored, index % 2 == 0 ? .grant : .deny, by: "agent-\(index)", note: "n\(index)") }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .decided = $0 { true } else { false } }.count == 1)
            #expect(Set(appended.all.map(\.id)).count == 1 && appended.all.count == 1)
        }
    }

    /// An approval past its deadline expires once; a human's decision after that is refused.
    @Test func theSweeperExpiresOverdueApprovals() async throws {
        var late = ConversationScript("conv-late")
        try late.customerSays("refund", at: "2026-03-10T09:00:00.000Z")
        let overdue = try Self.requested(&late, timeout: 60, at: "2026-03-10T09:00:01.000Z")
        var fresh = ConversationScript("conv-fresh")
        try fresh.customerSays("refund", at: "2026-03-10T09:00:00.000Z")
        _ = try Self.requested(&fresh, timeout: 3600, at: "2026-03-10T09:00:01.000Z")
        try await withDesk(late.events + fresh.events) { models, desk, appended, client in
            let now = ConversationScript.millis("2026-03-10T09:30:00.000Z")
            #expect(try await desk.sweep(nowMillis: now) == 1)
            // Until the read model shows the expiry, a sweep appends the same event again.
            #expect(try await desk.sweep(nowMillis: now) == 1)
            let events = appended.all
            #expect(events.count == 2 && Set(events.map(\.id)).count == 1)
            #expect(try events[0].decode(ApprovalExpired.self).approvalID == overdue.approvalID)
            let refused = try await Self.post(client, "/v1/approvals/\(overdue.approvalID.lowercaseString)/approve", #"{"agent_id":"ana"}"#)
            #expect(refused.status == .conflict)
            try await models.apply([events[0]])
            #expect(try await desk.sweep(nowMillis: now) == 0, "the log has it: nothing more to do")
            #expect(appended.all.count == 2)
            let expired = try JSONValue.parse(Array(buffer: try await client.execute(uri: "/v1/approvals?status=expired", method: .get).body))
            #expect(expired["approvals"]?.arrayValue?.count == 1)
        }
    }

    /// A replica that claimed a decision and died before appending it: the sweeper appends it
    /// once the grace period has passed and the log still does not show it.
    @Test func aClaimedDecisionNeverAppendedIsAppendedBySweeping() async throws {
        var stranded = ConversationScript("conv-stranded")
        try stranded.customerSays("refund", at: "2026-03-10T09:00:00.000Z")
        let approval = try Self.requested(&stranded, timeout: 86_400, at: "2026-03-10T09:00:01.000Z")
        try await ScratchReadModels.with([ReadModels.hilqueue]) { models in
            try await migrate(models.pool, schema: ApprovalDesk.schema, migrations: ApprovalDesk.migrations, logger: TestDB.logger)
            try await models.apply(stranded.events)
            let queries = ApprovalQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue))
            struct Died: Error {}
            let dying = ApprovalDesk(pool: models.pool, approvals: queries, producer: "hilqueue@test", publish: { _ in throw Died() })
            let stored = try #require(try await queries.approval(approval.approvalID, tenant: "default"))
            await #expect(throws: Died.self) { _ = try await dying.decide(stored, .grant, by: "ana", note: "ok") }

            let appended = Appended()
            let sweeper = ApprovalDesk(pool: models.pool, approvals: queries, producer: "hilqueue@test", publish: { appended.append($0) })
            try await sweeper.sweep(grace: .seconds(10))
            #expect(appended.all.isEmpty, "within the grace period the claiming replica may still append")
            try await sweeper.sweep(nowMillis: EventEnvelope.nowMillis() + 11_000, grace: .seconds(10))
            let granted = try #require(appended.all.first).decode(ApprovalGranted.self)
            #expect(appended.all.count == 1 && granted.approvalID == approval.approvalID && granted.decidedBy == "ana")
        }
    }
}
