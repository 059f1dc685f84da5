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
import Testing

/// The inbox API in process over a real desk and read models: what each bad request gets
/// (problem+json, nothing appended), and the agent profile routes; plus the seed file's checks.
@Suite(.timeLimit(.minutes(1)))
struct InboxRouteTests {
    /// The published document and the routes are the same set of operations.
    @Test func theDocumentDescribesEveryRoute() async throws {
        let contract = try APIDocument(yaml: HILQueueOpenAPI.yaml)
        let pool = PostgresPool(url: "postgres://nobody@127.0.0.1:1/nothing", size: 1, logger: Logger(label: "unused"))
        let routes = SecuredRoutes(router: Router(context: EdgeRequestContext.self), gatekeeper: TestAccess.gatekeeper, contract: contract)
        InboxAPI(
            desk: HandoverDesk(pool: pool, producer: "t", publish: { _ in }), handovers: HandoverQueries(pool: pool),
            conversations: ConversationQueries(pool: pool), approvals: ApprovalQueries(pool: pool),
            changes: InboxChanges(handovers: HandoverQueries(pool: pool), approvals: ApprovalQueries(pool: pool), conversations: ConversationQueries(pool: pool))
        ).addRoutes(to: routes)
        ApprovalAPI(desk: ApprovalDesk(pool: pool, producer: "t", publish: { _ in })).addRoutes(to: routes)
        await pool.close()
        let secured = Set(routes.endpoints.filter { $0.access != nil }.map { APIDocument.operationKey(method: $0.method, path: $0.path) })
        #expect(secured == contract.operations, "only in routes: \(secured.subtracting(contract.operations)); only in the document: \(contract.operations.subtracting(secured))")
    }

    static func post(_ client: TestClientProtocol, _ uri: String, _ body: String, method: HTTPRequest.Method = .post) async throws -> (Int, JSONValue) {
        let response = try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
        return (Int(response.status.code), (try? JSONValue.parse(Array(buffer: response.body))) ?? .null)
    }

    @Test func badRequestsGetProblemsAndAppendNothing() async throws {
        try await ScratchReadModels.with([ReadModels.hilqueue, ReadModels.gateway]) { models in
            try await TestDB.withSchema(models.pool, prefix: "desk", migrations: HandoverDesk.migrations) { schema in
                let appended = Appended()
                let desk = HandoverDesk(pool: models.pool, producer: "hilqueue@test", schema: schema, publish: { appended.append($0) })
                let api = InboxAPI(
                    desk: desk, handovers: HandoverQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue)),
                    conversations: ConversationQueries(pool: models.pool, schema: models.schema(ReadModels.gateway)),
                    approvals: ApprovalQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue)))
                var logger = Logger(label: "inbox-route-tests")
                logger.logLevel = .critical
                try await Application(router: makeRouter { api.addRoutes(to: SecuredRoutes(router: $0, gatekeeper: TestAccess.gatekeeper, contract: try! APIDocument(yaml: HILQueueOpenAPI.yaml))) }, logger: logger).test(.router) { client in
                    let client = SignedClient(client)
                    let (saved, agent) = try await Self.post(client, "/v1/hil/agents/ana", #"{"name":"Ana","skills":["billing"],"capacity":2,"status":"online"}"#, method: .put)
                    #expect(saved == 200 && agent["load"] == 0 && agent["status"] == "online", "\(agent)")
                    var script = ConversationScript("c-1")
                    try script.customerSays("a person please", at: "2026-03-10T09:00:00.000Z")
                    try await desk.enqueue(try script.handsOver(reason: .customerRequest, skills: ["billing"], at: "2026-03-10T09:00:01.000Z"))
                    let queued = appended.all.count

                    for (uri, body, status, kind) in [
                        ("/v1/hil/agents/bo", #"{"name":"Bo","skills":[],"capacity":1}"#, 422, "invalid-skills"),
                        ("/v1/hil/agents/bo", #"{"name":"Bo","skills":["x"],"capacity":1.5}"#, 422, "invalid-capacity"),
                        ("/v1/hil/agents/bo", #"{"name":"Bo","skills":["x"],"capacity":1,"status":"busy"}"#, 422, "invalid-status"),
                        ("/v1/hil/claim", #"{"agent":"ana"}"#, 422, "unknown-field"),
                        ("/v1/hil/claim", #"{"agent_id":"nobody"}"#, 404, "agent-not-found"),
                        ("/v1/hil/claim", "[1]", 400, "invalid-json"),
                        ("/v1/hil/conversations/c-1/reply", #"{"agent_id":"ana","text":"hi"}"#, 409, "illegal-transition"),
                        ("/v1/hil/conversations/c-1/transfer", #"{"agent_id":"ana","to_agent":"bo","to_queue":"tech"}"#, 422, "invalid-transfer"),
                        ("/v1/hil/conversations/nope/resolve", #"{"agent_id":"ana"}"#, 404, "conversation-not-found"),
                        ("/v1/hil/agents/ghost/status", #"{"status":"online"}"#, 404, "agent-not-found"),
                    ] {
                        let (code, problem) = try await Self.post(client, uri, body, method: uri.hasPrefix("/v1/hil/agents/bo") ? .put : .post)
                        #expect(code == status && problem["type"] == .string(ProblemDetails.typeBase + kind), "\(uri) \(body): \(code) \(problem)")
                    }
                    #expect(appended.all.count == queued, "no bad request appended anything")
                    let (claimed, claim) = try await Self.post(client, "/v1/hil/claim", #"{"agent_id":"ana"}"#)
                    #expect(claimed == 200 && claim["conversation_id"] == "c-1")
                    let (replied, reply) = try await Self.post(client, "/v1/hil/conversations/c-1/reply", #"{"agent_id":"ana","text":"Hi, Ana here."}"#)
                    #expect(replied == 200 && reply["event_type"] == "AgentReplied" && reply["phase"] == "human_active")
                    let list = try await client.execute(uri: "/v1/hil/agents", method: .get)
                    #expect(try JSONValue.parse(Array(buffer: list.body))["agents"]?[0]?["load"] == 1)
                }
            }
        }
    }

    @Test func theSeedFileIsChecked() throws {
        let agents = try HILSettings.agents(yaml: "agents:\n  - { id: a, name: A, skills: [billing], capacity: 2 }\n", origin: "test")
        #expect(agents == [.init(id: "a", name: "A", skills: ["billing"], capacity: 2)])
        #expect(throws: ConfigError.self) { try HILSettings.agents(yaml: "agents:\n  - { id: a, name: A, skills: [], capacity: 2 }\n", origin: "test") }
        #expect(throws: ConfigError.self) { try HILSettings.agents(yaml: "people: []\n", origin: "test") }
        #expect(throws: ConfigError.self) { try HILSettings(environment: ["SWITCHBOARD_HIL_SLA_SECONDS": "0"]) }
        #expect(try HILSettings(environment: ["SWITCHBOARD_HIL_SLA_SECONDS": "120"]).desk.slaSeconds == 120)
    }
}
