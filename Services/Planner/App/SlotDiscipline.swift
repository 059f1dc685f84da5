public import DomainPack
import Events

/// Slot discipline over a model's decision, from the pack: what the customer's message fills by
/// the pack's own patterns counts as said by the customer; while a slot the intent needs is
/// missing (or only inferred by the model), exactly that one slot is asked for, with the pack's question; a filled slot is never
/// asked again; clarifications are capped (then a human takes over).
public struct SlotDiscipline: Sendable {
    public let pack: DomainPack

    /// The clarification counter for questions that are not about one of the intent's slots.
    static let openQuestion = "open_question"

    var limit: Int { pack.policy.maxClarificationsPerSlot }

    public init(pack: DomainPack) { self.pack = pack }

    public func apply(to decision: BrainDecision, text: String) -> BrainDecision {
        var decision = decision
        let spec = pack.intent(named: decision.intent)
        guard let spec, spec.action == .toolCalls else {
            if case .clarify(_, let question, _) = decision.action { return openQuestion(question, decision, spec: spec) }
            return decision
        }
        for slot in spec.slots {
            if let value = slot.value(in: text) {
                decision.state.slots[slot.name] = SlotValue(value: value, source: .customer)
            }
        }
        switch decision.action {
        case .plan, .clarify: return requireSlots(decision, spec: spec)
        default: return decision
        }
    }

    /// A plan or question for an intent with tools: ask for the first missing slot; with all
    /// slots known, a question is an open one and a plan goes ahead.
    func requireSlots(_ decision: BrainDecision, spec: IntentSpec) -> BrainDecision {
        var decision = decision
        // A value only a model inferred (nobody wrote it, no tool returned it) does not fill a
        // slot: small models invent ids, often the examples' (docs/BRAINS.md).
        if let missing = spec.slots.first(where: { (decision.state.slots[$0.name]?.source ?? .inferred) == .inferred }) {
            let asked = decision.state.clarifications[missing.name, default: 0]
            guard asked < limit else { return limitReached("slot \(missing.name)", decision, spec: spec) }
            decision.state.clarifications[missing.name] = asked + 1
            decision.state.pendingIntent = spec.name
            decision.action = .clarify(slot: missing.name, question: missing.question, attempt: asked + 1)
            return decision
        }
        if case .clarify(_, let question, _) = decision.action {
            decision.state.pendingIntent = spec.name
            return openQuestion(question, decision, spec: spec)
        }
        for slot in spec.slots { decision.state.clarifications[slot.name] = nil }
        decision.state.clarifications[Self.openQuestion] = nil
        decision.state.pendingIntent = nil
        return decision
    }

    /// A question that is not about one of the intent's slots: allowed, but capped.
    func openQuestion(_ question: String, _ decision: BrainDecision, spec: IntentSpec?) -> BrainDecision {
        var decision = decision
        let asked = decision.state.clarifications[Self.openQuestion, default: 0]
        guard asked < limit else { return limitReached("an answer", decision, spec: spec) }
        decision.state.clarifications[Self.openQuestion] = asked + 1
        decision.action = .clarify(slot: Self.openQuestion, question: question, attempt: asked + 1)
        return decision
    }

    func limitReached(_ what: String, _ decision: BrainDecision, spec: IntentSpec?) -> BrainDecision {
        var state = decision.state
        state.pendingIntent = nil
        return BrainDecision(
            intent: decision.intent, confidence: decision.confidence,
            action: .handover(reason: .clarificationLimit, text: pack.replies.clarificationLimit.render([:]), skills: spec?.skills ?? ["general"]),
            explain: decision.explain + "; \(what) still missing after \(limit) questions", state: state)
    }
}
