import AccessTestSupport
import CustomerKeys
import DatabaseTestSupport
import Events
import Foundation
@testable import GatewayApp
import HTTPTypes
import HummingbirdTesting
import JSON
import NIOCore
import Privacy
import ReadModels
import ReadModelTestSupport
import ServiceRuntime
import Testing

/// Personal data at the door (docs/SECURITY.md): what the log's clear text holds, the sealed
/// original, and erasure by destroying the customer's key.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GatewayPrivacyRouteTests {
    static func withGateway(shedder: LoadShedder = LoadShedder(settings: .init()), _ test: @escaping @Sendable (PublishedEvents, CustomerKeyVault, SignedClient) async throws -> Void) async throws {
        let published = PublishedEvents()
        try await ScratchReadModels.with([ReadModels.gateway, ReadModels.cases, ReadModels.costs]) { models in
            let vault = CustomerKeyVault(pool: models.pool)
            try await vault.migrate(logger: TestDB.logger)
            try await GatewayUnderTest.run(
                pool: models.pool, gateway: models.schema(ReadModels.gateway), cases: models.schema(ReadModels.cases), costs: models.schema(ReadModels.costs),
                publish: { published.append($0) }, shedder: shedder
            ) { client in try await test(published, vault, client as! SignedClient) }
        }
    }

    @Test func personalDataIsRedactedInClearAndSealedUnderTheCustomersKey() async throws {
        let customer = "cus_pii_\(UUID().uuidString.prefix(8))"
        try await Self.withGateway { published, vault, client in
            let text = "I'm ada@example.com, card 4111 1111 1111 1111, order ABC123"
            let response = try await client.post("/v1/conversations/pii-1/messages", json: JSONValue.object(["customer_id": .string(customer), "text": .string(text)]).serializedString())
            #expect(response.status == .accepted)
            let event = try #require(published.all.first)
            let message = try event.decode(MessageReceived.self)
            #expect(message.text == "I'm [EMAIL], card [CARD], order ABC123")
            #expect(message.redactions == ["email": 1, "payment_card": 1])
            let sealed = try #require(message.sealed)
            #expect(!String(decoding: EventCodec.encode(event), as: UTF8.self).contains("ada@example.com"), "the original is nowhere in clear on the log")
            // Only the customer's key opens it, and only for this event.
            #expect(try await vault.open(sealed, context: event.id.lowercaseString) == text)
            #expect(throws: (any Error).self) { try Sealer.open(sealed, key: CustomerKey.generate(), context: event.id.lowercaseString) }
            // A message without personal data is not sealed at all.
            _ = try await client.post("/v1/conversations/pii-1/messages", json: JSONValue.object(["customer_id": .string(customer), "text": "Where is ABC123?"]).serializedString())
            let plain = try published.all[1].decode(MessageReceived.self)
            #expect(plain.text == "Where is ABC123?" && plain.sealed == nil && plain.redactions == nil)

            // Erasure: the key is destroyed, CustomerErased appended; the sealed original can never be opened again.
            let erased = try await client.execute(uri: "/v1/customers/\(customer)", method: .delete)
            #expect(erased.status == .accepted && erased.json?["key_destroyed"] == true)
            let erasure = try #require(published.all.last)
            #expect(erasure.type == CustomerErased.eventType && erasure.conversationID == "customer:\(customer)")
            #expect(try await vault.existing(tenant: "default", customer: customer) == nil)
            #expect(try await vault.open(sealed, context: event.id.lowercaseString) == nil)
            // Only an administrator erases.
            let agent = TestAccess.token(scopes: [.hilAgent, .conversationsRead], subject: "ana", kind: .agent)
            #expect(try await client.execute(uri: "/v1/customers/\(customer)", method: .delete, headers: [.authorization: "Bearer \(agent)"]).status == .forbidden)
        }
    }

    /// Overloaded (the planner far behind): a message gets 503 with Retry-After and the way to
    /// be answered by email; that request is recorded, its address sealed, nothing else appended.
    @Test func anOverloadedGatewayShedsAndOffersAnAnswerByEmail() async throws {
        let shedder = LoadShedder(settings: .init(maxHeld: 100, maxLag: 10))
        shedder.record(lag: 11)
        let customer = "cus_busy_\(UUID().uuidString.prefix(8))"
        try await Self.withGateway(shedder: shedder) { published, vault, client in
            let refused = try await client.post("/v1/conversations/busy-1/messages", json: JSONValue.object(["customer_id": .string(customer), "text": "Where is ABC123?"]).serializedString())
            #expect(refused.status == .serviceUnavailable && refused.headers[.retryAfter] == "5")
            #expect(refused.json?["type"] == .string(ProblemDetails.typeBase + "overloaded"))
            #expect(refused.json?["answer_by_email"] == "/v1/conversations/busy-1/answer-by-email")
            #expect(published.all.isEmpty)

            let bad = try await client.post("/v1/conversations/busy-1/answer-by-email", json: JSONValue.object(["customer_id": .string(customer), "email": "not an address", "text": "x"]).serializedString())
            #expect(bad.status == .unprocessableContent && bad.json?["field"] == "email")
            let asked = try await client.post("/v1/conversations/busy-1/answer-by-email", json: JSONValue.object([
                "customer_id": .string(customer), "email": "ada@example.com", "text": "Where is ABC123? Card 4111 1111 1111 1111",
            ]).serializedString())
            #expect(asked.status == .accepted)
            let event = try #require(published.all.first)
            let request = try event.decode(AnswerByEmailRequested.self)
            #expect(request.text == "Where is ABC123? Card [CARD]" && request.customerID == customer)
            #expect(try await vault.open(request.sealed, context: event.id.lowercaseString) == #"{"email":"ada@example.com","text":"Where is ABC123? Card 4111 1111 1111 1111"}"#)

            // Caught up again: messages are taken.
            shedder.record(lag: 0)
            #expect(try await client.post("/v1/conversations/busy-1/messages", json: JSONValue.object(["customer_id": .string(customer), "text": "Where is ABC123?"]).serializedString()).status == .accepted)
        }
    }

    @Test func heldMessagesAreCountedAndReleased() {
        let shedder = LoadShedder(settings: .init(maxHeld: 2, maxLag: 0))
        #expect(shedder.enter() == nil && shedder.enter() == nil)
        #expect(shedder.enter() == .tooManyHeld(2))
        shedder.leave()
        #expect(shedder.enter() == nil)
        shedder.record(lag: 1_000_000)
        shedder.leave()
        #expect(shedder.enter() == nil, "a lag limit of 0 is off")
    }
}
