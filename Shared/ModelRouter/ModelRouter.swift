public import ToolRuntime
public import Foundation
public import JSON

/// What the planner is about to ask a model.
public struct RoutingRequest: Sendable, Hashable {
    /// Estimated prompt tokens (see ``TokenEstimator``).
    public var promptTokens: Int
    /// Expected output tokens; nil means each model's `max_output_tokens`. Always capped at the
    /// model's `max_output_tokens`.
    public var expectedOutputTokens: Int?
    public var requiredCapabilities: Set<ModelCapability>
    /// nil means the catalog's default profile.
    public var profile: String?
    public var tenant: String
    public var conversation: String?
    /// Models that already failed this turn.
    public var excludedModelIds: Set<String>

    public init(
        promptTokens: Int, expectedOutputTokens: Int? = nil, requiredCapabilities: Set<ModelCapability> = [],
        profile: String? = nil, tenant: String, conversation: String? = nil, excludedModelIds: Set<String> = []
    ) {
        self.promptTokens = max(0, promptTokens)
        self.expectedOutputTokens = expectedOutputTokens.map { max(0, $0) }
        self.requiredCapabilities = requiredCapabilities
        self.profile = profile
        self.tenant = tenant
        self.conversation = conversation
        self.excludedModelIds = excludedModelIds
    }
}

/// A model in the fallback chain, with how it scored.
public struct CandidateModel: Sendable, Hashable {
    public var model: ModelSpec
    /// Weighted score in 0...1 (higher is better), comparable within one decision only.
    public var score: Double
    /// The normalised parts the score is made of, each in 0...1 (1 = cheapest / fastest / best).
    public var costScore: Double
    public var latencyScore: Double
    public var qualityScore: Double
    public var inputTokens: Int
    /// Output tokens to request (`max_tokens`): the expectation capped at the model's maximum.
    public var outputTokens: Int
    public var estimatedCostMicros: Int64
}

public enum RejectionReason: String, Sendable, Hashable, CaseIterable {
    case excluded
    case contextTooSmall = "context_too_small"
    case missingCapability = "missing_capability"
    case breakerOpen = "breaker_open"
    case overBudget = "over_budget"
    /// Fits the budget, but the profile forbids falling back to it because its preferred
    /// model does not fit.
    case cheaperNotAllowed = "cheaper_not_allowed"
}

/// A model left out of the chain and why.
public struct Rejection: Sendable, Hashable {
    public var modelId: String
    public var reason: RejectionReason
    /// Human-readable specifics (numbers, missing capability).
    public var detail: String
    /// Set for budget rejections.
    public var estimatedCostMicros: Int64?
}

public enum BudgetStatus: Sendable, Hashable {
    /// No limit applies to this tenant/conversation.
    case unlimited
    /// The chain fits; `headroom` is the tightest limit's remaining room before this call.
    case withinBudget(headroom: BudgetHeadroom)
    /// The limit that kept the chain empty (or kept the preferred model out).
    case exceeded(BudgetExceeded)
    /// Spend could not be read, so only free models were considered (fail closed on money).
    case unavailable(message: String)
}

public enum RulesBrainReason: String, Sendable, Hashable {
    /// Every model was excluded or lacked context, capability or a closed breaker.
    case noEligibleModel = "no_eligible_model"
    /// Eligible models exist but none may be used within the budget.
    case budgetExceeded = "budget_exceeded"
    case unknownProfile = "unknown_profile"
}

public enum RoutingFallback: Sendable, Hashable {
    case none
    /// No model may be called; the planner falls back to its deterministic rules.
    case rulesBrain(RulesBrainReason)
}

/// The outcome of routing: everything a `RoutingDecided` event needs.
public struct RoutingDecision: Sendable, Hashable {
    public var profile: String
    public var promptTokens: Int
    public var expectedOutputTokens: Int?
    /// Best first; try in order, skipping any whose breaker refuses `allow`.
    public var chain: [CandidateModel]
    public var rejected: [Rejection]
    public var budget: BudgetStatus
    public var fallback: RoutingFallback

    public var chosen: CandidateModel? { chain.first }

    /// A JSON rendering for events and logs.
    public var summary: JSONValue {
        var object: [String: JSONValue] = [
            "profile": .string(profile),
            "prompt_tokens": .number(Double(promptTokens)),
            "expected_output_tokens": expectedOutputTokens.map { .number(Double($0)) } ?? .null,
            "chosen": chosen.map { .string($0.model.id) } ?? .null,
            "estimated_cost_micros": chosen.map { .number(Double($0.estimatedCostMicros)) } ?? .null,
            "candidates": .array(chain.map { candidate in
                [
                    "model": .string(candidate.model.id),
                    "score": .number(candidate.score),
                    "cost_score": .number(candidate.costScore),
                    "latency_score": .number(candidate.latencyScore),
                    "quality_score": .number(candidate.qualityScore),
                    "input_tokens": .number(Double(candidate.inputTokens)),
                    "output_tokens": .number(Double(candidate.outputTokens)),
                    "estimated_cost_micros": .number(Double(candidate.estimatedCostMicros)),
                ]
            }),
            "rejected": .array(rejected.map { rejection in
                var entry: [String: JSONValue] = [
                    "model": .string(rejection.modelId), "reason": .string(rejection.reason.rawValue), "detail": .string(rejection.detail),
                ]
                if let cost = rejection.estimatedCostMicros { entry["estimated_cost_micros"] = .number(Double(cost)) }
                return .object(entry)
            }),
        ]
        switch budget {
        case .unlimited:
            object["budget"] = ["status": "unlimited"]
        case .withinBudget(let headroom):
            object["budget"] = [
                "status": "within", "window": .string(headroom.window.rawValue),
                "remaining_micros": .number(Double(headroom.remainingMicros)),
            ]
        case .exceeded(let exceeded):
            object["budget"] = [
                "status": "exceeded", "window": .string(exceeded.window.rawValue),
                "spent_micros": .number(Double(exceeded.spentMicros)), "limit_micros": .number(Double(exceeded.limitMicros)),
                "estimate_micros": .number(Double(exceeded.estimateMicros)),
            ]
        case .unavailable(let message):
            object["budget"] = ["status": "unavailable", "message": .string(message)]
        }
        switch fallback {
        case .none: object["fallback"] = .null
        case .rulesBrain(let reason): object["fallback"] = ["kind": "rules_brain", "reason": .string(reason.rawValue)]
        }
        return .object(object)
    }
}

/// Picks an ordered fallback chain of models for one LLM call.
///
/// Filters, in order: excluded ids, context window (prompt + output > window), capability,
/// open breaker. The survivors ("eligible") are scored with the profile's weights: cost and
/// latency are min-max normalised across the eligible set (cheapest/fastest = 1; all equal =
/// 1), quality is the catalog prior; score = weighted sum / sum of weights; ties keep catalog
/// order. Then the budget: each model's estimated cost must fit every limit (see
/// ``BudgetCheck``). A profile with `allow_cheaper_on_budget: false` first checks its
/// preferred model — the best-scoring eligible model tagged with the profile (or the best
/// eligible one when none is tagged) — and routes to the rules brain if that does not fit.
public struct ModelRouter: Sendable {
    public let catalog: ModelCatalog
    public let breakers: CircuitBreaker
    private let spendSource: (any SpendSource)?
    private let wallClock: @Sendable () -> Date

    /// `spendSource` nil disables budgets (everything is `unlimited`). `wallClock` places the
    /// calendar budget periods.
    public init(
        catalog: ModelCatalog, breakers: CircuitBreaker, spendSource: (any SpendSource)?,
        wallClock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.catalog = catalog
        self.breakers = breakers
        self.spendSource = spendSource
        self.wallClock = wallClock
    }

    public func route(_ request: RoutingRequest) async -> RoutingDecision {
        let profileName = request.profile ?? catalog.defaultProfile
        var decision = RoutingDecision(
            profile: profileName, promptTokens: request.promptTokens, expectedOutputTokens: request.expectedOutputTokens,
            chain: [], rejected: [], budget: .unlimited, fallback: .none)
        guard let profile = catalog.profiles[profileName] else {
            decision.fallback = .rulesBrain(.unknownProfile)
            return decision
        }

        // 1. Hard filters.
        var eligible: [(index: Int, model: ModelSpec, output: Int, cost: Int64, picos: Int64)] = []
        for (index, model) in catalog.models.enumerated() {
            if request.excludedModelIds.contains(model.id) {
                decision.rejected.append(Rejection(modelId: model.id, reason: .excluded, detail: "already failed this turn"))
                continue
            }
            let output = min(request.expectedOutputTokens ?? model.maxOutputTokens, model.maxOutputTokens)
            let needed = request.promptTokens.addingReportingOverflow(output)
            if needed.overflow || needed.partialValue > model.contextWindow {
                decision.rejected.append(Rejection(
                    modelId: model.id, reason: .contextTooSmall,
                    detail: "needs \(request.promptTokens) + \(output) tokens, window is \(model.contextWindow)"))
                continue
            }
            let missing = request.requiredCapabilities.filter { !model.satisfies($0) }
            if !missing.isEmpty {
                decision.rejected.append(Rejection(
                    modelId: model.id, reason: .missingCapability,
                    detail: "lacks " + missing.map(\.rawValue).sorted().joined(separator: ", ")))
                continue
            }
            if !breakers.isAvailable(model.id) {
                decision.rejected.append(Rejection(
                    modelId: model.id, reason: .breakerOpen, detail: "breaker \(breakers.state(for: model.id).rawValue)"))
                continue
            }
            eligible.append((index, model, output,
                             model.costMicros(inputTokens: request.promptTokens, outputTokens: output),
                             model.price.costPicos(inputTokens: request.promptTokens, outputTokens: output)))
        }
        guard !eligible.isEmpty else {
            decision.fallback = .rulesBrain(.noEligibleModel)
            return decision
        }

        // 2. Score and order.
        let costs = eligible.map { Double($0.picos) }
        let latencies = eligible.map { Double($0.model.typicalLatencyMs) }
        let weightSum = profile.costWeight + profile.latencyWeight + profile.qualityWeight
        var ranked: [(index: Int, candidate: CandidateModel)] = eligible.enumerated().map { offset, entry in
            let costScore = Self.normalisedInverse(costs[offset], among: costs)
            let latencyScore = Self.normalisedInverse(latencies[offset], among: latencies)
            let qualityScore = min(max(entry.model.quality, 0), 1)
            let weighted = profile.costWeight * costScore + profile.latencyWeight * latencyScore + profile.qualityWeight * qualityScore
            let score = weightSum > 0 ? weighted / weightSum : 0
            return (entry.index, CandidateModel(
                model: entry.model, score: score, costScore: costScore, latencyScore: latencyScore, qualityScore: qualityScore,
                inputTokens: request.promptTokens, outputTokens: entry.output, estimatedCostMicros: entry.cost))
        }
        ranked.sort { $0.candidate.score != $1.candidate.score ? $0.candidate.score > $1.candidate.score : $0.index < $1.index }
        let ordered = ranked.map(\.candidate)

        // 3. Budget.
        let limits = catalog.budgets.limits(for: request.tenant)
        let includeConversation = request.conversation != nil
        let constrained = BudgetWindow.allCases.contains { limits[$0] != nil && (includeConversation || $0 != .conversation) }
        guard let spendSource, constrained else {
            decision.chain = ordered
            return decision
        }
        // nil: the ledger could not be read. Then paid models count as over budget — fail
        // closed on money (an outage must not become unbounded spend) but open on free models
        // (nor must it silence a free local model).
        let spends: BudgetSpends?
        do {
            spends = try await BudgetSpends.fetch(
                from: spendSource, limits: limits, tenant: request.tenant, conversation: request.conversation, now: wallClock())
        } catch {
            spends = nil
            decision.budget = .unavailable(message: String(describing: error))
        }

        func exceeded(_ candidate: CandidateModel) -> BudgetExceeded? {
            guard let spends else { return nil }
            if case .exceeded(let exceeded) = BudgetCheck.evaluate(
                limits: limits, spends: spends, estimateMicros: candidate.estimatedCostMicros, includeConversation: includeConversation) {
                return exceeded
            }
            return nil
        }
        func overBudget(_ candidate: CandidateModel) -> Rejection? {
            let detail: String
            if spends == nil {
                guard candidate.estimatedCostMicros > 0 else { return nil }
                detail = "spend unavailable; only free models allowed"
            } else {
                guard let exceeded = exceeded(candidate) else { return nil }
                detail = "\(exceeded.window.rawValue): spent \(exceeded.spentMicros) + estimate \(exceeded.estimateMicros) > limit \(exceeded.limitMicros) micros"
            }
            return Rejection(modelId: candidate.model.id, reason: .overBudget, detail: detail, estimatedCostMicros: candidate.estimatedCostMicros)
        }

        if !profile.allowCheaperOnBudget {
            let preferred = ordered.first { $0.model.profile == profile.name } ?? ordered[0]
            if overBudget(preferred) != nil {
                if let exceeded = exceeded(preferred) { decision.budget = .exceeded(exceeded) }
                decision.fallback = .rulesBrain(.budgetExceeded)
                for candidate in ordered {
                    decision.rejected.append(overBudget(candidate) ?? Rejection(
                        modelId: candidate.model.id, reason: .cheaperNotAllowed,
                        detail: "profile \(profile.name) does not fall back to cheaper models when \(preferred.model.id) is over budget",
                        estimatedCostMicros: candidate.estimatedCostMicros))
                }
                return decision
            }
        }

        var cheapestOver: CandidateModel?
        for candidate in ordered {
            if let rejection = overBudget(candidate) {
                decision.rejected.append(rejection)
                if cheapestOver.map({ candidate.estimatedCostMicros < $0.estimatedCostMicros }) ?? true { cheapestOver = candidate }
            } else {
                decision.chain.append(candidate)
            }
        }
        if decision.chain.isEmpty {
            decision.fallback = .rulesBrain(.budgetExceeded)
            if let cheapestOver, let exceeded = exceeded(cheapestOver) { decision.budget = .exceeded(exceeded) }
        } else if let spends, let headroom = BudgetCheck.headroom(limits: limits, spends: spends, includeConversation: includeConversation) {
            decision.budget = .withinBudget(headroom: headroom)
        }
        return decision
    }

    /// 1 for the smallest value, 0 for the largest, linear between; 1 when all are equal.
    private static func normalisedInverse(_ value: Double, among values: [Double]) -> Double {
        guard let low = values.min(), let high = values.max(), high > low else { return 1 }
        return (high - value) / (high - low)
    }
}
