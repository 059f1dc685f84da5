import Foundation
import HTTPClient
import JSON
import Logging
import Synchronization
import Testing
@testable import ToolBindings
import ToolRuntime
import UpstreamFixture

/// Waits the policy asked for, without waiting.
final class Sleeps: Sendable {
    let asked = Mutex<[Duration]>([])
    var all: [Duration] { asked.withLock { $0 } }
}

@Suite(.timeLimit(.minutes(1)))
struct HTTPToolCallerTests {
    static let retry = RetryPolicy(attempts: 3, baseDelay: .milliseconds(10), maxDelay: .seconds(2))

    func withCaller(
        secrets: [String: String] = [:], breaker: BreakerConfig = BreakerConfig(failureThreshold: 100, coolDown: .seconds(60)),
        _ body: (HTTPToolCaller, Upstream, HTTPClient, Sleeps, CircuitBreaker) async throws -> Void
    ) async throws {
        let upstream = try Upstream.start()
        let client = HTTPClient(logger: Logger(label: "test"))
        let sleeps = Sleeps()
        let breakers = CircuitBreaker(config: breaker)
        let caller = HTTPToolCaller(client: client, secrets: secrets, breakers: breakers, sleep: { duration in sleeps.asked.withLock { $0.append(duration) } })
        do {
            try await body(caller, upstream, client, sleeps, breakers)
        } catch {
            await client.shutdown()
            upstream.stop()
            throw error
        }
        await client.shutdown()
        upstream.stop()
    }

    @Test func aCallBuildsPathQueryAndHeadersAndReturnsTheJSON() async throws {
        try await withCaller(secrets: ["SHOP_TOKEN": "s3cret"]) { caller, upstream, client, _, _ in
            let binding = HTTPBinding(method: "GET", urlTemplate: upstream.url("/ok/orders/{order_id}"), auth: .init(secretEnv: "SHOP_TOKEN"))
            let outcome = try await caller.call(
                tool: "get_order", binding: binding, arguments: ["order_id": "A B/1", "expand": true, "limit": 2],
                idempotencyKey: "step-1", timeout: .seconds(5), retry: Self.retry)
            let result = try outcome.result.get()
            #expect(outcome.attempts == 1)
            #expect(result["path"] == "/ok/orders/A%20B%2F1?expand=true&limit=2")
            #expect(result["authorization"] == "Bearer s3cret")
            #expect(try await upstream.log(client).map(\.key) == ["step-1"])
        }
    }

    @Test func aWriteSendsTheOtherArgumentsAsAJSONBody() async throws {
        try await withCaller { caller, upstream, _, _, _ in
            let binding = HTTPBinding(method: "POST", urlTemplate: upstream.url("/ok/orders/{order_id}/refunds"))
            let result = try await caller.call(
                tool: "create_refund", binding: binding, arguments: ["order_id": "ABC123", "amount_cents": 1250, "reason": "damaged"],
                idempotencyKey: "step-2", timeout: .seconds(5), retry: Self.retry).result.get()
            #expect(result["content_type"] == "application/json")
            #expect(try JSONValue.parse(result["body"]?.stringValue ?? "") == ["amount_cents": 1250, "reason": "damaged"])
        }
    }

    @Test func fiveHundredsAreRetriedWithTheSameIdempotencyKey() async throws {
        try await withCaller { caller, upstream, client, sleeps, _ in
            let outcome = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "POST", urlTemplate: upstream.url("/flaky/x")), arguments: [:],
                idempotencyKey: "step-3", timeout: .seconds(5), retry: Self.retry)
            #expect(try outcome.result.get()["attempt"] == 3)
            #expect(outcome.attempts == 3)
            #expect(try await upstream.log(client).map(\.key) == ["step-3", "step-3", "step-3"])
            #expect(sleeps.all.count == 2)
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        try await withCaller { caller, upstream, _, sleeps, _ in
            let outcome = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/ratelimited/x")), arguments: [:],
                idempotencyKey: "k", timeout: .seconds(5), retry: Self.retry)
            #expect(outcome.attempts == 2)
            #expect((try? outcome.result.get()) != nil)
            #expect(sleeps.all == [.seconds(1)])
        }
    }

    @Test func aSlowUpstreamTimesOutOnEveryAttempt() async throws {
        try await withCaller { caller, upstream, client, _, _ in
            let outcome = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/slow/x")), arguments: [:],
                idempotencyKey: "k", timeout: .milliseconds(200), retry: RetryPolicy(attempts: 2, baseDelay: .milliseconds(1)))
            #expect(outcome.result == .failure(.timeout))
            #expect(outcome.attempts == 2)
            #expect(try await upstream.log(client).count == 2)
        }
    }

    /// The turn's deadline ends the call: the attempt in flight is cut to what is left, and no
    /// retry starts after it, however many attempts the contract allows.
    @Test func theTurnsDeadlineStopsRetries() async throws {
        try await withCaller { caller, upstream, client, _, _ in
            let outcome = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/slow/x")), arguments: [:],
                idempotencyKey: "k", timeout: .seconds(5), retry: RetryPolicy(attempts: 10, baseDelay: .milliseconds(1)),
                deadline: .now + .milliseconds(700))
            #expect(outcome.result == .failure(.timeout))
            #expect(outcome.attempts == 1, "the first attempt was cut at the deadline; none followed")
            #expect(try await upstream.log(client).count == 1)

            let late = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/ok/x")), arguments: [:],
                idempotencyKey: "k2", timeout: .seconds(5), retry: Self.retry, deadline: .now - .seconds(1))
            #expect(late == ToolCallOutcome(result: .failure(.timeout), attempts: 0), "past the deadline nothing is sent")
            #expect(try await upstream.log(client).count == 1)
        }
    }

    @Test func malformedJSONIsNotRetried() async throws {
        try await withCaller { caller, upstream, _, sleeps, _ in
            let outcome = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/malformed/x")), arguments: [:],
                idempotencyKey: "k", timeout: .seconds(5), retry: Self.retry)
            guard case .failure(.malformedResponse) = outcome.result else { Issue.record("got \(outcome.result)"); return }
            #expect(outcome.attempts == 1)
            #expect(sleeps.all.isEmpty)
        }
    }

    @Test func aDroppedConnectionIsATransportFailureAndIsRetried() async throws {
        try await withCaller { caller, upstream, _, _, _ in
            let outcome = try await caller.call(
                tool: "t", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/drop/x")), arguments: [:],
                idempotencyKey: "k", timeout: .seconds(5), retry: Self.retry)
            guard case .failure(.transport) = outcome.result else { Issue.record("got \(outcome.result)"); return }
            #expect(outcome.attempts == 3)
        }
    }

    @Test func aFourOhFourGoesBackToThePlannerAndDoesNotTripTheBreaker() async throws {
        try await withCaller(breaker: BreakerConfig(failureThreshold: 1, coolDown: .seconds(60))) { caller, upstream, _, _, breakers in
            let outcome = try await caller.call(
                tool: "get_order", binding: HTTPBinding(method: "GET", urlTemplate: upstream.url("/notfound/x")), arguments: [:],
                idempotencyKey: "k", timeout: .seconds(5), retry: Self.retry)
            #expect(outcome.result == .failure(.status(404, retryAfter: nil)))
            #expect(outcome.attempts == 1)
            #expect(outcome.result.failure?.disposition == .customerFixable)
            #expect(breakers.state(for: "get_order") == .closed)
            #expect(breakers.nonClosedStates().isEmpty, "no failure streak was counted")
        }
    }

    @Test func anOpenCircuitRefusesWithoutCallingTheUpstream() async throws {
        try await withCaller(breaker: BreakerConfig(failureThreshold: 2, coolDown: .seconds(60))) { caller, upstream, client, _, breakers in
            let binding = HTTPBinding(method: "GET", urlTemplate: upstream.url("/down/x"))
            for _ in 0..<2 {
                let outcome = try await caller.call(tool: "status", binding: binding, arguments: [:], idempotencyKey: "k", timeout: .seconds(5), retry: .none)
                #expect(outcome.result == .failure(.status(500, retryAfter: nil)))
            }
            #expect(breakers.state(for: "status") == .open)
            let refused = try await caller.call(tool: "status", binding: binding, arguments: [:], idempotencyKey: "k", timeout: .seconds(5), retry: .none)
            #expect(refused.result.failure?.code == "circuit_open")
            #expect(refused.attempts == 0)
            #expect(try await upstream.log(client).count == 2, "the third call never reached the upstream")
        }
    }

    @Test func aMissingSecretOrArgumentSendsNothing() async throws {
        try await withCaller { caller, upstream, client, _, _ in
            let secured = HTTPBinding(method: "GET", urlTemplate: upstream.url("/ok/x"), auth: .init(secretEnv: "MISSING_TOKEN"))
            let noSecret = try await caller.call(tool: "t", binding: secured, arguments: [:], idempotencyKey: "k", timeout: .seconds(5), retry: Self.retry)
            #expect(noSecret.result.failure?.code == "invalid_call")
            let templated = HTTPBinding(method: "GET", urlTemplate: upstream.url("/ok/{order_id}"))
            let noArgument = try await caller.call(tool: "t", binding: templated, arguments: [:], idempotencyKey: "k", timeout: .seconds(5), retry: Self.retry)
            #expect(noArgument.result == .failure(.invalidCall("the URL needs argument 'order_id'")))
            #expect(try await upstream.log(client).isEmpty)
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

@Suite struct HTTPPreviewTests {
    @Test func aPreviewShowsTheRequestWithTheSecretsNameNotItsValue() throws {
        let binding = HTTPBinding(method: "POST", urlTemplate: "https://shop.example/orders/{order_id}/refunds", auth: .init(secretEnv: "SHOP_TOKEN"))
        let request = try HTTPToolCaller.preview(binding, arguments: ["order_id": "A1", "amount_cents": 500], idempotencyKey: "step-9", timeout: .seconds(2))
        #expect(request.method == "POST")
        #expect(request.url == "https://shop.example/orders/A1/refunds")
        #expect(request.headers["Authorization"] == "Bearer $SHOP_TOKEN")
        #expect(request.headers["Idempotency-Key"] == "step-9")
        #expect(request.body.map { String(decoding: $0, as: UTF8.self) } == #"{"amount_cents":500}"#)
    }
}
