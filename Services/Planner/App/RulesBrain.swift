public import DomainPack
import Foundation
public import Events
public import JSON

/// What the planner keeps per conversation between turns: the intent awaiting a slot, the slots
/// known so far (with provenance), how often each slot has been asked for, and the context a
/// language model sees (recent messages within a token budget, a rolling summary of older ones).
public struct ConversationState: Codable, Sendable, Equatable {
    public struct Message: Codable, Sendable, Equatable {
        /// customer, assistant, agent (a human agent's reply) or handback (the note an agent
        /// left when giving the conversation back to the AI).
        public var role: String
        public var text: String
        public init(role: String, text: String) {
            self.role = role
            self.text = text
        }
    }

    public var pendingIntent: String?
    public var slots: [String: SlotValue]
    public var clarifications: [String: Int]
    public var recent: [Message]
    public var summary: String?
    /// Who the conversation is with (for the customer's memory across conversations).
    public var customerID: String?
    /// Where the conversation stands, folded from the events the planner reads (all but
    /// replies and notes, which do not change whether the AI may answer).
    public var phase: ConversationPhase = .new
    /// Turns in a row that could not help (`policy.handover.consecutive_errors`).
    public var failedTurns = 0
    /// The intent of the last plan, for a correction that only gives a new value ("sorry, I
    /// meant ABC123").
    public var lastIntent: String?
    /// The turn whose replies wait for a person (its intent runs in assisted mode).
    public var assistedTurn: UUID?

    public init(pendingIntent: String? = nil, slots: [String: SlotValue] = [:], clarifications: [String: Int] = [:], recent: [Message] = [], summary: String? = nil, customerID: String? = nil) {
        self.customerID = customerID
        self.pendingIntent = pendingIntent
        self.slots = slots
        self.clarifications = clarifications
        self.recent = recent
        self.summary = summary
    }
    enum CodingKeys: String, CodingKey { case pendingIntent = "pending_intent", slots, clarifications, recent, summary, customerID = "customer_id", phase, failedTurns = "failed_turns", lastIntent = "last_intent", assistedTurn = "assisted_turn" }

    /// States stored before `recent`/`summary` existed decode with empty context.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        pendingIntent = try container.decodeIfPresent(String.self, forKey: .pendingIntent)
        slots = try container.decodeIfPresent([String: SlotValue].self, forKey: .slots) ?? [:]
        clarifications = try container.decodeIfPresent([String: Int].self, forKey: .clarifications) ?? [:]
        recent = try container.decodeIfPresent([Message].self, forKey: .recent) ?? []
        summary = try container.decodeIfPresent(String.self, forKey: .summary)
        customerID = try container.decodeIfPresent(String.self, forKey: .customerID)
        phase = try container.decodeIfPresent(ConversationPhase.self, forKey: .phase) ?? .new
        failedTurns = try container.decodeIfPresent(Int.self, forKey: .failedTurns) ?? 0
        lastIntent = try container.decodeIfPresent(String.self, forKey: .lastIntent)
        assistedTurn = try container.decodeIfPresent(UUID.self, forKey: .assistedTurn)
    }

    /// Appends a message and folds the oldest ones into the summary while the recent ones
    /// exceed `budgetTokens` (estimated at 4 bytes a token). The summary is deterministic and
    /// bounded: one clipped line per folded message, the newest 12 lines kept.
    public mutating func remember(_ role: String, _ text: String, budgetTokens: Int = 400) {
        recent.append(Message(role: role, text: text))
        func tokens(_ messages: [Message]) -> Int { messages.reduce(0) { $0 + $1.text.utf8.count / 4 + 4 } }
        var lines = summary.map { $0.components(separatedBy: "\n") } ?? []
        while recent.count > 2, tokens(recent) > budgetTokens {
            let folded = recent.removeFirst()
            let clipped = folded.text.count > 120 ? String(folded.text.prefix(117)) + "..." : folded.text
            lines.append("\(folded.role): \(clipped)")
        }
        if lines.count > 12 { lines.removeFirst(lines.count - 12) }
        summary = lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}

/// The brain's answer for one customer message.
public struct BrainDecision: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case plan(steps: [ProposedStep])
        case clarify(slot: String, question: String, attempt: Int)
        case respond(text: String)
        case handover(reason: HandoverReason, text: String, skills: [String])
    }
    public struct ProposedStep: Sendable, Equatable {
        public var tool: String
        public var args: JSONValue
        public var why: String
    }
    public var intent: String
    public var confidence: Double
    public var action: Action
    public var explain: String
    /// Conversation state after this message.
    public var state: ConversationState
    /// The intent's rollout mode this turn runs in (the reactor sets it).
    public var mode: RolloutMode = .autonomous

    public var nextAction: DecisionMade.NextAction {
        switch action {
        case .plan: .toolCalls
        case .clarify: .clarify
        case .respond: .respond
        case .handover: .handover
        }
    }
}

/// The deterministic brain: intents by pattern, slots by pattern, replies from templates, all
/// from the domain pack. It is the offline default and the last fallback behind any LLM.
public struct RulesBrain: Sendable {
    public let pack: DomainPack
    public static let unknownIntent = "unknown"

    /// Every slot of the pack by name (the first intent declaring a name defines its type).
    let slotSpecs: [String: SlotSpec]

    public init(pack: DomainPack) {
        self.pack = pack
        var specs: [String: SlotSpec] = [:]
        for intent in pack.intents { for slot in intent.slots where specs[slot.name] == nil { specs[slot.name] = slot } }
        slotSpecs = specs
    }

    /// Every intent whose patterns match `text`, in pack order (with the intent of a pending
    /// question first): the candidates a model chooses among.
    public func matchingIntents(_ text: String, state: ConversationState) -> [String] {
        var names = pack.intents.filter { $0.patterns.contains { $0.matches(text) } }.map(\.name)
        if let pending = state.pendingIntent, pack.intent(named: pending)?.slots.contains(where: { $0.matches(text) }) == true {
            names.removeAll { $0 == pending }
            names.insert(pending, at: 0)
        }
        return names
    }

    public func decide(text: String, state: ConversationState) -> BrainDecision {
        var state = state
        // A message that fills the slot we asked for continues that intent, whatever else it says.
        var intent: IntentSpec?
        var confidence = 0.9
        var explain: String
        let asksForHuman = pack.intents.contains { $0.action == .handover && $0.patterns.contains { $0.matches(text) } }
        if !asksForHuman, let pending = state.pendingIntent.flatMap(pack.intent(named:)),
           pending.slots.contains(where: { $0.matches(text) }) {
            intent = pending
            explain = "message supplies a slot of pending intent \(pending.name)"
        } else if let matched = pack.intents.first(where: { spec in spec.patterns.contains { $0.matches(text) } }) {
            intent = matched
            explain = "pattern matched intent \(matched.name)"
        } else if state.pendingIntent == nil, let last = state.lastIntent.flatMap(pack.intent(named:)), last.action == .toolCalls,
            last.slots.contains(where: { $0.matches(text) })
        {
            // Only a new value after a finished request: a correction of that request.
            intent = last
            confidence = 0.7
            explain = "message corrects a value of the last request (\(last.name))"
        } else {
            explain = "no intent pattern matched"
            confidence = 0.0
        }

        guard let intent else {
            state.pendingIntent = nil
            return BrainDecision(
                intent: Self.unknownIntent, confidence: confidence,
                action: .handover(reason: .unknownIntent, text: pack.replies.unknownIntent.render([:]), skills: ["general"]),
                explain: explain, state: state
            )
        }

        switch intent.action {
        case .respond:
            state.pendingIntent = nil
            return BrainDecision(intent: intent.name, confidence: confidence, action: .respond(text: intent.reply!.render(slotValues(state))), explain: explain, state: state)
        case .handover:
            state.pendingIntent = nil
            return BrainDecision(
                intent: intent.name, confidence: confidence,
                action: .handover(reason: .customerRequest, text: intent.reply!.render(slotValues(state)), skills: intent.skills),
                explain: explain, state: state
            )
        case .toolCalls:
            // What the customer says now outranks anything known before.
            for slot in intent.slots {
                if let value = slot.value(in: text) {
                    state.slots[slot.name] = SlotValue(value: value, source: .customer)
                }
            }
            if let missing = intent.slots.first(where: { state.slots[$0.name] == nil }) {
                let asked = state.clarifications[missing.name, default: 0]
                guard asked < pack.policy.maxClarificationsPerSlot else {
                    state.pendingIntent = nil
                    return BrainDecision(
                        intent: intent.name, confidence: confidence,
                        action: .handover(reason: .clarificationLimit, text: pack.replies.clarificationLimit.render([:]), skills: intent.skills),
                        explain: explain + "; slot \(missing.name) still missing after \(asked) questions", state: state
                    )
                }
                state.clarifications[missing.name] = asked + 1
                state.pendingIntent = intent.name
                return BrainDecision(
                    intent: intent.name, confidence: confidence,
                    action: .clarify(slot: missing.name, question: missing.question, attempt: asked + 1),
                    explain: explain + "; slot \(missing.name) missing", state: state
                )
            }
            state.pendingIntent = nil
            state.lastIntent = intent.name
            for slot in intent.slots { state.clarifications[slot.name] = nil }
            let values = slotValues(state)
            let steps = intent.steps.map { step in
                BrainDecision.ProposedStep(tool: step.tool, args: Self.fill(step.args, with: values), why: step.why)
            }
            return BrainDecision(intent: intent.name, confidence: confidence, action: .plan(steps: steps), explain: explain, state: state)
        }
    }

    /// The customer-facing answer for a completed plan: the first answer case whose `when`
    /// fields equal the result's, rendered with the slots and the result (the result wins).
    public func answer(intent name: String, result: JSONValue, state: ConversationState) -> String? {
        guard let intent = pack.intent(named: name) else { return nil }
        guard case .object(let fields) = result else { return nil }
        guard let chosen = intent.answers.first(where: { answer in
            answer.when.allSatisfy { key, expected in fields[key] == expected }
        }) else { return nil }
        return chosen.template.render(slotValues(state).merging(fields) { _, result in result })
    }

    /// Slot values as arguments and templates take them (numbers for `type: number` slots).
    func slotValues(_ state: ConversationState) -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        for (name, slot) in state.slots { values[name] = slotSpecs[name]?.json(slot.value) ?? .string(slot.value) }
        return values
    }


    /// Replaces `{{slot}}` string values in step argument templates.
    static func fill(_ template: JSONValue, with values: [String: JSONValue]) -> JSONValue {
        switch template {
        case .string(let text) where text.hasPrefix("{{") && text.hasSuffix("}}"):
            let name = String(text.dropFirst(2).dropLast(2)).trimmingCharacters(in: .whitespaces)
            return values[name] ?? .null
        case .array(let items): return .array(items.map { fill($0, with: values) })
        case .object(let object): return .object(object.mapValues { fill($0, with: values) })
        default: return template
        }
    }
}
