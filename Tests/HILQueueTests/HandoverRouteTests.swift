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
import ReadModelTestSupport
import ReadModels
import ServiceRuntime
import Testing

/// `GET /v1/handovers` in process, against handovers the real projection wrote from events.
@Suite(.timeLimit(.minutes(1)))
struct HandoverRouteTests {
    @Test func theQueueComesByPriorityAndAStatusFilterIsChecked() async throws {
        var urgent = ConversationScript("conv-urgent")
        try urgent.customerSays("my recharge failed", at: "2026-03-10T09:05:00.000Z")
        let request = try urgent.handsOver(reason: .toolFailed, skills: ["billing", "tier2"], at: "2026-03-10T09:05:01.000Z")
        try urgent.queued("billing", priority: 1, reason: .toolFailed, at: "2026-03-10T09:05:02.000Z")
        var ordinary = ConversationScript("conv-ordinary")
        try ordinary.customerSays("a human please", at: "2026-03-10T09:01:00.000Z")
        try ordinary.handsOver(reason: .customerRequest, skills: [], at: "2026-03-10T09:01:01.000Z")
        try ordinary.queued("general", priority: 2, reason: .customerRequest, at: "2026-03-10T09:01:02.000Z")
        var waiting = ConversationScript("conv-waiting")
        try waiting.customerSays("help", at: "2026-03-10T09:09:00.000Z")
        try waiting.handsOver(reason: .customerRequest, skills: ["general"], at: "2026-03-10T09:09:01.000Z")
        var elsewhere = ConversationScript("conv-other", tenant: "other")
        try elsewhere.customerSays("help", at: "2026-03-10T09:00:00.000Z")
        try elsewhere.handsOver(reason: .customerRequest, skills: [], at: "2026-03-10T09:00:01.000Z")
        try elsewhere.queued("general", priority: 1, reason: .customerRequest, at: "2026-03-10T09:00:02.000Z")
        let events = urgent.events + ordinary.events + waiting.events + elsewhere.events
        let turn = request.correlationID.uuidString.lowercased()
        let ordinaryTurn = ordinary.events[0].correlationID.uuidString.lowercased()

        try await ScratchReadModels.with([ReadModels.hilqueue, ReadModels.gateway]) { models in
            try await models.apply(events)
            let api = InboxAPI(
                desk: HandoverDesk(pool: models.pool, producer: "test", publish: { _ in }),
                handovers: HandoverQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue)),
                conversations: ConversationQueries(pool: models.pool, schema: models.schema(ReadModels.gateway)),
                approvals: ApprovalQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue)))
            var logger = Logger(label: "hilqueue-route-tests")
            logger.logLevel = .critical
            try await Application(router: makeRouter { api.addRoutes(to: SecuredRoutes(router: $0, gatekeeper: TestAccess.gatekeeper, contract: try! APIDocument(yaml: HILQueueOpenAPI.yaml))) }, logger: logger).test(.router) { client in
                let client = SignedClient(client)
                let queued = try await client.execute(uri: "/v1/handovers", method: .get)
                #expect(queued.status == .ok)
                #expect(String(buffer: queued.body) == """
                    {"handovers":[{"conversation_id":"conv-urgent","priority":1,"queue":"billing","reason":"tool_failed",\
                    "skills":["billing","tier2"],"summary":"summary of conv-urgent","turn_id":"\(turn)"},\
                    {"conversation_id":"conv-ordinary","priority":2,"queue":"general","reason":"customer_request",\
                    "skills":[],"summary":"summary of conv-ordinary","turn_id":"\(ordinaryTurn)"}]}
                    """)

                let requested = try JSONValue.parse(Array(buffer: try await client.execute(uri: "/v1/handovers?status=requested", method: .get).body))
                #expect(requested["handovers"]?.arrayValue?.map { $0["conversation_id"] } == ["conv-waiting"])
                #expect(requested["handovers"]?[0]?["queue"] == .null)
                #expect(requested["handovers"]?[0]?["priority"] == .null)

                let bad = try await client.execute(uri: "/v1/handovers?status=closed", method: .get)
                #expect(bad.status == .badRequest)
                #expect(bad.headers[.contentType] == "application/problem+json")
                let problem = try JSONValue.parse(Array(buffer: bad.body))
                #expect(problem["type"] == .string(ProblemDetails.typeBase + "invalid-status"))
                #expect(problem["field"] == "status")
            }
        }
    }
}
