import ToolRuntime
public import ServiceRuntime
public import DomainPack
public import Events
import Foundation
import Privacy
import HTTPClient
public import JSON
public import Knowledge
import LLM
import Metrics
import Tracing
public import Logging
public import ModelRouter

/// The language-model side of the planner: routes a message to a model from the catalog,
/// calls it, validates and repairs its answer, and falls back down the chain. It never acts:
/// what it returns is a `BrainDecision` the reactor turns into events, exactly like the rules
/// brain's — plus the events that say how the decision was reached (`RoutingDecided`,
/// `LLMCallCompleted`, `LLMOutputRejected`, `BrainFellBack`).
///
/// Order per message: route (context, capability, breaker, budget) → for each model in the
/// chain: call (retries with backoff inside the provider) → validate → at most 2 repairs with
/// the errors → next model → nil (the caller uses the rules brain, which hands over when it
/// knows nothing).
public final class LLMBrain: Sendable {
    public let catalog: ModelCatalog
    let router: ModelRouter
    let contract: DecisionContract
    let http: HTTPClient
    let cache: ResponseCache<CachedAnswer>
    let environment: [String: String]
    let logger: Logger
    /// Repairs after the first answer (issue 4: at most 2).
    let maxRepairs = 2
    let retrySleep: @Sendable (Duration) async throws -> Void
    /// Chaos runs only: model calls that fail or time out before reaching the provider.
    let faults: FaultInjection
    /// Personal data the pack keeps in clear in prompts; the rest is redacted before a call.
    let clearPIIKinds: Set<PIIKind>

    struct CachedAnswer: Sendable {
        var text: String
        var usage: TokenUsage
    }

    public init(
        catalog: ModelCatalog, pack: DomainPack, spendSource: (any SpendSource)?, environment: [String: String], logger: Logger,
        retrySleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }, faults: FaultInjection = FaultInjection(),
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.catalog = catalog
        let breakers = CircuitBreaker(config: catalog.breaker, now: clock, onTransition: { transition in
            logger.notice("model circuit breaker", metadata: ["model": "\(transition.key)", "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)"])
            BreakerMetrics.record(kind: "model", key: transition.key, to: transition.to.rawValue)
        })
        self.router = ModelRouter(catalog: catalog, breakers: breakers, spendSource: spendSource)
        self.contract = DecisionContract(pack: pack)
        self.clearPIIKinds = pack.clearPIIKinds
        self.http = HTTPClient(maxConcurrentRequests: 16, userAgent: "switchboard-planner", logger: logger)
        self.cache = ResponseCache(maxEntries: 10_000, ttl: .seconds(3600))
        self.environment = environment
        self.logger = logger
        self.retrySleep = retrySleep
        self.faults = faults
    }

    public func shutdown() async { await http.shutdown() }

    /// The brain's answer and the events describing how it was reached, in order.
    public struct Outcome: Sendable {
        /// nil: no model produced a valid decision (or none was allowed); use the rules brain.
        public var decision: BrainDecision?
        /// The model that decided.
        public var model: String?
        public var notes: [String]
        public var events: [any EventPayload]
    }

    /// `knowledge`: retrieved passages, fenced into the prompt; an answer outside the pack's
    /// intents must then cite one of them ("According to <title>").
    /// `episodes`: the customer's most similar past turns, one line each.
    /// `hint`: what the pack's patterns recognised in the message (the rules brain's intent and
    /// values), offered to the model as a signal it may overrule (docs/BRAINS.md).
    public func decide(
        text: String, state: ConversationState, tenant: String, conversation: String, knowledge: [KnowledgeHit] = [], episodes: [String] = [],
        hint: BrainDecision? = nil, candidates: [String] = []
    ) async -> Outcome {
        let messages = PromptBuilder(contract: contract).messages(text: text, state: state, knowledge: knowledge, episodes: episodes, hint: hint)
        return await run(
            messages, purpose: "decision", text: text, state: state, tenant: tenant, conversation: conversation, sources: knowledge.map(\.title),
            intents: candidates)
    }

    /// The next round of a `react` or `plan_execute_reflect` intent: the model sees the plan it
    /// made and the verified tool results (fenced as untrusted data) and answers from them,
    /// calls more tools (`roundsLeft` > 0), or hands over.
    public func reflect(
        text: String, state: ConversationState, strategy: IntentSpec.Strategy, plan: [PlanStep], results: [JSONValue], roundsLeft: Int,
        tenant: String, conversation: String
    ) async -> Outcome {
        var messages = PromptBuilder(contract: contract).messages(text: text, state: state)
        messages.append(.assistant(JSONValue.array(plan.map { ["tool": .string($0.tool), "args": $0.args, "why": .string($0.why)] }).serializedString()))
        messages.append(.user(PromptBuilder.observation(strategy: strategy, plan: plan, results: results, roundsLeft: roundsLeft)))
        // A next round may use what the tools returned (an id from a result) as arguments.
        return await run(messages, purpose: "decision", text: text, state: state, tenant: tenant, conversation: conversation, sources: [], groundedIn: results.map { $0.serializedString() })
    }

    /// Route, call, validate, repair, next model; nil decision when no model produced a valid one.
    /// `intents`: the candidates the pack's patterns found (empty: any intent), for the schema.
    func run(
        _ baseMessages: [ChatMessage], purpose: String, text: String, state: ConversationState, tenant: String, conversation: String, sources: [String],
        intents: [String] = [], groundedIn: [String] = []
    ) async -> Outcome {
        var events: [any EventPayload] = []
        var tried: [String] = []
        var lastReason = "no_eligible_model"
        var excluded = Set<String>()
        let estimator = TokenEstimator()

        while true {
            let promptTokens = estimator.estimate(
                messageTexts: baseMessages.map { $0.content ?? "" }, responseFormat: contract.responseSchema(intents: intents))
            let routing = await router.route(RoutingRequest(
                promptTokens: promptTokens, expectedOutputTokens: DecisionContract.maxOutputTokens, requiredCapabilities: [.jsonSchema],
                tenant: tenant, conversation: conversation, excludedModelIds: excluded))
            events.append(Self.routingEvent(routing, purpose: "decision"))
            // Budget exhaustion (deploy/README.md, SwitchboardLLMBudgetExhausted): a turn the
            // rules brain decides because a tenant's or conversation's budget is spent.
            if case .exceeded = routing.budget { Counter(label: "switchboard_llm_budget_refusals_total").increment() }
            guard let candidate = routing.chosen else {
                if case .rulesBrain(let reason) = routing.fallback, tried.isEmpty || reason == .budgetExceeded {
                    if reason == .budgetExceeded {
                        lastReason = "budget_exceeded"
                    } else if !routing.rejected.isEmpty, routing.rejected.allSatisfy({ $0.reason == .breakerOpen }) {
                        lastReason = "breaker_open"
                    } else {
                        lastReason = "no_eligible_model"
                    }
                }
                events.append(BrainFellBack(to: "rules", reason: lastReason, tried: tried))
                return Outcome(decision: nil, model: nil, notes: [], events: events)
            }
            let model = candidate.model
            tried.append(model.id)
            excluded.insert(model.id)
            guard router.breakers.allow(model.id) else {
                lastReason = "breaker_open"
                continue
            }
            var messages = baseMessages
            var attempt = 1
            while true {
                let call = await complete(model: model, messages: messages, outputTokens: candidate.outputTokens, purpose: attempt == 1 ? "decision" : "repair", intents: intents, knowledge: !sources.isEmpty)
                events.append(call.event)
                guard let output = call.text else {
                    lastReason = "provider_error"
                    break
                }
                // A cut-off answer is never parsed (a prefix can be valid JSON by accident).
                let verdict: DecisionContract.Verdict = call.truncated
                    ? .invalid(["the answer was cut off at the \(candidate.outputTokens)-token limit; answer with a shorter JSON object (short strings, no repetition)"])
                    : contract.check(output, customerText: text, state: state, model: model.id, sources: sources, groundedIn: groundedIn)
                switch verdict {
                case .valid(let decision, let notes):
                    if !call.cached, let key = call.cacheKey { cache.put(key, CachedAnswer(text: output, usage: call.usage)) }
                    return Outcome(decision: decision, model: model.id, notes: notes, events: events)
                case .invalid(let errors):
                    let repair = attempt <= maxRepairs
                    events.append(LLMOutputRejected(model: model.id, attempt: attempt, errors: errors, next: repair ? "repair" : "next_model"))
                    lastReason = "invalid_output"
                    guard repair else { break }
                    // The answer as given (clipped: a runaway answer need not be read again).
                    messages.append(.assistant(String(output.prefix(600))))
                    messages.append(.user(PromptBuilder.repairInstruction(errors: errors)))
                    attempt += 1
                    continue
                }
                break
            }
        }
    }

    struct Call {
        var text: String?
        /// The answer ran to the token limit: whatever it holds is cut off.
        var truncated = false
        var event: LLMCallCompleted
        var usage: TokenUsage
        var cached: Bool
        var cacheKey: String?
    }

    /// One model call (with the provider's own retries), breaker bookkeeping and the
    /// `LLMCallCompleted` event, from the cache when the same deterministic request was answered.
    /// `purpose`: `decision` for a first answer, `repair` for an answer after rejected ones.
    /// A model call, counted in the LLM metrics by model: calls by outcome, tokens in and out,
    /// cost, and the call's time (deploy/README.md, Monitoring).
    /// In a span (`llm <purpose>`) carrying the model, tokens, cost and outcome; the HTTP call to
    /// the provider is its child.
    func complete(model: ModelSpec, messages: [ChatMessage], outputTokens: Int, purpose: String, intents: [String] = [], knowledge: Bool = false) async -> Call {
        let call = await withSpan("llm \(purpose)", ofKind: .client) { span in
            let call = await completeUnmetered(model: model, messages: messages, outputTokens: outputTokens, purpose: purpose, intents: intents, knowledge: knowledge)
            span.attributes["gen_ai.request.model"] = call.event.model
            span.attributes["gen_ai.usage.input_tokens"] = call.event.tokensIn
            span.attributes["gen_ai.usage.output_tokens"] = call.event.tokensOut
            span.attributes["switchboard.llm.outcome"] = call.event.outcome.rawValue
            span.attributes["switchboard.llm.cached"] = call.event.cached
            span.attributes["switchboard.llm.cost_micros"] = Int(call.event.costMicros)
            if call.event.outcome != .success { span.setStatus(SpanStatus(code: .error)) }
            return call
        }
        let event = call.event
        let cached = event.cached ? "true" : "false"
        Counter(label: "switchboard_llm_calls_total", dimensions: [("model", event.model), ("outcome", event.outcome.rawValue), ("cached", cached)]).increment()
        Counter(label: "switchboard_llm_tokens_total", dimensions: [("model", event.model), ("direction", "input")]).increment(by: event.tokensIn)
        Counter(label: "switchboard_llm_tokens_total", dimensions: [("model", event.model), ("direction", "output")]).increment(by: event.tokensOut)
        Counter(label: "switchboard_llm_cost_micros_total", dimensions: [("model", event.model)]).increment(by: Int(event.costMicros))
        if !event.cached {
            Timer(label: "switchboard_llm_call_seconds", dimensions: [("model", event.model)]).recordMilliseconds(event.latencyMs)
        }
        return call
    }

    func completeUnmetered(model: ModelSpec, messages unredacted: [ChatMessage], outputTokens: Int, purpose: String, intents: [String] = [], knowledge: Bool = false) async -> Call {
        // The one door to a model: personal data the pack does not keep in clear is redacted from
        // every message (the customer's words, history, facts, tool results, knowledge) here.
        let messages = unredacted.map { message in
            var message = message
            message.content = message.content.map { PIIDetector.shared.redact($0, allowing: clearPIIKinds).text }
            return message
        }
        // Fitted to the model's output limit, and the call given room for the longest answer
        // the schema allows (at most one token per character): an answer the grammar allows
        // is never cut off (issue 11). Other shapes get the routed budget.
        let schema = contract.responseSchema(intents: intents, shape: model.decisionSchema, knowledge: knowledge, outputTokens: model.maxOutputTokens)
        let outputTokens = model.decisionSchema == .byIntent && model.decisionMode != .toolCalls
            ? min(model.maxOutputTokens, max(outputTokens, DecisionContract.longestInstance(schema) ?? outputTokens))
            : outputTokens
        let provider: ProviderKind = model.provider == .anthropic ? .anthropic : .openAICompatible
        // Decision mode per model (catalog): one schema-constrained JSON object, or native
        // tool calls (the pack's tools plus reply/ask/hand-over functions).
        let nativeTools = model.decisionMode == .toolCalls
        let tools = nativeTools ? contract.toolDefinitions : []
        let request = ChatRequest(
            model: model.model, messages: messages, tools: tools, toolChoice: nativeTools ? .required : .auto,
            responseFormat: nativeTools ? .text : .jsonSchema(name: "decision", schema: schema, strict: true),
            temperature: 0, maxTokens: outputTokens, seed: 0, timeout: .milliseconds(model.timeoutMs),
            stream: model.provider != .anthropic && model.capabilities.contains(.streaming))
        let cacheKey = ResponseCacheKey.make(
            modelId: "\(model.id)@\(model.model)",
            messages: .array(messages.map { ["role": .string($0.role.rawValue), "content": $0.content.map(JSONValue.string) ?? .null] }),
            tools: nativeTools ? .array(tools.map { ["name": .string($0.name), "parameters": $0.parameters] }) : nil,
            responseFormat: nativeTools ? nil : schema, temperature: 0, maxTokens: outputTokens)
        if let cacheKey, let hit = cache.get(cacheKey) {
            return Call(
                text: hit.text,
                event: LLMCallCompleted(
                    provider: provider.rawValue, model: model.id, purpose: purpose,
                    tokensIn: hit.usage.inputTokens, tokensOut: hit.usage.outputTokens, costMicros: 0, latencyMs: 0, outcome: .success, cached: true),
                usage: hit.usage, cached: true, cacheKey: cacheKey)
        }
        let apiKey = model.apiKeyEnv.flatMap { APIKey.from(environment, variableName: $0) }
        let base: any ChatProvider =
            model.provider == .anthropic
            ? AnthropicProvider(baseURL: model.baseURL, apiKey: apiKey, httpClient: http)
            : OpenAICompatibleProvider(baseURL: model.baseURL, apiKey: apiKey, httpClient: http)
        let retrying = RetryingProvider(wrapping: base, maxAttempts: 3, baseBackoff: .milliseconds(200), maxBackoff: .seconds(5), maxRetryAfter: .seconds(10), sleep: retrySleep)
        let started = ContinuousClock.now
        do throws(LLMError) {
            if FaultInjection.hits(faults.llmErrorPercent, key: UUID(), salt: "llm_error") {
                throw LLMError(code: .serverError, message: "injected fault: the model provider failed")
            }
            if FaultInjection.hits(faults.llmTimeoutPercent, key: UUID(), salt: "llm_timeout") {
                try? await Task.sleep(for: .milliseconds(model.timeoutMs))
                throw LLMError(code: .timeout, message: "injected fault: the model did not answer in \(model.timeoutMs) ms")
            }
            let response = try await retrying.complete(request)
            _ = router.breakers.recordSuccess(model.id)
            if let first = response.firstTokenLatency {
                Timer(label: "switchboard_llm_first_token_seconds", dimensions: [("model", model.id)]).recordNanoseconds(Int64(Self.milliseconds(first)) * 1_000_000)
            }
            let usage = response.usage ?? TokenUsage(inputTokens: 0, outputTokens: 0)
            let text = nativeTools ? contract.decisionJSON(fromToolCalls: response.toolCalls, content: response.content) : (response.content ?? "")
            let truncated = response.finishReason == .length && response.toolCalls.isEmpty
            return Call(
                text: text, truncated: truncated,
                event: LLMCallCompleted(
                    provider: provider.rawValue, model: model.id, purpose: purpose,
                    tokensIn: usage.inputTokens, tokensOut: usage.outputTokens,
                    costMicros: model.costMicros(inputTokens: usage.inputTokens, outputTokens: usage.outputTokens),
                    latencyMs: Self.milliseconds(ContinuousClock.now - started), outcome: .success, cached: false,
                    truncated: truncated ? true : nil, firstTokenMs: response.firstTokenLatency.map(Self.milliseconds)),
                usage: usage, cached: false, cacheKey: cacheKey)
        } catch {
            _ = router.breakers.recordFailure(model.id)
            let outcome: LLMCallOutcome
            switch error.code {
            case .timeout: outcome = .timeout
            case .rateLimited: outcome = .rateLimited
            case .malformedResponse, .refused: outcome = .invalidOutput
            default: outcome = .error
            }
            logger.warning("model call failed", metadata: ["model": "\(model.id)", "error": "\(error)"])
            let usage = error.usage ?? TokenUsage(inputTokens: 0, outputTokens: 0)
            return Call(
                text: nil,
                event: LLMCallCompleted(
                    provider: provider.rawValue, model: model.id, purpose: purpose,
                    tokensIn: usage.inputTokens, tokensOut: usage.outputTokens,
                    costMicros: model.costMicros(inputTokens: usage.inputTokens, outputTokens: usage.outputTokens),
                    latencyMs: Self.milliseconds(ContinuousClock.now - started), outcome: outcome, cached: false),
                usage: usage, cached: false, cacheKey: nil)
        }
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    static func routingEvent(_ routing: RoutingDecision, purpose: String) -> RoutingDecided {
        let budget: String
        switch routing.budget {
        case .unlimited: budget = "unlimited"
        case .withinBudget: budget = "within"
        case .exceeded: budget = "exceeded"
        case .unavailable: budget = "unavailable"
        }
        var fallback: String?
        var fallbackReason: String?
        if case .rulesBrain(let reason) = routing.fallback {
            fallback = "rules_brain"
            fallbackReason = reason.rawValue
        }
        return RoutingDecided(
            purpose: purpose, profile: routing.profile, chosen: routing.chosen?.model.id,
            candidates: routing.chain.map { .init(model: $0.model.id, score: ($0.score * 1000).rounded() / 1000, estimatedCostMicros: $0.estimatedCostMicros) },
            rejected: routing.rejected.map { .init(model: $0.modelId, reason: $0.reason.rawValue, detail: $0.detail) },
            estimatedTokensIn: routing.promptTokens, budget: budget, fallback: fallback, fallbackReason: fallbackReason)
    }
}
