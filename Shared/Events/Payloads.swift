public import Foundation
public import JSON

// v1 payloads of the turn flow (DESIGN.md §4). Keys are snake_case on the wire. Each type has a
// JSON Schema at docs/events/<Type>.v<version>.json and an entry in docs/EVENTS.md; EventsTests
// checks both against what the code emits.

/// A customer's message entered the system. Appended by the gateway after validation; the
/// envelope's correlation id is the new turn's id.
public struct MessageReceived: EventPayload {
    public static let eventType = "MessageReceived"
    public static let eventVersion = 1
    public var customerID: String
    public var text: String
    public var channel: String
    public init(customerID: String, text: String, channel: String = "api") {
        self.customerID = customerID
        self.text = text
        self.channel = channel
    }
    enum CodingKeys: String, CodingKey { case customerID = "customer_id", text, channel }
}

/// What the brain decided for a customer message (DESIGN.md §4 step 2).
public struct DecisionMade: EventPayload {
    public static let eventType = "DecisionMade"
    public static let eventVersion = 1
    public enum NextAction: String, Codable, Sendable { case toolCalls = "tool_calls", clarify, respond, handover }
    /// `rules`, or the model that decided.
    public var brain: String
    public var intent: String
    public var confidence: Double
    /// Slots known after this message, with where each value came from.
    public var entities: [String: SlotValue]
    public var nextAction: NextAction
    public var explain: String
    public init(brain: String, intent: String, confidence: Double, entities: [String: SlotValue], nextAction: NextAction, explain: String) {
        self.brain = brain
        self.intent = intent
        self.confidence = confidence
        self.entities = entities
        self.nextAction = nextAction
        self.explain = explain
    }
    enum CodingKeys: String, CodingKey { case brain, intent, confidence, entities, nextAction = "next_action", explain }
}

/// A slot value and its provenance: what the customer said outranks anything inferred.
public struct SlotValue: Codable, Sendable, Equatable {
    public enum Source: String, Codable, Sendable { case customer, tool, inferred }
    public var value: String
    public var source: Source
    public init(value: String, source: Source) {
        self.value = value
        self.source = source
    }
}

public struct PlanStep: Codable, Sendable, Equatable {
    public var stepID: UUID
    public var tool: String
    public var args: JSONValue
    public var why: String
    public init(stepID: UUID, tool: String, args: JSONValue, why: String) {
        self.stepID = stepID
        self.tool = tool
        self.args = args
        self.why = why
    }
    enum CodingKeys: String, CodingKey { case stepID = "step_id", tool, args, why }
}

/// Steps the planner proposes; nothing runs until the verifier approves each.
public struct PlanProposed: EventPayload {
    public static let eventType = "PlanProposed"
    public static let eventVersion = 1
    public var planID: UUID
    public var intent: String
    public var steps: [PlanStep]
    public init(planID: UUID, intent: String, steps: [PlanStep]) {
        self.planID = planID
        self.intent = intent
        self.steps = steps
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", intent, steps }
}

/// The planner needs one missing slot and asks for it; the question itself travels as a ReplyDrafted.
public struct ClarificationRequested: EventPayload {
    public static let eventType = "ClarificationRequested"
    public static let eventVersion = 1
    public var intent: String
    public var slot: String
    public var question: String
    /// 1 for the first question about this slot in the conversation.
    public var attempt: Int
    public init(intent: String, slot: String, question: String, attempt: Int) {
        self.intent = intent
        self.slot = slot
        self.question = question
        self.attempt = attempt
    }
}

public struct ValidationIssue: Codable, Sendable, Equatable {
    /// JSON Pointer into the checked document.
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

public struct StepApproved: EventPayload {
    public static let eventType = "StepApproved"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var args: JSONValue
    public var riskTier: String
    public init(planID: UUID, stepID: UUID, tool: String, args: JSONValue, riskTier: String) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.args = args
        self.riskTier = riskTier
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, args, riskTier = "risk_tier" }
}

public struct StepRejected: EventPayload {
    public static let eventType = "StepRejected"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    /// Stable reason code: unknown_tool, invalid_args, policy.
    public var reason: String
    public var issues: [ValidationIssue]
    public init(planID: UUID, stepID: UUID, tool: String, reason: String, issues: [ValidationIssue]) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.reason = reason
        self.issues = issues
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, reason, issues }
}

/// The executor recorded the step and is about to act.
public struct ToolCallStarted: EventPayload {
    public static let eventType = "ToolCallStarted"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public init(planID: UUID, stepID: UUID, tool: String) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool }
}

public struct ToolSucceeded: EventPayload {
    public static let eventType = "ToolSucceeded"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var result: JSONValue
    public var durationMs: Int
    public init(planID: UUID, stepID: UUID, tool: String, result: JSONValue, durationMs: Int) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.result = result
        self.durationMs = durationMs
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, result, durationMs = "duration_ms" }
}

public struct ToolError: Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public var retriable: Bool
    public init(code: String, message: String, retriable: Bool) {
        self.code = code
        self.message = message
        self.retriable = retriable
    }
}

public struct ToolFailed: EventPayload {
    public static let eventType = "ToolFailed"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var error: ToolError
    public var durationMs: Int
    public init(planID: UUID, stepID: UUID, tool: String, error: ToolError, durationMs: Int) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.error = error
        self.durationMs = durationMs
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, error, durationMs = "duration_ms" }
}

/// A tool result passed the verifier's output checks; the planner may ground a reply in it.
public struct StepVerified: EventPayload {
    public static let eventType = "StepVerified"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var result: JSONValue
    public init(planID: UUID, stepID: UUID, tool: String, result: JSONValue) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.result = result
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, result }
}

public struct StepFailed: EventPayload {
    public static let eventType = "StepFailed"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    /// Stable reason code: tool_failed, invalid_result.
    public var reason: String
    public var issues: [ValidationIssue]
    public init(planID: UUID, stepID: UUID, tool: String, reason: String, issues: [ValidationIssue]) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.reason = reason
        self.issues = issues
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, reason, issues }
}

public enum ReplyKind: String, Codable, Sendable { case answer, clarification, handover, fallback }

public struct ReplyDrafted: EventPayload {
    public static let eventType = "ReplyDrafted"
    public static let eventVersion = 1
    public var replyID: UUID
    public var kind: ReplyKind
    public var text: String
    /// Step ids whose verified results the text is grounded in (empty for clarifications).
    public var grounding: [UUID]
    public init(replyID: UUID, kind: ReplyKind, text: String, grounding: [UUID]) {
        self.replyID = replyID
        self.kind = kind
        self.text = text
        self.grounding = grounding
    }
    enum CodingKeys: String, CodingKey { case replyID = "reply_id", kind, text, grounding }
}

public struct ReplyApproved: EventPayload {
    public static let eventType = "ReplyApproved"
    public static let eventVersion = 1
    public var replyID: UUID
    public var kind: ReplyKind
    public var text: String
    public init(replyID: UUID, kind: ReplyKind, text: String) {
        self.replyID = replyID
        self.kind = kind
        self.text = text
    }
    enum CodingKeys: String, CodingKey { case replyID = "reply_id", kind, text }
}

public struct ReplyBlocked: EventPayload {
    public static let eventType = "ReplyBlocked"
    public static let eventVersion = 1
    public var replyID: UUID
    public var kind: ReplyKind
    /// Stable reason code: empty, too_long, pii, ungrounded.
    public var reason: String
    public init(replyID: UUID, kind: ReplyKind, reason: String) {
        self.replyID = replyID
        self.kind = kind
        self.reason = reason
    }
    enum CodingKeys: String, CodingKey { case replyID = "reply_id", kind, reason }
}

/// The gateway handed the approved reply to the customer's channel.
public struct ReplyDelivered: EventPayload {
    public static let eventType = "ReplyDelivered"
    public static let eventVersion = 1
    public var replyID: UUID
    public var kind: ReplyKind
    public var text: String
    public var channel: String
    public init(replyID: UUID, kind: ReplyKind, text: String, channel: String) {
        self.replyID = replyID
        self.kind = kind
        self.text = text
        self.channel = channel
    }
    enum CodingKeys: String, CodingKey { case replyID = "reply_id", kind, text, channel }
}

public struct HandoverRequested: EventPayload {
    public static let eventType = "HandoverRequested"
    public static let eventVersion = 1
    /// Stable reason code: unknown_intent, customer_request, clarification_limit, step_rejected, tool_failed, reply_blocked.
    public var reason: String
    /// For the human picking it up; never contains secrets.
    public var summary: String
    public var skills: [String]
    public init(reason: String, summary: String, skills: [String]) {
        self.reason = reason
        self.summary = summary
        self.skills = skills
    }
}

public struct HandoverQueued: EventPayload {
    public static let eventType = "HandoverQueued"
    public static let eventVersion = 1
    public var queue: String
    public var reason: String
    public var priority: Int
    public init(queue: String, reason: String, priority: Int) {
        self.queue = queue
        self.reason = reason
        self.priority = priority
    }
}

/// One call to a language model, successful or not: the cost ledger is a projection of these.
public struct LLMCallCompleted: EventPayload {
    public static let eventType = "LLMCallCompleted"
    public static let eventVersion = 1
    public var provider: String
    public var model: String
    /// What the call was for: decision, repair, draft, summary, embedding.
    public var purpose: String
    public var tokensIn: Int
    public var tokensOut: Int
    /// Integer micro-dollars, from the model catalog's prices: no floating-point money.
    public var costMicros: Int64
    public var latencyMs: Int
    /// success, error, timeout, invalid_output, rate_limited.
    public var outcome: String
    public var cached: Bool
    public init(provider: String, model: String, purpose: String, tokensIn: Int, tokensOut: Int, costMicros: Int64, latencyMs: Int, outcome: String, cached: Bool) {
        self.provider = provider
        self.model = model
        self.purpose = purpose
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.costMicros = costMicros
        self.latencyMs = latencyMs
        self.outcome = outcome
        self.cached = cached
    }
    enum CodingKeys: String, CodingKey {
        case provider, model, purpose, tokensIn = "tokens_in", tokensOut = "tokens_out", costMicros = "cost_micros", latencyMs = "latency_ms", outcome, cached
    }
}

/// Every v1 payload type; docs/events and docs/EVENTS.md are checked against this list.
public enum EventCatalog {
    public static let all: [any EventPayload.Type] = [
        MessageReceived.self, DecisionMade.self, PlanProposed.self, ClarificationRequested.self,
        StepApproved.self, StepRejected.self, ToolCallStarted.self, ToolSucceeded.self, ToolFailed.self,
        StepVerified.self, StepFailed.self, ReplyDrafted.self, ReplyApproved.self, ReplyBlocked.self,
        ReplyDelivered.self, HandoverRequested.self, HandoverQueued.self, LLMCallCompleted.self,
    ]
}
