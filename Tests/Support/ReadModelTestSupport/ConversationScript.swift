public import Events
import Foundation
import JSON

/// One conversation's events as the services append them, at times the test chooses, so rows
/// and API answers can be asserted exactly. Reactions belong to the turn of the latest customer
/// message, as they do live.
public struct ConversationScript: Sendable {
    public let conversationID: String
    public let tenantID: String
    public let customerID: String
    public private(set) var events: [EventEnvelope] = []
    /// The latest customer message: the cause of the reactions that follow.
    public private(set) var turn: EventEnvelope?

    public init(_ conversationID: String, tenant: String = "default", customer: String = "cus-1") {
        self.conversationID = conversationID
        self.tenantID = tenant
        self.customerID = customer
    }

    /// Milliseconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` time; traps on anything else (a typo in a test).
    public static func millis(_ time: String) -> Int64 {
        guard let millis = Timestamp.parse(time) else { fatalError("not a timestamp: \(time)") }
        return millis
    }

    @discardableResult
    public mutating func customerSays(_ text: String, at time: String) throws -> EventEnvelope {
        let event = try EventEnvelope.start(
            MessageReceived(customerID: customerID, text: text), conversationID: conversationID, tenantID: tenantID,
            producer: "gateway@test", occurredAtMillis: Self.millis(time))
        turn = event
        events.append(event)
        return event
    }

    @discardableResult
    public mutating func decides(intent: String, entities: [String: SlotValue] = [:], next: DecisionMade.NextAction = .respond, at time: String) throws -> EventEnvelope {
        try react(DecisionMade(brain: "rules", intent: intent, confidence: 0.9, entities: entities, nextAction: next, explain: "test"), at: time)
    }

    @discardableResult
    public mutating func plans(tools: [String], at time: String) throws -> EventEnvelope {
        let steps = tools.map { PlanStep(stepID: UUID(), tool: $0, args: .object([:]), why: "test") }
        return try react(PlanProposed(planID: UUID(), intent: "test", steps: steps), at: time)
    }

    @discardableResult
    public mutating func replies(_ text: String, kind: ReplyKind = .answer, at time: String) throws -> EventEnvelope {
        try react(ReplyDelivered(replyID: UUID(), kind: kind, text: text, channel: "api"), at: time)
    }

    @discardableResult
    public mutating func handsOver(reason: HandoverReason, skills: [String], at time: String) throws -> EventEnvelope {
        try react(HandoverRequested(reason: reason, summary: "summary of \(conversationID)", skills: skills), at: time)
    }

    @discardableResult
    public mutating func queued(_ queue: String, priority: Int, reason: HandoverReason, at time: String) throws -> EventEnvelope {
        try react(HandoverQueued(queue: queue, reason: reason, priority: priority), at: time)
    }

    @discardableResult
    public mutating func callsLLM(
        model: String, costMicros: Int64, tokensIn: Int = 100, tokensOut: Int = 20, latencyMs: Int = 300, outcome: LLMCallOutcome = .success, at time: String
    ) throws -> EventEnvelope {
        try react(
            LLMCallCompleted(
                provider: "test", model: model, purpose: "decision", tokensIn: tokensIn, tokensOut: tokensOut, costMicros: costMicros,
                latencyMs: latencyMs, outcome: outcome, cached: false),
            at: time)
    }

    /// A reaction of the current turn (random label: a turn may hold several of one type).
    @discardableResult
    public mutating func react<P: EventPayload>(_ payload: P, at time: String) throws -> EventEnvelope {
        guard let turn else { fatalError("a reaction needs a customer message first") }
        let event = try turn.reaction(payload, producer: "test", label: "\(P.eventType)/\(UUID())", occurredAtMillis: Self.millis(time))
        events.append(event)
        return event
    }
}
