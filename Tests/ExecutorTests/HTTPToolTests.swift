import DomainPack
import Events
@testable import ExecutorApp
import Foundation
import HTTPClient
import JSON
import Testing
import ToolBindings
import ToolRuntime
import UpstreamFixture

/// HTTP-bound steps through the executor's reactor, against a scripted upstream and real
/// Postgres: the step id travels as the Idempotency-Key, the result is recorded once, and a
/// redelivered step gets the recorded result without calling again.
@Suite(.timeLimit(.minutes(1)))
struct HTTPToolTests {
    /// The retail pack with `get_order_status` bound to the upstream path.
    static func pack(path: String, upstream: Upstream, tune: (inout ToolOperations) -> Void = { _ in }) -> DomainPack {
        var pack = retailPack
        var contract = pack.tools["get_order_status"]!
        contract.binding = "http"
        contract.operations.retry = RetryPolicy(attempts: 3, baseDelay: .milliseconds(5))
        tune(&contract.operations)
        contract.operations.http = HTTPBinding(method: "POST", urlTemplate: upstream.url(path))
        pack.tools["get_order_status"] = contract
        return pack
    }

    func run(
        path: String, deliveries: Int, steps: Int = 1, tune: (inout ToolOperations) -> Void = { _ in },
        _ check: ([EventEnvelope], [(path: String, key: String?)], UUID) throws -> Void
    ) async throws {
        let upstream = try Upstream.start()
        let client = HTTPClient(logger: ExecutorDB.logger)
        defer { upstream.stop() }
        try await ExecutorDB.withPool { pool in
            let published = Published()
            let caller = HTTPToolCaller(client: client, secrets: [:], breakers: CircuitBreaker(config: BreakerConfig(failureThreshold: 50, coolDown: .seconds(1))))
            let reactor = ExecutorReactor(
                pack: Self.pack(path: path, upstream: upstream, tune: tune), tools: [], pool: pool, producer: "executor@test", logger: ExecutorDB.logger, http: caller,
                publish: { published.append($0) })
            var stepID = UUID()
            for _ in 0..<steps {
                stepID = UUID()
                let step = try EventEnvelope.start(
                    StepApproved(planID: UUID(), stepID: stepID, tool: "get_order_status", args: ["order_id": "ABC123"], riskTier: .read),
                    conversationID: "conv-http", tenantID: "default", producer: "test")
                for _ in 0..<deliveries { try await reactor.handle(step) }
            }
            try check(published.all, try await upstream.log(client), stepID)
        }
        await client.shutdown()
    }

    @Test func aRedeliveredStepIsCalledOnceAndGetsTheRecordedResult() async throws {
        try await run(path: "/ok/orders/{order_id}", deliveries: 3) { events, requests, stepID throws in
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded", "ToolSucceeded", "ToolSucceeded"])
            #expect(Set(events.dropFirst().map { EventCodec.encode($0) }).count == 1, "the same result event, byte for byte")
            #expect(requests.map(\.key) == [stepID.lowercaseString], "one request, keyed by the step id")
            #expect(try events[1].decode(ToolSucceeded.self).result["path"] == "/ok/orders/ABC123")
        }
    }

    @Test func retriesKeepTheStepIDAsTheIdempotencyKey() async throws {
        try await run(path: "/flaky/orders/{order_id}", deliveries: 1) { events, requests, stepID throws in
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded"])
            #expect(requests.map(\.key) == Array(repeating: stepID.lowercaseString, count: 3))
        }
    }

    @Test func anUpstreamThatStaysDownFailsTheStepWithACode() async throws {
        try await run(path: "/down/orders/{order_id}", deliveries: 1) { events, requests, _ throws in
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolFailed"])
            let failed = try events[1].decode(ToolFailed.self)
            #expect(failed.error.code == "upstream_error")
            #expect(failed.error.retriable)
            #expect(requests.count == 3)
        }
    }

    @Test func aRejectedRequestIsCustomerFixableAndNotRetried() async throws {
        try await run(path: "/notfound/orders/{order_id}", deliveries: 1) { events, requests, _ throws in
            let failed = try events[1].decode(ToolFailed.self)
            #expect(failed.error.code == "rejected_request")
            #expect(!failed.error.retriable)
            #expect(requests.count == 1)
        }
    }

    @Test func aReadToolWithACacheTTLCallsOnceForTheSameArguments() async throws {
        try await run(path: "/ok/orders/{order_id}", deliveries: 1, steps: 2, tune: { $0.cacheTTL = .seconds(60) }) { events, requests, _ throws in
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded", "ToolCallStarted", "ToolSucceeded"])
            #expect(requests.count == 1, "the second step was answered from the cache")
        }
    }

    @Test func aToolOverItsRateLimitFailsWithoutCalling() async throws {
        try await run(path: "/ok/orders/{order_id}", deliveries: 1, steps: 2, tune: { $0.rateLimit = .init(perSecond: 0.01, burst: 1) }) { events, requests, _ throws in
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded", "ToolCallStarted", "ToolFailed"])
            #expect(try events[3].decode(ToolFailed.self).error.code == "rate_limited")
            #expect(requests.count == 1)
        }
    }

    /// An operation of an OpenAPI document, called as a tool: arguments valid by its imported
    /// schema reach the upstream as path, query and JSON body.
    @Test func anOpenAPIOperationIsCalledWithItsArgumentsWhereTheDocumentSaysTheyGo() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        let document = """
            openapi: 3.0.3
            info: { title: Shop, version: "1" }
            paths:
              /orders/{order_id}/refunds:
                post:
                  operationId: create_refund
                  parameters:
                    - { name: order_id, in: path, required: true, schema: { type: string } }
                    - { name: notify, in: query, schema: { type: boolean } }
                  requestBody:
                    required: true
                    content: { application/json: { schema: { type: object, required: [amount_cents], properties: { amount_cents: { type: integer } } } } }
                  responses: { "200": { description: ok } }
            """
        let tool = try #require(try OpenAPIImport.tools(from: .init(text: document, origin: "test", baseURL: upstream.url("/ok"))).first)
        let arguments: JSONValue = ["order_id": "ABC123", "notify": true, "body": ["amount_cents": 500]]
        #expect(tool.inputSchema.isValid(arguments))
        var pack = retailPack
        pack.tools[tool.name] = tool
        let client = HTTPClient(logger: ExecutorDB.logger)
        try await ExecutorDB.withPool { pool in
            let published = Published()
            let caller = HTTPToolCaller(client: client, secrets: [:], breakers: CircuitBreaker(config: BreakerConfig(failureThreshold: 5, coolDown: .seconds(1))))
            let reactor = ExecutorReactor(pack: pack, tools: [], pool: pool, producer: "executor@test", logger: ExecutorDB.logger, http: caller, publish: { published.append($0) })
            let step = try EventEnvelope.start(
                StepApproved(planID: UUID(), stepID: UUID(), tool: "create_refund", args: arguments, riskTier: .highRiskWrite),
                conversationID: "conv-openapi", tenantID: "default", producer: "test")
            try await reactor.handle(step)
            let result = try #require(published.all.last).decode(ToolSucceeded.self).result
            #expect(result["method"] == "POST")
            #expect(result["path"] == "/ok/orders/ABC123/refunds?notify=true")
            #expect(try JSONValue.parse(result["body"]?.stringValue ?? "") == ["amount_cents": 500])
        }
        await client.shutdown()
    }
}
