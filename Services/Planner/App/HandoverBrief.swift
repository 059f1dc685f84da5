import DomainPack
import Events
import Foundation
import JSON

/// What a human picking up a handover reads first (`HandoverRequested.summary`): what the
/// customer wants, the facts known, what the AI did, and why it stopped. Composed in one place
/// from the conversation state and the turn, whichever path handed over.
struct HandoverBrief {
    var reason: HandoverReason
    /// The handing-over path's own words (which tool failed, which rule, …).
    var detail: String
    var state: ConversationState
    var turn: PlanTurn?

    var text: String {
        var lines: [String] = []
        let asked = state.recent.last { $0.role == "customer" }?.text ?? ""
        let intent = turn?.intent ?? state.pendingIntent
        lines.append("Customer wants: " + [intent.map { "\($0)" }, asked.isEmpty ? nil : "\"\(Self.clip(asked, 200))\""].compactMap { $0 }.joined(separator: " — "))
        let facts = state.slots.keys.sorted().map { "\($0)=\(state.slots[$0]!.value) (\(state.slots[$0]!.source.rawValue))" }
        if !facts.isEmpty { lines.append("Facts: " + facts.joined(separator: ", ")) }
        if let turn, !turn.steps.isEmpty {
            let steps = turn.steps.map { step -> String in
                let outcome = turn.results[step.stepID].map { "done: " + Self.clip($0.serializedString(), 120) } ?? "not completed"
                return "\(step.tool)(\(Self.clip(step.args.serializedString(), 80))) → \(outcome)"
            }
            lines.append("AI did: " + steps.joined(separator: "; "))
        } else {
            lines.append("AI did: no tool calls")
        }
        lines.append("Stopped because: \(Self.describe(reason)) — \(detail)")
        return lines.joined(separator: "\n")
    }

    static func describe(_ reason: HandoverReason) -> String {
        switch reason {
        case .unknownIntent: "the request is outside what the AI handles"
        case .customerRequest: "the customer asked for a person"
        case .clarificationLimit: "the customer did not give a detail after repeated questions"
        case .stepRejected: "a planned action was refused"
        case .toolFailed: "a system the AI needed failed"
        case .replyBlocked: "the drafted reply failed its checks"
        case .modelHandover: "the model decided a person should take it"
        case .noAnswerTemplate: "no answer fits the tool results"
        case .approvalTimeout: "nobody approved the action in time"
        case .budgetExhausted: "the turn ran out of its budget"
        case .lowConfidence: "the AI was not confident enough"
        case .repeatedErrors: "several turns in a row could not help"
        case .policyRule: "a policy of the pack sends this to a person"
        }
    }

    static func clip(_ text: String, _ limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
    }
}

/// The pack's own reasons to hand over a decision (`policy.handover`).
enum HandoverTriggers {
    /// Whether the pack's handover policy sends this decision to a person: a policy rule that
    /// holds (for any decision but a handover), or a confidence under the threshold (for a
    /// decision to act or answer; asking the customer is how an unsure brain should proceed).
    static func escalation(_ decision: BrainDecision, pack: DomainPack, tenant: String) -> (HandoverReason, String)? {
        if case .handover = decision.action { return nil }
        let policy = pack.policy.handover
        if !policy.rules.isEmpty {
            let roots: [String: JSONValue] = [
                "intent": .string(decision.intent), "confidence": .number(decision.confidence),
                "facts": .object(decision.state.slots.mapValues { .string($0.value) }),
                "tenant": .object(pack.tenant(tenant)?.settings ?? [:]),
            ]
            // A rule that cannot be decided (a fact not known yet) does not hold.
            if let rule = policy.rules.first(where: { (try? $0.when.evaluate(roots)) == .bool(true) }) {
                return (.policyRule, "\(rule.code): \(rule.note)")
            }
        }
        switch decision.action {
        case .plan, .respond:
            if decision.confidence < policy.minConfidence {
                return (.lowConfidence, "confidence \(decision.confidence) is under \(policy.minConfidence)")
            }
        case .clarify, .handover: break
        }
        return nil
    }

}
