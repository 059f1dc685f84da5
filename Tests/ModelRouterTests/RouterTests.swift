import ToolRuntime
import Foundation
import JSON
import ModelRouter
import Testing

let routerCatalogYAML = """
models:
  - id: local
    provider: openai
    base_url: http://127.0.0.1:8080/v1
    model: smollm2-135m
    price: { input_per_million_usd: 0, output_per_million_usd: 0 }
    context_window: 2048
    max_output_tokens: 256
    capabilities: [json_schema]
    decision_mode: json_schema
    profile: fast
    quality: 0.2
    typical_latency_ms: 800
  - id: mini
    provider: openai
    base_url: https://api.example.com/v1
    model: mini-1
    price: { input_per_million_usd: 0.15, output_per_million_usd: 0.6 }
    context_window: 128000
    max_output_tokens: 4096
    capabilities: [tools, json_schema]
    decision_mode: json_schema
    profile: balanced
    quality: 0.6
    typical_latency_ms: 1500
  - id: big
    provider: anthropic
    base_url: https://api.anthropic.example/v1
    model: big-2
    price: { input_per_million_usd: 3, output_per_million_usd: 15 }
    context_window: 200000
    max_output_tokens: 8192
    capabilities: [tools]
    decision_mode: tool_calls
    profile: powerful
    quality: 1.0
    typical_latency_ms: 4000
breaker: { failure_threshold: 2, cool_down_ms: 10000 }
budgets:
  default: { hourly_micros: 1000, conversation_micros: 5000 }
  tenants:
    rich: { hourly_micros: null, conversation_micros: null }
    tight: { hourly_micros: 7000 }
"""

/// 1000 prompt + 200 output tokens: local 0 µ$, mini 150 + 120 = 270 µ$, big 3000 + 3000 = 6000 µ$.
func request(
    prompt: Int = 1000, output: Int? = 200, capabilities: Set<ModelCapability> = [], profile: String? = nil,
    tenant: String = "rich", conversation: String? = nil, excluded: Set<String> = []
) -> RoutingRequest {
    RoutingRequest(
        promptTokens: prompt, expectedOutputTokens: output, requiredCapabilities: capabilities, profile: profile,
        tenant: tenant, conversation: conversation, excludedModelIds: excluded)
}

struct RouterFixture {
    let catalog: ModelCatalog
    let clock = FakeClock()
    let breakers: CircuitBreaker
    let router: ModelRouter

    init(spends: FakeSpendSource? = FakeSpendSource(), yaml: String = routerCatalogYAML) throws {
        catalog = try ModelCatalog.parse(yaml: yaml)
        breakers = CircuitBreaker(config: catalog.breaker, now: clock.now)
        router = ModelRouter(catalog: catalog, breakers: breakers, spendSource: spends, wallClock: { utc("2025-06-15T10:20:30Z") })
    }
}

extension RoutingDecision {
    var chainIDs: [String] { chain.map(\.model.id) }
    func rejection(_ id: String) -> RejectionReason? { rejected.first { $0.modelId == id }?.reason }
}

@Suite struct RouterTests {
    @Test func scoringFollowsProfileWeights() async throws {
        let fixture = try RouterFixture()
        let fast = await fixture.router.route(request(profile: "fast"))
        #expect(fast.chainIDs == ["local", "mini", "big"])
        let balanced = await fixture.router.route(request(profile: "balanced"))
        #expect(balanced.chainIDs == ["mini", "local", "big"])
        let powerful = await fixture.router.route(request(profile: "powerful"))
        #expect(powerful.chainIDs == ["big", "mini", "local"])
        let byDefault = await fixture.router.route(request())
        #expect(byDefault.profile == "balanced" && byDefault.chainIDs == balanced.chainIDs)

        // Balanced: cost 0.3, latency 0.3, quality 0.4, normalised over the three candidates.
        let mini = try #require(balanced.chosen)
        #expect(mini.estimatedCostMicros == 270)
        #expect(mini.inputTokens == 1000 && mini.outputTokens == 200)
        #expect(abs(mini.costScore - (6000.0 - 270.0) / 6000.0) < 1e-12)
        #expect(abs(mini.latencyScore - (4000.0 - 1500.0) / 3200.0) < 1e-12)
        #expect(abs(mini.score - (0.3 * mini.costScore + 0.3 * mini.latencyScore + 0.4 * 0.6)) < 1e-12)
        #expect(balanced.chain.map(\.estimatedCostMicros) == [270, 0, 6000])
        #expect(balanced.fallback == .none && balanced.rejected.isEmpty)
    }

    @Test func tiesKeepCatalogOrder() async throws {
        let twins = """
        models:
          - &m
            id: first
            provider: openai
            base_url: http://h/v1
            model: m
            price: { input_per_million_usd: 1, output_per_million_usd: 1 }
            context_window: 4000
            max_output_tokens: 100
            capabilities: [json_schema]
            decision_mode: json_schema
          - { <<: *m, id: second }
          - { <<: *m, id: third }
        """
        let fixture = try RouterFixture(yaml: twins)
        #expect(await fixture.router.route(request()).chainIDs == ["first", "second", "third"])
        #expect(await fixture.router.route(request(excluded: ["first"])).chainIDs == ["second", "third"])
    }

    @Test func contextWindowFilter() async throws {
        let fixture = try RouterFixture()
        let decision = await fixture.router.route(request(prompt: 1900, output: 200))
        #expect(decision.rejection("local") == .contextTooSmall)
        #expect(decision.chainIDs == ["mini", "big"])
        // Exactly filling the window is fine.
        #expect(await fixture.router.route(request(prompt: 1848, output: 200)).chainIDs.contains("local"))
        // Without an expectation each model's max_output_tokens counts: 1800 + 256 > 2048.
        let open = await fixture.router.route(request(prompt: 1800, output: nil))
        #expect(open.rejection("local") == .contextTooSmall)
        #expect(open.chain.first { $0.model.id == "mini" }?.outputTokens == 4096)
        // Output is capped at the model's maximum.
        let capped = await fixture.router.route(request(prompt: 10, output: 5000))
        #expect(capped.chain.first { $0.model.id == "local" }?.outputTokens == 256)
    }

    @Test func capabilityFilter() async throws {
        let fixture = try RouterFixture()
        let tools = await fixture.router.route(request(capabilities: [.tools]))
        #expect(tools.rejection("local") == .missingCapability)
        #expect(tools.chainIDs == ["mini", "big"])
        // big has tools but no json_schema; its tool_calls decision mode still yields a structured decision.
        let schema = await fixture.router.route(request(capabilities: [.jsonSchema]))
        #expect(schema.chainIDs == ["mini", "local", "big"])

        var noTools = try #require(fixture.catalog.model(id: "big"))
        noTools.decisionMode = .jsonSchema
        #expect(!noTools.satisfies(.jsonSchema))
        #expect(noTools.satisfies(.tools))
    }

    @Test func openBreakerIsSkippedUntilCoolDown() async throws {
        let fixture = try RouterFixture()
        fixture.breakers.recordFailure("mini")
        fixture.breakers.recordFailure("mini")
        let decision = await fixture.router.route(request())
        #expect(decision.rejection("mini") == .breakerOpen)
        #expect(decision.chainIDs == ["local", "big"])
        fixture.clock.advance(by: .seconds(10))
        #expect(await fixture.router.route(request()).chainIDs == ["mini", "local", "big"])
        // Routing does not consume the half-open probe slot.
        #expect(fixture.breakers.allow("mini"))
    }

    @Test func excludedModels() async throws {
        let fixture = try RouterFixture()
        let decision = await fixture.router.route(request(excluded: ["mini", "unknown"]))
        #expect(decision.rejection("mini") == .excluded)
        #expect(decision.chainIDs == ["local", "big"])
        let none = await fixture.router.route(request(excluded: ["mini", "local", "big"]))
        #expect(none.chain.isEmpty && none.fallback == .rulesBrain(.noEligibleModel))
        #expect(none.chosen == nil)
    }

    @Test func overBudgetFallsBackToCheaperWhenAllowed() async throws {
        // Default tenant: hourly limit 1000, spent 800 → 200 left; mini (270) and big (6000) no longer fit.
        let spends = FakeSpendSource { _ in 800 }
        let fixture = try RouterFixture(spends: spends)
        let decision = await fixture.router.route(request(profile: "balanced", tenant: "someone"))
        #expect(decision.chainIDs == ["local"])
        #expect(decision.rejection("mini") == .overBudget)
        #expect(decision.rejection("big") == .overBudget)
        #expect(decision.rejected.first { $0.modelId == "mini" }?.estimatedCostMicros == 270)
        #expect(decision.budget == .withinBudget(headroom: BudgetHeadroom(window: .hourly, remainingMicros: 200)))
        #expect(decision.fallback == .none)
        #expect(spends.tenantQueries == [utc("2025-06-15T10:00:00Z")])

        // With the free model gone nothing fits: rules brain, reporting the cheapest model's overrun.
        let none = await fixture.router.route(request(profile: "balanced", tenant: "someone", excluded: ["local"]))
        #expect(none.chain.isEmpty)
        #expect(none.fallback == .rulesBrain(.budgetExceeded))
        #expect(none.budget == .exceeded(BudgetExceeded(window: .hourly, spentMicros: 800, limitMicros: 1000, estimateMicros: 270)))
    }

    @Test func overBudgetGoesToRulesBrainWhenCheaperIsNotAllowed() async throws {
        // "tight": hourly 7000; spent 2000 → big (6000) does not fit, mini and local would.
        let fixture = try RouterFixture(spends: FakeSpendSource { _ in 2000 })
        let decision = await fixture.router.route(request(profile: "powerful", tenant: "tight"))
        #expect(decision.chain.isEmpty)
        #expect(decision.fallback == .rulesBrain(.budgetExceeded))
        #expect(decision.budget == .exceeded(BudgetExceeded(window: .hourly, spentMicros: 2000, limitMicros: 7000, estimateMicros: 6000)))
        #expect(decision.rejection("big") == .overBudget)
        #expect(decision.rejection("mini") == .cheaperNotAllowed)
        #expect(decision.rejection("local") == .cheaperNotAllowed)

        // When the preferred model fits, the whole chain stays available.
        let fits = try RouterFixture(spends: FakeSpendSource { _ in 500 })
        #expect(await fits.router.route(request(profile: "powerful", tenant: "tight")).chainIDs == ["big", "mini", "local"])
    }

    @Test func conversationLimit() async throws {
        let fixture = try RouterFixture(spends: FakeSpendSource(conversation: 4800) { _ in 0 })
        // Default tenant: conversation limit 5000, 200 left: mini (270) is out.
        let decision = await fixture.router.route(request(tenant: "someone", conversation: "c1"))
        #expect(decision.chainIDs == ["local"])
        #expect(decision.budget == .withinBudget(headroom: BudgetHeadroom(window: .conversation, remainingMicros: 200)))
        // Without a conversation id only the hourly limit applies (1000): mini fits.
        #expect(await fixture.router.route(request(tenant: "someone")).chainIDs == ["mini", "local"])
    }

    @Test func unlimitedTenantDoesNotQueryTheLedger() async throws {
        let spends = FakeSpendSource { _ in 1_000_000_000 }
        let fixture = try RouterFixture(spends: spends)
        let decision = await fixture.router.route(request(tenant: "rich", conversation: "c"))
        #expect(decision.budget == .unlimited)
        #expect(decision.chainIDs == ["mini", "local", "big"])
        #expect(spends.tenantQueries.isEmpty)
        let noSource = try RouterFixture(spends: nil)
        #expect(await noSource.router.route(request(tenant: "someone")).budget == .unlimited)
    }

    @Test func ledgerFailureAllowsOnlyFreeModels() async throws {
        let fixture = try RouterFixture(spends: FakeSpendSource(fails: true))
        let decision = await fixture.router.route(request(tenant: "someone"))
        #expect(decision.chainIDs == ["local"])
        #expect(decision.budget == .unavailable(message: "ledger down"))
        #expect(decision.rejection("mini") == .overBudget)
        let none = await fixture.router.route(request(tenant: "someone", excluded: ["local"]))
        #expect(none.fallback == .rulesBrain(.budgetExceeded))
        #expect(none.budget == .unavailable(message: "ledger down"))
        // A profile that never downgrades does not fall back to the free model either.
        let powerful = await fixture.router.route(request(profile: "powerful", tenant: "someone"))
        #expect(powerful.chain.isEmpty && powerful.fallback == .rulesBrain(.budgetExceeded))
        #expect(powerful.rejection("local") == .cheaperNotAllowed)
    }

    @Test func unknownProfile() async throws {
        let fixture = try RouterFixture()
        let decision = await fixture.router.route(request(profile: "turbo"))
        #expect(decision.chain.isEmpty && decision.fallback == .rulesBrain(.unknownProfile))
    }

    @Test func summaryCarriesTheEventFields() async throws {
        let fixture = try RouterFixture(spends: FakeSpendSource { _ in 800 })
        let decision = await fixture.router.route(request(tenant: "someone"))
        let summary = decision.summary
        #expect(summary["chosen"] == "local")
        #expect(summary["profile"] == "balanced")
        #expect(summary["prompt_tokens"] == 1000)
        #expect(summary["estimated_cost_micros"] == 0)
        #expect(summary["candidates"]?[0]?["model"] == "local")
        #expect(summary["candidates"]?[0]?["score"]?.doubleValue == decision.chain[0].score)
        #expect(summary["rejected"]?.arrayValue?.count == 2)
        #expect(summary["rejected"]?[0]?["reason"] == "over_budget")
        #expect(summary["budget"]?["status"] == "within")
        #expect(summary["budget"]?["remaining_micros"] == 200)
        #expect(summary["fallback"] == .null)
    }
}
