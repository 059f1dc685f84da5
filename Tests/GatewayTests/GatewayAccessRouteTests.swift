import AccessControl
import APIContract
import Hummingbird
import ServiceRuntime
import AccessTestSupport
import Auth
import Events
import Foundation
@testable import GatewayApp
import HTTPTypes
import HummingbirdTesting
import JSON
import NIOCore
import Postgres
import ReadModels
import ReadModelTestSupport
import ServiceRuntime
import Testing

/// Who may call what, through the real routes and the real gatekeeper, over read models filled
/// with two tenants' conversations (`GatewayReadRouteTests.Story`: conv-a and conv-b of
/// tenant `default`, customers cus-1 and cus-2; conv-x of tenant `other`, customer cus-9).
@Suite(.timeLimit(.minutes(2)))
struct GatewayAccessRouteTests {
    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    static func withStory(publish: @escaping @Sendable (EventEnvelope) async throws -> Void = { _ in }, _ test: @escaping @Sendable (GatewayReadRouteTests.Story, SignedClient) async throws -> Void) async throws {
        let story = try GatewayReadRouteTests.Story()
        try await ScratchReadModels.with([ReadModels.gateway, ReadModels.cases, ReadModels.costs]) { models in
            try await models.apply(story.events)
            try await GatewayUnderTest.run(
                pool: models.pool, gateway: models.schema(ReadModels.gateway), cases: models.schema(ReadModels.cases), costs: models.schema(ReadModels.costs),
                publish: publish
            ) { client in try await test(story, client as! SignedClient) }
        }
    }

    @Test func everyEndpointButThePagesNeedsCredentials() async throws {
        try await Self.withStory { _, client in
            for (method, uri) in [
                (HTTPRequest.Method.post, "/v1/conversations/conv-a/messages"), (.get, "/v1/conversations/conv-a"), (.get, "/v1/conversations/conv-a/stream"),
                (.get, "/v1/conversations"), (.get, "/v1/conversations/conv-a/events"), (.get, "/v1/costs/summary"), (.get, "/v1/kpis"),
                (.post, "/v1/sessions"), (.put, "/v1/customers/cus_a/memory-consent"),
            ] {
                let response = try await client.unsigned.execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
                #expect(response.status == .unauthorized, "\(method) \(uri)")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(method) \(uri)")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            for uri in ["/", "/widget.js"] {
                #expect(try await client.unsigned.execute(uri: uri, method: .get).status == .ok, "\(uri) is public")
            }
            // A bad token, an expired one, and one signed by keys the gateway does not know.
            let foreign = try TokenIssuer(keySet: try AuthKeySet.generateDevelopment()).issue(for: Principal(tenantID: "default", subject: "x", kind: .user, scopes: [.admin]), ttl: .seconds(60))
            for token in ["nonsense", foreign] {
                let response = try await client.unsigned.execute(uri: "/v1/conversations", method: .get, headers: Self.bearer(token))
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("invalid-credentials"))
                #expect(!String(buffer: response.body).contains(token), "a refused token is never echoed")
            }
        }
    }

    @Test func scopesAreEnforced() async throws {
        try await Self.withStory { _, client in
            let chatOnly = TestAccess.token(scopes: [.chatSend])
            let reader = TestAccess.token(scopes: [.conversationsRead])
            for (token, uri, status) in [
                (chatOnly, "/v1/conversations", HTTPResponse.Status.forbidden), (chatOnly, "/v1/kpis", .forbidden), (reader, "/v1/kpis", .forbidden),
                (reader, "/v1/conversations", .ok), (reader, "/v1/conversations/conv-a", .ok), (TestAccess.token(scopes: [.analyticsRead]), "/v1/costs/summary", .ok),
            ] {
                let response = try await client.execute(uri: uri, method: .get, headers: Self.bearer(token))
                #expect(response.status == status, "\(uri)")
                if status == .forbidden { #expect(String(buffer: response.body).contains("insufficient-scope")) }
            }
            let posted = try await client.execute(uri: "/v1/conversations/conv-a/messages", method: .post, headers: Self.bearer(reader), body: ByteBuffer(string: #"{"customer_id":"cus-1","text":"hi"}"#))
            #expect(posted.status == .forbidden, "reading is not writing")
        }
    }

    /// The tenant comes from the credential: another tenant's conversation is a 404 on every
    /// endpoint, its lists and figures are empty, and it cannot be written into.
    @Test func anotherTenantSeesNothingOfTheFirst() async throws {
        let published = PublishedEvents()
        try await Self.withStory(publish: { published.append($0) }) { _, client in
            let other = TestAccess.token(tenant: "other")
            for uri in ["/v1/conversations/conv-a", "/v1/conversations/conv-a/stream"] {
                let response = try await client.execute(uri: uri, method: .get, headers: Self.bearer(other))
                #expect(response.status == .notFound, "\(uri)")
            }
            let events = try await client.execute(uri: "/v1/conversations/conv-a/events", method: .get, headers: Self.bearer(other))
            #expect(events.json?["events"] == [], "no events of another tenant")
            let list = try await client.execute(uri: "/v1/conversations", method: .get, headers: Self.bearer(other))
            #expect(list.json?["conversations"]?.arrayValue?.map { $0["conversation_id"] } == ["conv-x"])
            let costs = try await client.execute(uri: "/v1/costs/summary?group_by=conversation&at=2026-03-10T12:00:00Z", method: .get, headers: Self.bearer(other))
            #expect(!String(buffer: costs.body).contains("conv-a") && !String(buffer: costs.body).contains("conv-b"), "\(String(buffer: costs.body))")
            let written = try await client.execute(uri: "/v1/conversations/conv-a/messages", method: .post, headers: Self.bearer(other), body: ByteBuffer(string: #"{"customer_id":"cus-1","text":"hi"}"#))
            #expect(written.status == .notFound)
            // The body cannot choose the tenant: the event is the credential's tenant's.
            let own = try await client.execute(uri: "/v1/conversations/conv-new/messages", method: .post, headers: Self.bearer(other), body: ByteBuffer(string: #"{"customer_id":"cus_x","text":"hi"}"#))
            #expect(own.status == .accepted)
            #expect(published.all.map(\.tenantID) == ["other"])
        }
    }

    /// A customer session speaks for one customer: its own conversations only, its own
    /// customer id whatever the body says, and no reading of lists.
    @Test func aCustomerSessionIsConfinedToItsCustomer() async throws {
        let published = PublishedEvents()
        try await Self.withStory(publish: { published.append($0) }) { _, client in
            let customerA = "cus-1"
            let session = TestAccess.token(customer: customerA)
            #expect(try await client.execute(uri: "/v1/conversations/conv-a", method: .get, headers: Self.bearer(session)).status == .ok)
            #expect(try await client.execute(uri: "/v1/conversations/conv-b", method: .get, headers: Self.bearer(session)).status == .notFound)
            #expect(try await client.execute(uri: "/v1/conversations", method: .get, headers: Self.bearer(session)).status == .forbidden)
            let intoB = try await client.execute(uri: "/v1/conversations/conv-b/messages", method: .post, headers: Self.bearer(session), body: ByteBuffer(string: #"{"customer_id":"cus-1","text":"hi"}"#))
            #expect(intoB.status == .notFound)
            let asB = try await client.execute(uri: "/v1/conversations/conv-a/messages", method: .post, headers: Self.bearer(session), body: ByteBuffer(string: #"{"customer_id":"someone_else","text":"hi"}"#))
            #expect(asB.status == .forbidden && asB.json?["type"] == .string(ProblemDetails.typeBase + "wrong-customer"))
            let mine = try await client.execute(uri: "/v1/conversations/conv-a/messages", method: .post, headers: Self.bearer(session), body: ByteBuffer(string: #"{"customer_id":"cus-1","text":"and now?"}"#))
            #expect(mine.status == .accepted)
            let message = try #require(published.all.first).decode(MessageReceived.self)
            #expect(message.customerID == customerA && published.all.count == 1)
            // Sessions cannot mint sessions; a backend's token can, for its own tenant only.
            #expect(try await client.execute(uri: "/v1/sessions", method: .post, headers: Self.bearer(session), body: ByteBuffer(string: #"{"customer_id":"x"}"#)).status == .forbidden)
            let minted = try await client.execute(uri: "/v1/sessions", method: .post, headers: Self.bearer(TestAccess.token(tenant: "other", scopes: [.chatSend])), body: ByteBuffer(string: #"{"customer_id":"cus_9","ttl_seconds":120}"#))
            #expect(minted.status == .created && minted.json?["expires_in"] == 120)
            let principal = try TokenVerifier(keySet: TestAccess.keySet).verify(try #require(minted.json?["token"]?.stringValue))
            #expect(principal.tenantID == "other" && principal.customerID == "cus_9" && principal.scopes == [.chatSend] && principal.kind == .customerSession)
        }
    }

    /// A customer session past its bucket is refused 429 with Retry-After (its own limit, not
    /// another session's), through the real gatekeeper.
    @Test func aSessionPastItsLimitIsTooManyRequests() async throws {
        let gatekeeper = Gatekeeper(settings: AccessSettings(keySet: TestAccess.keySet, sessionLimit: .init(capacity: 2, refillPerSecond: 0.01)), apiKeys: nil)
        let router = Router(context: EdgeRequestContext.self)
        let routes = SecuredRoutes(router: router, gatekeeper: gatekeeper)
        routes.get("/probe", Access(.chatSend)) { _, _, _ in Response(status: .ok) }
        try await Application(router: router).test(.router) { client in
            let session = TestAccess.token(customer: "cus-1")
            for _ in 0..<2 { #expect(try await client.execute(uri: "/probe", method: .get, headers: Self.bearer(session)).status == .ok) }
            let limited = try await client.execute(uri: "/probe", method: .get, headers: Self.bearer(session))
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try await client.execute(uri: "/probe", method: .get, headers: Self.bearer(TestAccess.token(customer: "cus-2"))).status == .ok, "another session has its own bucket")
        }
    }

    /// Without `customer_id` a backend's message is refused; a message into another customer's
    /// conversation is a conflict; both append nothing.
    @Test func aBackendNamesTheCustomerAndCannotMixCustomers() async throws {
        let published = PublishedEvents()
        try await Self.withStory(publish: { published.append($0) }) { _, client in
            let backend = TestAccess.token(scopes: [.chatSend])
            let missing = try await client.execute(uri: "/v1/conversations/conv-new/messages", method: .post, headers: Self.bearer(backend), body: ByteBuffer(string: #"{"text":"hi"}"#))
            #expect(missing.status == .unprocessableContent && missing.json?["field"] == "customer_id")
            let mixed = try await client.execute(uri: "/v1/conversations/conv-a/messages", method: .post, headers: Self.bearer(backend), body: ByteBuffer(string: #"{"customer_id":"intruder","text":"hi"}"#))
            #expect(mixed.status == .conflict)
            #expect(published.all.isEmpty)
        }
    }

    /// Accepted once the log took the event; a retry with the same Idempotency-Key keeps its ids.
    @Test func aValidMessageIsAppendedThenAcceptedAndARetryKeepsItsIds() async throws {
        let published = PublishedEvents()
        try await Self.withStory(publish: { published.append($0) }) { _, client in
            let key = HTTPField.Name("Idempotency-Key")!
            let headers: HTTPFields = [.contentType: "application/json; charset=utf-8", key: "retry-1"]
            let first = try await client.post("/v1/conversations/conv-1/messages", json: #"{"customer_id":"cus_1","text":"Where is ABC123?"}"#, headers: headers)
            let second = try await client.post("/v1/conversations/conv-1/messages", json: #"{"customer_id":"cus_1","text":"Where is ABC123?"}"#, headers: headers)
            #expect(first.status == .accepted)
            #expect(first.headers[.location] == "/v1/conversations/conv-1")
            #expect(first.json?["status"] == "accepted" && first.json?["conversation_id"] == "conv-1")
            #expect(first.text == second.text, "a retried request gets the same ids")
            let events = published.all
            #expect(events.count == 2)
            let message = try #require(events.first).decode(MessageReceived.self)
            #expect((message.customerID, message.text) == ("cus_1", "Where is ABC123?"))
            #expect(first.json?["message_id"] == .string(events[0].id.uuidString.lowercased()))
            #expect(first.json?["turn_id"] == .string(events[0].correlationID.uuidString.lowercased()))
            #expect(events[0].tenantID == GatewayUnderTest.tenant)
        }
    }

    @Test func aLogOutageIsAServiceUnavailableToRetry() async throws {
        struct BrokerDown: Error {}
        try await Self.withStory(publish: { _ in throw BrokerDown() }) { _, client in
            let response = try await client.post("/v1/conversations/conv-1/messages", json: #"{"customer_id":"c","text":"hi"}"#)
            GatewayValidationRouteTests.expectProblem(response, .serviceUnavailable, "log-unavailable", field: nil)
            #expect(response.headers[.retryAfter] == "1")
        }
    }

    /// The published document and the routes are the same set of operations, and it is served.
    @Test func theDocumentDescribesEveryRouteAndIsServed() async throws {
        let contract = try APIDocument(yaml: GatewayOpenAPI.yaml)
        let router = Router(context: EdgeRequestContext.self)
        let routes = SecuredRoutes(router: router, gatekeeper: TestAccess.gatekeeper, contract: contract)
        let pool = PostgresPool(url: "postgres://nobody@127.0.0.1:1/nothing", size: 1, logger: .init(label: "unused"))
        let api = GatewayAPI(
            publish: { _ in }, conversations: ConversationQueries(pool: pool), audit: AuditQueries(pool: pool), tickets: TicketQueries(pool: pool),
            costs: CostQueries(pool: pool), waiters: ReplyWaiters(), producer: "t", sessionIssuer: nil, vault: .init(pool: pool))
        api.addRoutes(to: routes)
        await pool.close()
        let secured = Set(routes.endpoints.filter { $0.access != nil }.map { APIDocument.operationKey(method: $0.method, path: $0.path) })
        #expect(secured == contract.operations, "only in routes: \(secured.subtracting(contract.operations)); only in the document: \(contract.operations.subtracting(secured))")
        try await GatewayUnderTest.withoutDatabase { client in
            let served = try await client.get("/openapi.json")
            #expect(served.status == .ok && served.json?["openapi"] == "3.1.0" && served.json?["paths"]?["/v1/sessions"] != nil)
            let trace = try await client.execute(uri: "/v1/sessions", method: .init("TRACE")!)
            #expect(trace.status == .methodNotAllowed && trace.headers[.allow] == "POST", "a method the document does not list for a path it does")
            #expect(try await client.get("/v1/nowhere").status == .notFound)
        }
    }

    /// Bodies are checked against the document after the caller is admitted: a schema breach
    /// is a 422 naming the field, a too-deep body a 400, and neither reaches a handler.
    @Test func bodiesAreCheckedAgainstTheDocument() async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            let unknown = try await client.post("/v1/sessions", json: #"{"customer_id":"c1","role":"admin"}"#)
            #expect(unknown.status == .unprocessableContent && unknown.json?["type"] == .string(ProblemDetails.typeBase + "unknown-field") && unknown.json?["field"] == "role")
            let wrongType = try await client.post("/v1/sessions", json: #"{"customer_id":"c1","ttl_seconds":"long"}"#)
            #expect(wrongType.status == .unprocessableContent && wrongType.json?["field"] == "ttl_seconds", "\(wrongType.text)")
            let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
            let tooDeep = try await client.post("/v1/conversations/c-1/messages", json: #"{"text":"hi","customer_id":"c","x":"# + deep + "}")
            #expect(tooDeep.status == .badRequest && tooDeep.json?["type"] == .string(ProblemDetails.typeBase + "too-deep"))
            // Without credentials the body is never looked at.
            let anonymous = try await (client as! SignedClient).unsigned.execute(uri: "/v1/sessions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{"))
            #expect(anonymous.status == .unauthorized)
        }
    }
}
