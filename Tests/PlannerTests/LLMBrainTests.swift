import DomainPack
import Events
import Foundation
import JSON
import LLMFixture
import Logging
import ModelRouter
import PlannerApp
import Synchronization
import Testing

/// The LLM brain against a real local HTTP server speaking the OpenAI and Anthropic wire
/// formats, scripted to do what real providers rarely do on demand: 429 with Retry-After,
/// 500s, malformed JSON, schema-violating answers.
@Suite(.serialized) struct LLMBrainTests {
    static let good = #"{"intent":"order_status","confidence":88,"entities":{"order_id":"ABC123"},"next_action":"tool_calls","steps":[{"tool":"get_order_status","args":{"order_id":"ABC123"},"why":"asked"}],"clarification_question":null,"reply":null,"explain":"order question"}"#
    static let violating = #"{"intent":"order_status","confidence":88,"entities":{},"next_action":"refund","steps":[],"clarification_question":null,"reply":null,"explain":"x"}"#

    final class FakeClock: Sendable {
        let now = Mutex(ContinuousClock.now)
        func advance(_ by: Duration) { now.withLock { $0 += by } }
        var instant: ContinuousClock.Instant { now.withLock { $0 } }
    }

    static func catalog(_ fixture: LLMFixtureServer, models: [(id: String, provider: String, price: String)] = [("primary", "openai", "1.0")], breaker: String = "{ failure_threshold: 2, cool_down_ms: 30000, half_open_probes: 1 }", decisionMode: String = "json_schema") throws -> ModelCatalog {
        var yaml = "breaker: \(breaker)\nmodels:\n"
        for model in models {
            yaml += """
              - id: \(model.id)
                provider: \(model.provider)
                base_url: \(model.provider == "anthropic" ? fixture.baseURL : fixture.openAIBaseURL)
                model: \(model.id)-served
                api_key_env: FIXTURE_KEY
                price: { input_per_million_usd: \(model.price), output_per_million_usd: \(model.price) }
                context_window: 8192
                max_output_tokens: 512
                capabilities: [json_schema, tools]
                decision_mode: \(decisionMode)
                timeout_ms: 5000

            """
        }
        return try ModelCatalog.parse(yaml: yaml)
    }

    final class Recorder: Sendable {
        let sleeps = Mutex<[Duration]>([])
    }

    func brain(_ catalog: ModelCatalog, clock: FakeClock = FakeClock(), recorder: Recorder = Recorder()) -> LLMBrain {
        LLMBrain(
            catalog: catalog, pack: retailPack, spendSource: nil, environment: ["FIXTURE_KEY": "sk-fixture-SECRET-4242"],
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            retrySleep: { duration in recorder.sleeps.withLock { $0.append(duration) } },
            clock: { clock.instant })
    }

    func types(_ outcome: LLMBrain.Outcome) -> [String] { outcome.events.map { type(of: $0).eventType } }

    /// What the pack's patterns found reaches the model: as a hint in the last message, and as
    /// the candidate intents of the schema; the system message and examples stay the same.
    /// Personal data never reaches a model: every message of the request is redacted, whatever
    /// part of the prompt it came from (here the customer's words and the state's facts).
    @Test func personalDataIsRedactedFromEveryModelRequest() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.enqueue(.ok(content: Self.good), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture))
            var state = ConversationState()
            state.remember("customer", "earlier I said my card is 4111 1111 1111 1111")
            _ = await brain.decide(text: "Where is ABC123? Mail ada@example.com", state: state, tenant: "t", conversation: "c1")
            await brain.shutdown()
            let request = String(decoding: try #require(fixture.requests(for: .openAIChatCompletions).first).body, as: UTF8.self)
            for leaked in ["ada@example.com", "4111 1111 1111 1111"] { #expect(!request.contains(leaked), "\(leaked) sent to the model") }
            #expect(request.contains("[EMAIL]") && request.contains("[CARD]") && request.contains("ABC123"))
        }
    }

    @Test func thePatternsReadingIsAHintAndNarrowsTheIntents() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.enqueue(.ok(content: Self.good), .ok(content: Self.good), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture))
            let rules = RulesBrain(pack: retailPack)
            let text = "Where is my order ABC123?"
            _ = await brain.decide(text: text, state: ConversationState(), tenant: "t", conversation: "c1",
                                   hint: rules.decide(text: text, state: ConversationState()), candidates: rules.matchingIntents(text, state: ConversationState()))
            _ = await brain.decide(text: "What's the weather?", state: ConversationState(), tenant: "t", conversation: "c2")
            await brain.shutdown()
            let requests = fixture.requests(for: .openAIChatCompletions)
            let last = requests[0].json?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(last.contains("The pack's patterns read this message as intent order_status with order_id=ABC123"), "\(last)")
            #expect(requests[0].json?["response_format"]?["json_schema"]?["schema"]?["properties"]?["intent"]?["enum"] == ["order_status", "unknown"])
            #expect(requests[1].json?["response_format"]?["json_schema"]?["schema"]?["properties"]?["intent"]?["enum"]?.arrayValue?.count == retailPack.intents.count + 1)
            #expect(requests[1].json?["messages"]?.arrayValue?.last?["content"]?.stringValue?.contains("patterns read") == false)
            // The cacheable prefix (system message and examples) is the same for both.
            let prefix = { (request: Int) in (requests[request].json?["messages"]?.arrayValue ?? []).dropLast() }
            #expect(prefix(0) == prefix(1) && prefix(0).count == 1 + retailPack.examples.count * 2)
        }
    }

    @Test func aValidAnswerIsTheDecisionAndItsCallIsPricedFromTheCatalog() async throws {
        try await withLLMFixtureServer(configuration: .init(usage: (input: 1000, output: 200))) { fixture in
            fixture.enqueue(.ok(content: Self.good), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture))
            let outcome = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            await brain.shutdown()
            #expect(outcome.model == "primary")
            guard case .plan(let steps)? = outcome.decision?.action else { Issue.record("no plan"); return }
            #expect(steps.first?.args == ["order_id": "ABC123"])
            #expect(types(outcome) == ["RoutingDecided", "LLMCallCompleted"])
            let call = try #require(outcome.events[1] as? LLMCallCompleted)
            // 1,200 tokens at $1 per million = 1,200 micro-dollars.
            #expect(call.costMicros == 1200 && call.tokensIn == 1000 && call.tokensOut == 200 && call.outcome == .success && !call.cached)
            let request = try #require(fixture.requests(for: .openAIChatCompletions).first)
            #expect(request.header("authorization") == "Bearer sk-fixture-SECRET-4242")
            #expect(request.json?["response_format"]?["type"] == "json_schema")
            #expect(request.json?["temperature"] == 0)
            #expect(request.json?["model"] == "primary-served")
            // Customer text reaches the model fenced as untrusted data.
            let last = request.json?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(last.contains("<<<UNTRUSTED") && last.contains("Where is my order ABC123?"))
            // The key never appears in what the planner appends.
            for event in outcome.events { #expect(!String(describing: event).contains("SECRET")) }
        }
    }

    @Test func rateLimitsAreRetriedAfterTheServersRetryAfter() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.enqueue(.status(429, retryAfter: 2), .ok(content: Self.good), for: .openAIChatCompletions)
            let recorder = Recorder()
            let brain = brain(try Self.catalog(fixture), recorder: recorder)
            let outcome = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            await brain.shutdown()
            #expect(outcome.model == "primary")
            #expect(fixture.requests(for: .openAIChatCompletions).count == 2)
            #expect(recorder.sleeps.withLock { $0 } == [.seconds(2)])
        }
    }

    @Test func malformedAndSchemaViolatingAnswersAreRepairedWithTheErrors() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.enqueue(.ok(content: "Your order has shipped!"), .ok(content: Self.violating), .ok(content: Self.good), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture))
            let outcome = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            await brain.shutdown()
            #expect(outcome.model == "primary")
            #expect(types(outcome) == ["RoutingDecided", "LLMCallCompleted", "LLMOutputRejected", "LLMCallCompleted", "LLMOutputRejected", "LLMCallCompleted"])
            let rejections = outcome.events.compactMap { $0 as? LLMOutputRejected }
            #expect(rejections.map(\.attempt) == [1, 2] && rejections.allSatisfy { $0.next == "repair" })
            #expect(rejections[1].errors.contains { $0.hasPrefix("/next_action") })
            let requests = fixture.requests(for: .openAIChatCompletions)
            let repair = requests[2].json?["messages"]?.arrayValue ?? []
            #expect(repair.count == (requests[0].json?["messages"]?.arrayValue?.count ?? 0) + 4, "each repair adds the bad answer and the errors")
            #expect(repair.last?["content"]?.stringValue?.contains("/next_action") == true)
            #expect((outcome.events[1] as? LLMCallCompleted)?.purpose == "decision", "a first answer, whatever the prompt's length")
            #expect((outcome.events[3] as? LLMCallCompleted)?.purpose == "repair")
        }
    }

    /// An answer cut off at the token limit is never parsed, even when its prefix happens to be
    /// valid JSON; the call says it was truncated and the repair says why.
    @Test func anAnswerCutAtTheTokenLimitIsRejectedAsSuch() async throws {
        try await withLLMFixtureServer { fixture in
            let cut: JSONValue = [
                "id": "c1", "object": "chat.completion", "model": "m",
                "choices": [["index": 0, "finish_reason": "length", "message": ["role": "assistant", "content": .string(Self.good)]]],
                "usage": ["prompt_tokens": 900, "completion_tokens": 400, "total_tokens": 1300],
            ]
            fixture.enqueue(.json(body: cut), .ok(content: Self.good), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture))
            let outcome = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            await brain.shutdown()
            #expect(outcome.decision != nil && outcome.model == "primary")
            let calls = outcome.events.compactMap { $0 as? LLMCallCompleted }
            #expect(calls.map(\.truncated) == [true, nil])
            let rejected = try #require(outcome.events.compactMap { $0 as? LLMOutputRejected }.first)
            #expect(rejected.errors == ["the answer was cut off at the 256-token limit; answer with a shorter JSON object (short strings, no repetition)"], "\(rejected.errors)")
        }
    }

    @Test func afterTwoRepairsTheNextModelThenTheRulesBrainTakeOver() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.setDefaultReply(.ok(content: Self.violating), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture, models: [("primary", "openai", "0.5"), ("backup", "openai", "2.0")]))
            let outcome = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            await brain.shutdown()
            #expect(outcome.decision == nil)
            let served = fixture.requests(for: .openAIChatCompletions).compactMap { $0.json?["model"]?.stringValue }
            #expect(served == Array(repeating: "primary-served", count: 3) + Array(repeating: "backup-served", count: 3))
            let rejections = outcome.events.compactMap { $0 as? LLMOutputRejected }
            #expect(rejections.map(\.next) == ["repair", "repair", "next_model", "repair", "repair", "next_model"])
            let fellBack = try #require(outcome.events.last as? BrainFellBack)
            #expect(fellBack.to == "rules" && fellBack.reason == "invalid_output" && fellBack.tried == ["primary", "backup"])
            let routes = outcome.events.compactMap { $0 as? RoutingDecided }
            #expect(routes.map(\.chosen) == ["primary", "backup", nil])
            #expect(routes[1].rejected.contains { $0.model == "primary" && $0.reason == "excluded" })
        }
    }

    @Test func serverErrorsOpenTheBreakerWhichRecoversAfterTheCoolDown() async throws {
        try await withLLMFixtureServer { fixture in
            let clock = FakeClock()
            let brain = brain(try Self.catalog(fixture), clock: clock)
            // Two turns whose calls fail (each after the provider's 3 attempts): the breaker opens.
            fixture.setDefaultReply(.status(500), for: .openAIChatCompletions)
            for _ in 0..<2 {
                let failed = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
                #expect(failed.decision == nil)
                #expect((failed.events.first { $0 is LLMCallCompleted } as? LLMCallCompleted)?.outcome == .error)
                #expect((failed.events.last as? BrainFellBack)?.reason == "provider_error")
            }
            #expect(fixture.requests(for: .openAIChatCompletions).count == 6)
            // Open: the model is not called at all.
            let skipped = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            #expect(fixture.requests(for: .openAIChatCompletions).count == 6)
            let route = try #require(skipped.events.first as? RoutingDecided)
            #expect(route.chosen == nil && route.rejected.map(\.reason) == ["breaker_open"] && route.fallback == "rules_brain")
            #expect((skipped.events.last as? BrainFellBack)?.reason == "breaker_open")
            // After the cool-down one probe goes through; it succeeds and closes the breaker.
            clock.advance(.seconds(31))
            fixture.setDefaultReply(.ok(content: Self.good), for: .openAIChatCompletions)
            let recovered = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            #expect(recovered.model == "primary")
            let again = await brain.decide(text: "Where is my order DEF456?", state: ConversationState(), tenant: "t", conversation: "c2")
            #expect(again.model == "primary")
            await brain.shutdown()
        }
    }

    @Test func anthropicMessagesServeTheSameDecision() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.enqueue(.toolCalls([FixtureToolCall(id: "toolu_1", name: "decision", arguments: Self.good)]), for: .anthropicMessages)
            let brain = brain(try Self.catalog(fixture, models: [("claude", "anthropic", "3.0")]))
            let outcome = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            await brain.shutdown()
            #expect(outcome.model == "claude")
            let request = try #require(fixture.requests(for: .anthropicMessages).first)
            #expect(request.header("x-api-key") == "sk-fixture-SECRET-4242")
            #expect(request.json?["system"]?.stringValue?.contains("You are the planner of a customer-support assistant") == true)
            #expect((outcome.events.last as? LLMCallCompleted)?.provider == "anthropic")
        }
    }

    @Test func nativeToolCallModeTurnsCallsIntoTheSameValidatedDecision() async throws {
        for provider in ["openai", "anthropic"] {
            try await withLLMFixtureServer { fixture in
                let endpoint: FixtureEndpoint = provider == "openai" ? .openAIChatCompletions : .anthropicMessages
                fixture.enqueue(
                    .toolCalls([FixtureToolCall(id: "c1", name: "GetOrderStatus", arguments: #"{"order_id":"ABC123"}"#)]),
                    .toolCalls([FixtureToolCall(id: "c2", name: "reply_to_customer", arguments: #"{"intent":"greeting","reply":"Hello! How can I help?"}"#)]),
                    for: endpoint)
                let brain = brain(try Self.catalog(fixture, models: [("native", provider, "1.0")], decisionMode: "tool_calls"))
                let planned = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
                let greeted = await brain.decide(text: "hi there", state: ConversationState(), tenant: "t", conversation: "c2")
                await brain.shutdown()
                guard case .plan(let steps)? = planned.decision?.action else { Issue.record("\(provider): no plan"); return }
                #expect(planned.decision?.intent == "order_status")
                #expect(steps.map(\.tool) == ["get_order_status"] && steps.first?.args == ["order_id": "ABC123"])
                #expect(planned.notes == ["tool \"GetOrderStatus\" read as get_order_status"])
                guard case .respond(let text)? = greeted.decision?.action else { Issue.record("\(provider): no reply"); return }
                // The pack's greeting is the approved answer, whatever words the model chose.
                #expect(text == retailPack.intent(named: "greeting")?.reply?.render([:]) && greeted.decision?.intent == "greeting")
                let request = try #require(fixture.requests(for: endpoint).first?.json)
                let names = (request["tools"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue ?? $0["function"]?["name"]?.stringValue }
                #expect(Set(names) == Set(retailPack.tools.keys).union(["reply_to_customer", "ask_customer", "hand_over"]), "\(provider): \(names)")
                #expect(request["response_format"] == nil)
            }
        }
    }

    @Test func identicalDeterministicRequestsAreAnsweredFromTheCache() async throws {
        try await withLLMFixtureServer { fixture in
            fixture.setDefaultReply(.ok(content: Self.good), for: .openAIChatCompletions)
            let brain = brain(try Self.catalog(fixture))
            let first = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c1")
            let second = await brain.decide(text: "Where is my order ABC123?", state: ConversationState(), tenant: "t", conversation: "c2")
            let different = await brain.decide(text: "Where is order ABC123 now?", state: ConversationState(), tenant: "t", conversation: "c3")
            await brain.shutdown()
            #expect(fixture.requests(for: .openAIChatCompletions).count == 2)
            let calls = [first, second, different].map { $0.events.last as? LLMCallCompleted }
            #expect(calls.map { $0?.cached } == [false, true, false])
            #expect(calls[1]?.costMicros == 0)
            #expect(second.decision == first.decision)
        }
    }
}
