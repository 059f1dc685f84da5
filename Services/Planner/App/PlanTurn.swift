import Events
import Privacy
import Foundation
import JSON

/// An event a transition asks the reactor to append: the payload, and the label its id is derived
/// from (nil: the event type). Labels are part of the ids readers deduplicate by, so they never change.
struct Emission: Sendable, Equatable, CustomStringConvertible {
    var payload: any EventPayload
    var label: String?

    init(_ payload: any EventPayload, label: String? = nil) {
        self.payload = payload
        self.label = label
    }

    static func == (lhs: Emission, rhs: Emission) -> Bool {
        lhs.label == rhs.label && lhs.payload.isEqual(to: rhs.payload)
    }

    var description: String { "\(type(of: payload).eventType)\(label.map { " [\($0)]" } ?? "")" }

    /// Every reply the planner drafts: a sealed value's reference (`[PHONE#3f9a2b1c]`, which
    /// a template or a model may repeat) is named for the customer ("your phone number"); the
    /// value itself is only ever unsealed by the executor, for a tool.
    static func reply(_ replyID: UUID, _ kind: ReplyKind, _ text: String, grounding: [UUID] = []) -> Emission {
        Emission(ReplyDrafted(replyID: replyID, kind: kind, text: SealedReference.replacing(in: text) { $0.kind.sealedDisplay }, grounding: grounding))
    }

    /// A reply (when there is one to send) and the request for a human.
    static func handOver(replyID: UUID, kind: ReplyKind, reply: String?, reason: HandoverReason, summary: String, skills: [String]) -> [Emission] {
        (reply.map { [Emission.reply(replyID, kind, $0)] } ?? []) + [Emission(HandoverRequested(reason: reason, summary: summary, skills: skills))]
    }

    /// A step that failed or was rejected, or a reply the verifier blocked: a fallback reply
    /// (when there is one) and a human, whether or not the planner made the plan.
    static func fallback(after cause: UUID, reply: String?, reason: HandoverReason, summary: String) -> [Emission] {
        handOver(replyID: DerivedID.make(from: cause, label: "reply"), kind: .fallback, reply: reply, reason: reason, summary: summary, skills: ["general"])
    }

    static func decision(brain: String, intent: String, _ decision: BrainDecision) -> Emission {
        Emission(DecisionMade(
            brain: brain, intent: intent, confidence: decision.confidence, entities: decision.state.slots,
            nextAction: decision.nextAction, explain: decision.explain, mode: decision.mode))
    }
}

extension EventPayload {
    func isEqual(to other: any EventPayload) -> Bool { (other as? Self) == self }
}

/// One turn's plan, from proposal to its end, as a value: the states, and transitions that return
/// what to append (`Emission`s) instead of appending it. The reactor loads it, applies one event,
/// publishes the emissions and stores the result (one JSON shape, `Codable`, for the turns table
/// and the decision journal).
///
/// ```
/// MessageReceived ─open─▶ answered | asked | handed over           (no plan: the turn is over)
///                    └──▶ awaitingResults ─receive (last result)─▶ conclude ─▶ concluded:
///                              │                                         answered | handed over |
///                              │                                         next round (a new PlanTurn)
///                              └─fail (a step failed or was rejected)─▶ failed (handed over)
/// ```
///
/// Inputs that do not fit never crash the process: a result or failure for a step the plan does not
/// have is an error (`PlanTurnError.unknownStep`, dead-lettered), a second result for a step and
/// anything after the turn ended are ignored (`IgnoredInput`) and the first outcome stands.
struct PlanTurn: Codable, Sendable, Equatable {
    enum Status: String, Codable, Sendable {
        /// Planned; results for some steps are still missing.
        case awaitingResults = "awaiting_results"
        /// Every step has its result and the round ended: answered, handed over, or planned again.
        case concluded
        /// A step failed or was rejected, and a human took over.
        case failed
        /// A rule or a human refused a step; the customer was told why.
        case declined
    }

    let planID: UUID
    /// The turn (the customer message's correlation id) the plan serves; a next round keeps it.
    let turnID: UUID
    let conversationID: String
    let intent: String
    /// Expected results, in plan order. Kept apart from `steps`: turns planned before steps were
    /// stored have ids only.
    let stepIDs: [UUID]
    /// The plan as proposed (for a model's next round).
    let steps: [PlanStep]
    /// Model rounds after the first plan (react / plan_execute_reflect).
    let iteration: Int
    /// The decision's confidence and the case's facts when planned: the verifier's approval
    /// ladder and business rules read them from the plan.
    let confidence: Double?
    let facts: [String: String]
    /// Unix milliseconds by which the turn's steps must be done (the pack's wall-time budget
    /// from when the planner took up the message); every round of the turn keeps it.
    let deadlineMillis: Int64?
    /// The conversation's customer, whose records the plan's tools may see (every round keeps it).
    var customerID: String? = nil
    /// Language-model tokens (in + out) the turn has spent so far, against the pack's budget.
    private(set) var tokensUsed: Int
    /// Every result the turn's earlier rounds got (serialized), for the no-progress check.
    let earlierResults: [String]
    private(set) var results: [UUID: JSONValue]
    private(set) var status: Status

    /// How many steps still lack a result.
    var missing: Int { stepIDs.count { results[$0] == nil } }
    /// Results in plan order (null for a missing one).
    var orderedResults: [JSONValue] { stepIDs.map { results[$0] ?? .null } }
    /// Rounds a model may still start after this one, out of the intent's `max_iterations`.
    func roundsLeft(maxIterations: Int) -> Int { maxIterations - iteration - 1 }

    // MARK: Opening a turn

    /// Builds a plan: the one place plan and step ids are derived (from the causing event's id).
    static func propose(
        after cause: UUID, turnID: UUID, conversationID: String, intent: String, steps: [BrainDecision.ProposedStep], iteration: Int = 0,
        confidence: Double? = nil, facts: [String: String] = [:], deadlineMillis: Int64? = nil, tokensUsed: Int = 0,
        earlierResults: [String] = [], customerID: String? = nil
    ) -> (turn: PlanTurn, emission: Emission) {
        let planID = DerivedID.make(from: cause, label: "plan")
        let planSteps = steps.enumerated().map { index, step in
            PlanStep(stepID: DerivedID.make(from: planID, label: "step/\(index)"), tool: step.tool, args: step.args, why: step.why)
        }
        var turn = PlanTurn(
            planID: planID, turnID: turnID, conversationID: conversationID, intent: intent, stepIDs: planSteps.map(\.stepID),
            steps: planSteps, iteration: iteration, confidence: confidence, facts: facts, deadlineMillis: deadlineMillis, tokensUsed: tokensUsed,
            earlierResults: earlierResults, results: [:], status: .awaitingResults)
        turn.customerID = customerID
        return (turn, Emission(PlanProposed(
            planID: planID, intent: intent, steps: planSteps, confidence: confidence, facts: facts, round: iteration, deadlineMillis: deadlineMillis,
            customerID: customerID)))
    }

    /// What the decision for a customer message appends, and the plan it opens, if any.
    struct Opening: Sendable, Equatable {
        var emissions: [Emission]
        var turn: PlanTurn?
        /// What the assistant said, for the conversation's context.
        var said: String?
        /// How the message was handled, for the customer's episode.
        var outcome: String
        var tools: [String]
    }

    static func open(
        after message: UUID, turnID: UUID, conversationID: String, decision: BrainDecision, brain: String, deadlineMillis: Int64? = nil, tokensUsed: Int = 0
    ) -> Opening {
        let decided = Emission.decision(brain: brain, intent: decision.intent, decision)
        let replyID = DerivedID.make(from: message, label: "reply")
        switch decision.action {
        case .plan(let steps):
            let (turn, proposal) = propose(
                after: message, turnID: turnID, conversationID: conversationID, intent: decision.intent, steps: steps,
                confidence: decision.confidence, facts: decision.state.slots.mapValues(\.value), deadlineMillis: deadlineMillis, tokensUsed: tokensUsed,
                customerID: decision.state.customerID)
            let tools = steps.map(\.tool)
            return Opening(emissions: [decided, proposal], turn: turn, outcome: "planned " + tools.joined(separator: ", "), tools: tools)
        case .clarify(let slot, let question, let attempt):
            let asked = Emission(ClarificationRequested(intent: decision.intent, slot: slot, question: question, attempt: attempt))
            return Opening(emissions: [decided, asked, .reply(replyID, .clarification, question)], said: question, outcome: "asked: " + clip(question), tools: [])
        case .respond(let text):
            return Opening(emissions: [decided, .reply(replyID, .answer, text)], said: text, outcome: "answered: " + clip(text), tools: [])
        case .handover(let reason, let text, let skills):
            let handover = Emission.handOver(
                replyID: replyID, kind: .handover, reply: text, reason: reason,
                summary: "Customer asked: intent \(decision.intent); \(decision.explain).", skills: skills)
            return Opening(emissions: [decided] + handover, said: text, outcome: "handed over (\(reason.rawValue))", tools: [])
        }
    }

    // MARK: Step results and failures

    /// What a step's verified result did to the turn.
    enum ResultTransition: Sendable, Equatable {
        /// Recorded; `missing` more results are awaited.
        case awaiting(missing: Int)
        /// Recorded the last missing result: the round ends now (`conclude`).
        case resultsComplete
        /// Nothing changed; the event is only marked handled.
        case ignored(IgnoredInput)
    }

    /// What a step's failure or rejection did to the turn.
    enum FailureTransition: Sendable, Equatable {
        /// The turn failed: append these (a fallback reply and a handover).
        case failed([Emission])
        /// Nothing changed; the event is only marked handled.
        case ignored(IgnoredInput)
    }

    enum IgnoredInput: Sendable, Equatable, CustomStringConvertible {
        /// The step already has its result (a repeated result, or a failure after success): the first stands.
        case stepSettled
        /// The turn already concluded or failed.
        case turnEnded(Status)

        var description: String {
            switch self {
            case .stepSettled: "step_settled"
            case .turnEnded(let status): "turn_\(status.rawValue)"
            }
        }
    }

    /// A verified result for one of the plan's steps.
    mutating func receive(_ result: JSONValue, for stepID: UUID) throws(PlanTurnError) -> ResultTransition {
        if let ignored = try check(stepID) { return .ignored(ignored) }
        results[stepID] = result
        return missing == 0 ? .resultsComplete : .awaiting(missing: missing)
    }

    /// A step failed or was rejected: the turn fails once, and a human takes over.
    mutating func fail(_ stepID: UUID, after cause: UUID, reply: String?, reason: HandoverReason, summary: String) throws(PlanTurnError) -> FailureTransition {
        if let ignored = try check(stepID) { return .ignored(ignored) }
        status = .failed
        return .failed(Emission.fallback(after: cause, reply: reply, reason: reason, summary: summary))
    }

    /// A later round that learned nothing new: every result it got, an earlier round of the turn
    /// already had. Another round would most likely go the same way.
    var madeNoProgress: Bool {
        iteration > 0 && !stepIDs.isEmpty && orderedResults.allSatisfy { earlierResults.contains($0.serializedString()) }
    }

    /// Counts a round's model tokens against the turn's budget (the next round inherits them).
    mutating func spend(tokens: Int) { tokensUsed += tokens }

    /// A rule or a human refused a step: the customer is told why (`reply`) and the turn ends
    /// without a handover, because nothing is broken and a person would say the same.
    mutating func decline(_ stepID: UUID, after cause: UUID, reply: String) throws(PlanTurnError) -> FailureTransition {
        if let ignored = try check(stepID) { return .ignored(ignored) }
        status = .declined
        return .failed([.reply(DerivedID.make(from: cause, label: "reply"), .answer, reply)])
    }

    /// A step waits for a human's approval: the customer hears that it is waiting, and the turn
    /// goes on waiting for the step's result (or its denial, or the timeout).
    func awaitApproval(of stepID: UUID, after cause: UUID, reply: String) throws(PlanTurnError) -> FailureTransition {
        if let ignored = try check(stepID) { return .ignored(ignored) }
        return .failed([.reply(DerivedID.make(from: cause, label: "reply"), .answer, reply)])
    }

    private func check(_ stepID: UUID) throws(PlanTurnError) -> IgnoredInput? {
        guard stepIDs.contains(stepID) else { throw .unknownStep(planID: planID, stepID: stepID) }
        if results[stepID] != nil { return .stepSettled }
        if status != .awaitingResults { return .turnEnded(status) }
        return nil
    }

    // MARK: Ending a round

    /// How a round with every result in ends.
    enum Conclusion: Sendable, Equatable {
        /// Reply from the results (grounded in the plan's steps).
        case answer(String)
        /// A model decided a human should take over.
        case handOver(reason: HandoverReason, reply: String, summary: String, skills: [String])
        /// No answer template matched the result of `tool`: the pack's tool-failed reply and a human.
        case noAnswer(tool: String, reply: String)
        /// A model wants more tools: a new plan in the same turn.
        case nextRound([BrainDecision.ProposedStep], confidence: Double)
    }

    struct Concluded: Sendable, Equatable {
        var emissions: [Emission]
        /// The next round's plan.
        var next: PlanTurn?
        /// What the assistant said, for the conversation's context.
        var said: String?
        /// How the turn ended, for the customer's episode; nil while it goes on.
        var outcome: String?
    }

    /// The round's conclusion from a model's decision; nil: the pack's template answers (a
    /// question after tools ran, or more tools with no rounds left).
    func conclusion(fromModel decision: BrainDecision, maxIterations: Int) -> Conclusion? {
        switch decision.action {
        case .respond(let text): .answer(text)
        case .handover(let reason, let text, let skills): .handOver(reason: reason, reply: text, summary: "After tool results: \(decision.explain)", skills: skills)
        case .plan(let steps) where roundsLeft(maxIterations: maxIterations) > 0: .nextRound(steps, confidence: decision.confidence)
        default: nil
        }
    }

    /// The pack's answer template (`answer`) for the last step's result. Without a result there
    /// (an empty plan, say) or a template that fits, a human takes over.
    func templateConclusion(tool: String, noAnswerReply: String, answer: (JSONValue) -> String?) -> Conclusion {
        guard let last = stepIDs.last.flatMap({ results[$0] }), let text = answer(last) else {
            return .noAnswer(tool: tool, reply: noAnswerReply)
        }
        return .answer(text)
    }

    mutating func conclude(_ conclusion: Conclusion, after cause: UUID) throws(PlanTurnError) -> Concluded {
        try markConcluded()
        let replyID = DerivedID.make(from: planID, label: "reply")
        switch conclusion {
        case .answer(let text):
            return Concluded(emissions: [.reply(replyID, .answer, text, grounding: stepIDs)], said: text, outcome: "answered: " + Self.clip(text))
        case .handOver(let reason, let reply, let summary, let skills):
            let emissions = Emission.handOver(replyID: replyID, kind: .handover, reply: reply, reason: reason, summary: summary, skills: skills)
            return Concluded(emissions: emissions, said: reply, outcome: "handed over")
        case .noAnswer(let tool, let reply):
            let emissions = Emission.handOver(
                replyID: replyID, kind: .handover, reply: reply, reason: .noAnswerTemplate,
                summary: "No answer template matched the result of \(tool).", skills: ["general"])
            // As before the split: this reply does not join the conversation's context.
            return Concluded(emissions: emissions, outcome: "handed over")
        case .nextRound(let steps, let confidence):
            let (next, proposal) = Self.propose(
                after: cause, turnID: turnID, conversationID: conversationID, intent: intent, steps: steps, iteration: iteration + 1,
                confidence: confidence, facts: facts, deadlineMillis: deadlineMillis, tokensUsed: tokensUsed,
                earlierResults: earlierResults + orderedResults.map { $0.serializedString() }, customerID: customerID)
            return Concluded(emissions: [proposal], next: next)
        }
    }

    /// Ends the round without emitting: the decision journal already holds what concluding it
    /// emitted (a re-run after a crash between publishing and committing).
    mutating func markConcluded() throws(PlanTurnError) {
        guard status == .awaitingResults, missing == 0 else {
            throw .cannotConclude(planID: planID, status: status, missing: missing)
        }
        status = .concluded
    }

    /// Inferred slot values a step found nothing for (`found: false`) were wrong guesses: they
    /// leave the state, with a `FactRetracted` each, so the next question asks the customer.
    func retractions(from state: inout ConversationState) -> [Emission] {
        var emissions: [Emission] = []
        for (index, step) in steps.enumerated() where index < stepIDs.count {
            guard results[stepIDs[index]]?["found"] == .bool(false), case .object(let args) = step.args else { continue }
            for (name, value) in args.sorted(by: { $0.key < $1.key }) {
                guard let slot = state.slots[name], slot.source == .inferred, value.stringValue == slot.value else { continue }
                state.slots[name] = nil
                emissions.append(Emission(FactRetracted(name: name, value: slot.value, reason: "\(step.tool) found nothing for it"), label: "retract/\(name)"))
            }
        }
        return emissions
    }

    static func clip(_ text: String) -> String { text.count > 160 ? String(text.prefix(157)) + "..." : text }

    // MARK: Stored form

    enum CodingKeys: String, CodingKey {
        case planID = "plan_id", turnID = "turn_id", conversationID = "conversation_id", intent, stepIDs = "step_ids", steps, iteration, results, status
        case confidence, facts, deadlineMillis = "deadline_ms", tokensUsed = "tokens_used", earlierResults = "earlier_results"
    }

    /// Lenient where older rows and journal entries are: no results, steps or status yet, and
    /// step ids in either case.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        planID = try container.decode(UUID.self, forKey: .planID)
        turnID = try container.decode(UUID.self, forKey: .turnID)
        conversationID = try container.decode(String.self, forKey: .conversationID)
        intent = try container.decode(String.self, forKey: .intent)
        stepIDs = try container.decode([UUID].self, forKey: .stepIDs)
        steps = try container.decodeIfPresent([PlanStep].self, forKey: .steps) ?? []
        iteration = try container.decodeIfPresent(Int.self, forKey: .iteration) ?? 0
        let stored = try container.decodeIfPresent([String: JSONValue].self, forKey: .results) ?? [:]
        results = Dictionary(stored.compactMap { key, value in UUID(uuidString: key).map { ($0, value) } }, uniquingKeysWith: { first, _ in first })
        status = try container.decodeIfPresent(Status.self, forKey: .status) ?? .awaitingResults
        confidence = try container.decodeIfPresent(Double.self, forKey: .confidence)
        facts = try container.decodeIfPresent([String: String].self, forKey: .facts) ?? [:]
        deadlineMillis = try container.decodeIfPresent(Int64.self, forKey: .deadlineMillis)
        tokensUsed = try container.decodeIfPresent(Int.self, forKey: .tokensUsed) ?? 0
        earlierResults = try container.decodeIfPresent([String].self, forKey: .earlierResults) ?? []
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(planID.lowercaseString, forKey: .planID)
        try container.encode(turnID.lowercaseString, forKey: .turnID)
        try container.encode(conversationID, forKey: .conversationID)
        try container.encode(intent, forKey: .intent)
        try container.encode(stepIDs.map(\.lowercaseString), forKey: .stepIDs)
        try container.encode(steps, forKey: .steps)
        try container.encode(iteration, forKey: .iteration)
        try container.encode(Dictionary(uniqueKeysWithValues: results.map { ($0.key.lowercaseString, $0.value) }), forKey: .results)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(confidence, forKey: .confidence)
        try container.encode(facts, forKey: .facts)
        try container.encodeIfPresent(deadlineMillis, forKey: .deadlineMillis)
        try container.encode(tokensUsed, forKey: .tokensUsed)
        try container.encode(earlierResults, forKey: .earlierResults)
    }

    private init(
        planID: UUID, turnID: UUID, conversationID: String, intent: String, stepIDs: [UUID], steps: [PlanStep], iteration: Int,
        confidence: Double?, facts: [String: String], deadlineMillis: Int64?, tokensUsed: Int, earlierResults: [String],
        results: [UUID: JSONValue], status: Status
    ) {
        self.earlierResults = earlierResults
        self.confidence = confidence
        self.facts = facts
        self.deadlineMillis = deadlineMillis
        self.tokensUsed = tokensUsed
        self.planID = planID
        self.turnID = turnID
        self.conversationID = conversationID
        self.intent = intent
        self.stepIDs = stepIDs
        self.steps = steps
        self.iteration = iteration
        self.results = results
        self.status = status
    }
}

enum PlanTurnError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A result or failure for a step the plan does not have: nothing can make it right.
    case unknownStep(planID: UUID, stepID: UUID)
    /// `conclude` before every result is in, or after the turn ended: a caller's bug.
    case cannotConclude(planID: UUID, status: PlanTurn.Status, missing: Int)

    var description: String {
        switch self {
        case .unknownStep(let planID, let stepID): "plan \(planID) has no step \(stepID)"
        case .cannotConclude(let planID, let status, let missing): "plan \(planID) cannot conclude: \(status.rawValue), \(missing) results missing"
        }
    }
}
