public import Foundation
public import Privacy
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
    /// The customer's words with personal data the pack does not allow in clear replaced by
    /// placeholders (`[EMAIL]`, `[CARD]`, …): what every reader of the log sees.
    public var text: String
    public var channel: String
    /// The original, sealed under the customer's key (AES-256-GCM, the event id as associated
    /// data), present only when something was redacted. Opened only by the executor for a tool
    /// the pack allows; unreadable for ever once the customer is erased (docs/SECURITY.md).
    public var sealed: SealedText?
    /// What was redacted: PII kind → count (never the values).
    public var redactions: [String: Int]?
    public init(customerID: String, text: String, channel: String = "api", sealed: SealedText? = nil, redactions: [String: Int]? = nil) {
        self.customerID = customerID
        self.text = text
        self.channel = channel
        self.sealed = sealed
        self.redactions = redactions
    }
    enum CodingKeys: String, CodingKey { case customerID = "customer_id", text, channel, sealed, redactions }
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
    /// The intent's rollout mode the turn ran in (absent: autonomous, as before modes existed).
    public var mode: RolloutMode?
    public init(brain: String, intent: String, confidence: Double, entities: [String: SlotValue], nextAction: NextAction, explain: String, mode: RolloutMode? = nil) {
        self.mode = mode
        self.brain = brain
        self.intent = intent
        self.confidence = confidence
        self.entities = entities
        self.nextAction = nextAction
        self.explain = explain
    }
    enum CodingKeys: String, CodingKey { case brain, intent, confidence, entities, nextAction = "next_action", explain, mode }
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
    /// The deciding brain's confidence: the approval ladder lets a low-risk write run without a
    /// human only at or above the pack's threshold. Absent (plans before the ladder) counts as 0.
    public var confidence: Double?
    /// The case's facts (slot values) when the plan was made, for the pack's business rules.
    public var facts: [String: String]?
    /// The turn's round (0: the first plan; a model's next rounds count up).
    public var round: Int?
    /// Unix milliseconds by which the turn's steps must be done (the pack's wall-time budget
    /// from when the planner took up the message); the verifier refuses steps after it, the
    /// executor bounds calls by it.
    public var deadlineMillis: Int64?
    /// The conversation's customer: the executor's tools see only this customer's records
    /// (another customer's order is not found). Absent in events from before it was carried.
    public var customerID: String?
    public init(planID: UUID, intent: String, steps: [PlanStep], confidence: Double? = nil, facts: [String: String]? = nil, round: Int? = nil, deadlineMillis: Int64? = nil, customerID: String? = nil) {
        self.customerID = customerID
        self.planID = planID
        self.intent = intent
        self.steps = steps
        self.confidence = confidence
        self.facts = facts
        self.round = round
        self.deadlineMillis = deadlineMillis
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", intent, steps, confidence, facts, round, deadlineMillis = "deadline_ms", customerID = "customer_id" }
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
    public var riskTier: RiskTier
    /// Unix milliseconds by which the call must be done (nil: the tool's own timeout only).
    public var deadlineMillis: Int64?
    /// The conversation's customer: the executor's tools see only this customer's records
    /// (another customer's order is not found). Absent in events from before it was carried.
    public var customerID: String?
    public init(planID: UUID, stepID: UUID, tool: String, args: JSONValue, riskTier: RiskTier, deadlineMillis: Int64? = nil, customerID: String? = nil) {
        self.customerID = customerID
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.args = args
        self.riskTier = riskTier
        self.deadlineMillis = deadlineMillis
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, args, riskTier = "risk_tier", deadlineMillis = "deadline_ms", customerID = "customer_id" }
}

public struct StepRejected: EventPayload {
    public static let eventType = "StepRejected"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    /// Stable reason code (`StepRejection`).
    public var reason: StepRejection
    public var issues: [ValidationIssue]
    /// What the customer may be told (a pack rule's message, who denied an approval and why).
    public var message: String?
    public init(planID: UUID, stepID: UUID, tool: String, reason: StepRejection, issues: [ValidationIssue], message: String? = nil) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.reason = reason
        self.issues = issues
        self.message = message
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, reason, issues, message }
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
    /// The tool's error code for `tool_failed` (`timeout`, `circuit_open`, `rejected_request`, …).
    public var errorCode: String?
    public init(planID: UUID, stepID: UUID, tool: String, reason: String, issues: [ValidationIssue], errorCode: String? = nil) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.reason = reason
        self.issues = issues
        self.errorCode = errorCode
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, reason, issues, errorCode = "error_code" }
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
    /// The turn runs in `assisted` mode: a person approves the reply before it is sent
    /// (absent: it goes out once the verifier's checks pass).
    public var approvalRequired: Bool?
    public init(replyID: UUID, kind: ReplyKind, text: String, grounding: [UUID], approvalRequired: Bool? = nil) {
        self.replyID = replyID
        self.kind = kind
        self.text = text
        self.grounding = grounding
        self.approvalRequired = approvalRequired
    }
    enum CodingKeys: String, CodingKey { case replyID = "reply_id", kind, text, grounding, approvalRequired = "approval_required" }
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
    /// Stable reason code: empty, too_long, pii, unrendered_template, ungrounded.
    public var reason: String
    /// What exactly (for `ungrounded`: the facts nobody gave, as `id:…`, `amount:…`, `date:…`).
    public var detail: String?
    public init(replyID: UUID, kind: ReplyKind, reason: String, detail: String? = nil) {
        self.replyID = replyID
        self.kind = kind
        self.reason = reason
        self.detail = detail
    }
    enum CodingKeys: String, CodingKey { case replyID = "reply_id", kind, reason, detail }
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

/// Why a conversation goes to a human: a stable code on the wire, one type in every service.
public enum HandoverReason: String, Codable, Sendable, CaseIterable {
    /// No intent of the pack matched (and no knowledge answered).
    case unknownIntent = "unknown_intent"
    /// The customer asked for a person, or the intent is one humans handle.
    case customerRequest = "customer_request"
    /// A slot was asked for as often as the pack allows.
    case clarificationLimit = "clarification_limit"
    case stepRejected = "step_rejected"
    case toolFailed = "tool_failed"
    case replyBlocked = "reply_blocked"
    /// A model decided to hand over.
    case modelHandover = "model_handover"
    /// Tool results arrived but no reply template of the intent fits them.
    case noAnswerTemplate = "no_answer_template"
    /// A write waited for a human's approval longer than the pack allows.
    case approvalTimeout = "approval_timeout"
    /// The turn ran out of its budget (tool calls, wall time) or went round in a loop.
    case budgetExhausted = "budget_exhausted"
    /// The decision's confidence was below the pack's `policy.handover.min_confidence`.
    case lowConfidence = "low_confidence"
    /// Turns in a row could not help (`policy.handover.consecutive_errors`).
    case repeatedErrors = "repeated_errors"
    /// A rule of the pack's `policy.handover.when` held.
    case policyRule = "policy_rule"

    /// Failures on our side go ahead of ordinary requests in the human queue.
    public var isPlatformFailure: Bool {
        switch self {
        case .toolFailed, .replyBlocked, .stepRejected, .approvalTimeout, .budgetExhausted, .repeatedErrors: true
        default: false
        }
    }
}

public struct HandoverRequested: EventPayload {
    public static let eventType = "HandoverRequested"
    public static let eventVersion = 1
    public var reason: HandoverReason
    /// For the human picking it up; never contains secrets.
    public var summary: String
    public var skills: [String]
    public init(reason: HandoverReason, summary: String, skills: [String]) {
        self.reason = reason
        self.summary = summary
        self.skills = skills
    }
}

public struct HandoverQueued: EventPayload {
    public static let eventType = "HandoverQueued"
    public static let eventVersion = 1
    public var queue: String
    public var reason: HandoverReason
    public var priority: Int
    public init(queue: String, reason: HandoverReason, priority: Int) {
        self.queue = queue
        self.reason = reason
        self.priority = priority
    }
}

/// One call to a language model, successful or not: the cost ledger is a projection of these.
/// How one LLM call ended: a stable code on the wire.
public enum LLMCallOutcome: String, Codable, Sendable, CaseIterable {
    case success, error, timeout
    case invalidOutput = "invalid_output"
    case rateLimited = "rate_limited"
}

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
    public var outcome: LLMCallOutcome
    public var cached: Bool
    /// The answer ran to the request's token limit and was cut off (absent: it was not).
    public var truncated: Bool?
    /// Time to the first token of a streamed answer (absent: not streamed).
    public var firstTokenMs: Int?
    public init(provider: String, model: String, purpose: String, tokensIn: Int, tokensOut: Int, costMicros: Int64, latencyMs: Int, outcome: LLMCallOutcome, cached: Bool, truncated: Bool? = nil, firstTokenMs: Int? = nil) {
        self.truncated = truncated
        self.firstTokenMs = firstTokenMs
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
        case provider, model, purpose, tokensIn = "tokens_in", tokensOut = "tokens_out", costMicros = "cost_micros", latencyMs = "latency_ms", outcome, cached, truncated
        case firstTokenMs = "first_token_ms"
    }
}

/// How the planner chose a model for one LLM call (or chose none): every candidate the catalog
/// offered, why the others were dropped, the budget check, and the fallback when no model
/// remains.
public struct RoutingDecided: EventPayload {
    public static let eventType = "RoutingDecided"
    public static let eventVersion = 1
    public struct Candidate: Codable, Sendable, Equatable {
        public var model: String
        public var score: Double
        public var estimatedCostMicros: Int64
        public init(model: String, score: Double, estimatedCostMicros: Int64) {
            self.model = model
            self.score = score
            self.estimatedCostMicros = estimatedCostMicros
        }
        enum CodingKeys: String, CodingKey { case model, score, estimatedCostMicros = "estimated_cost_micros" }
    }
    public struct Rejection: Codable, Sendable, Equatable {
        public var model: String
        /// context_too_small, missing_capability, breaker_open, over_budget, cheaper_not_allowed, excluded.
        public var reason: String
        public var detail: String
        public init(model: String, reason: String, detail: String) {
            self.model = model
            self.reason = reason
            self.detail = detail
        }
    }
    /// decision, repair.
    public var purpose: String
    public var profile: String
    /// The model tried first; nil when none qualified.
    public var chosen: String?
    /// The fallback chain in order (the chosen one first).
    public var candidates: [Candidate]
    public var rejected: [Rejection]
    public var estimatedTokensIn: Int
    /// unlimited, within, exceeded, unavailable.
    public var budget: String
    /// rules_brain when no model remains, else nil.
    public var fallback: String?
    /// no_eligible_model, budget_exceeded, unknown_profile; nil without a fallback.
    public var fallbackReason: String?
    public init(purpose: String, profile: String, chosen: String?, candidates: [Candidate], rejected: [Rejection], estimatedTokensIn: Int, budget: String, fallback: String?, fallbackReason: String?) {
        self.purpose = purpose
        self.profile = profile
        self.chosen = chosen
        self.candidates = candidates
        self.rejected = rejected
        self.estimatedTokensIn = estimatedTokensIn
        self.budget = budget
        self.fallback = fallback
        self.fallbackReason = fallbackReason
    }
    enum CodingKeys: String, CodingKey {
        case purpose, profile, chosen, candidates, rejected, estimatedTokensIn = "estimated_tokens_in", budget, fallback, fallbackReason = "fallback_reason"
    }
}

/// A model's output that failed validation (not JSON, not the decision schema, an unknown
/// tool, arguments outside the tool's contract) and what the planner does next.
public struct LLMOutputRejected: EventPayload {
    public static let eventType = "LLMOutputRejected"
    public static let eventVersion = 1
    public var model: String
    /// 1 for the first answer, 2 and 3 for repairs.
    public var attempt: Int
    public var errors: [String]
    /// repair (re-prompt with the errors), next_model, rules_brain.
    public var next: String
    public init(model: String, attempt: Int, errors: [String], next: String) {
        self.model = model
        self.attempt = attempt
        self.errors = errors
        self.next = next
    }
}

/// The planner left the model chain: every model failed or none was allowed, and the rules
/// brain (or a handover) decides instead.
public struct BrainFellBack: EventPayload {
    public static let eventType = "BrainFellBack"
    public static let eventVersion = 1
    /// rules or handover.
    public var to: String
    /// provider_error, invalid_output, budget_exceeded, no_eligible_model, breaker_open.
    public var reason: String
    /// The models tried this turn, in order.
    public var tried: [String]
    public init(to: String, reason: String, tried: [String]) {
        self.to = to
        self.reason = reason
        self.tried = tried
    }
}

/// A knowledge document as `switchboard kb ingest` chunked it, on the knowledge topic (keyed
/// `kb:<collection>`). The planner's knowledge index is a projection of these.
public struct KnowledgeDocumentPublished: EventPayload {
    public static let eventType = "KnowledgeDocumentPublished"
    public static let eventVersion = 1
    public struct Chunk: Codable, Sendable, Equatable {
        public var chunkID: String
        public var ordinal: Int
        public var headingPath: [String]
        public var text: String
        public var tokenCount: Int
        public init(chunkID: String, ordinal: Int, headingPath: [String], text: String, tokenCount: Int) {
            self.chunkID = chunkID
            self.ordinal = ordinal
            self.headingPath = headingPath
            self.text = text
            self.tokenCount = tokenCount
        }
        enum CodingKeys: String, CodingKey { case chunkID = "chunk_id", ordinal, headingPath = "heading_path", text, tokenCount = "token_count" }
    }
    public var collection: String
    public var documentID: String
    public var title: String
    /// Path relative to the ingested directory.
    public var source: String
    public var contentHash: String
    public var chunks: [Chunk]
    public init(collection: String, documentID: String, title: String, source: String, contentHash: String, chunks: [Chunk]) {
        self.collection = collection
        self.documentID = documentID
        self.title = title
        self.source = source
        self.contentHash = contentHash
        self.chunks = chunks
    }
    enum CodingKeys: String, CodingKey { case collection, documentID = "document_id", title, source, contentHash = "content_hash", chunks }
}

/// The complete list of a collection's documents after an ingest: the ones not listed are
/// stale and evicted from the index.
public struct KnowledgeCollectionSynced: EventPayload {
    public static let eventType = "KnowledgeCollectionSynced"
    public static let eventVersion = 1
    public var collection: String
    public var documentIDs: [String]
    public init(collection: String, documentIDs: [String]) {
        self.collection = collection
        self.documentIDs = documentIDs
    }
    enum CodingKeys: String, CodingKey { case collection, documentIDs = "document_ids" }
}

/// An inferred fact turned out wrong (a tool found nothing for it): it is taken back, so the
/// case record drops it and the planner asks the customer instead of guessing again.
public struct FactRetracted: EventPayload {
    public static let eventType = "FactRetracted"
    public static let eventVersion = 1
    public var name: String
    public var value: String
    public var reason: String
    public init(name: String, value: String, reason: String) {
        self.name = name
        self.value = value
        self.reason = reason
    }
}

/// A customer who met a busy platform (503 `overloaded`) left a question to be answered by
/// email (gateway, `POST /v1/conversations/{id}/answer-by-email`). The question is redacted like
/// a message; the address and the original question are sealed together under the customer's
/// key (`{"email": …, "text": …}`, the event id as associated data).
public struct AnswerByEmailRequested: EventPayload {
    public static let eventType = "AnswerByEmailRequested"
    public static let eventVersion = 1
    public var customerID: String
    public var text: String
    public var sealed: SealedText
    public init(customerID: String, text: String, sealed: SealedText) {
        self.customerID = customerID
        self.text = text
        self.sealed = sealed
    }
    enum CodingKeys: String, CodingKey { case customerID = "customer_id", text, sealed }
}

/// A customer's right to erasure was exercised (gateway, `DELETE /v1/customers/{id}`): their key
/// is destroyed, so every sealed original of theirs is unreadable; read models blank their
/// conversations' texts and the planner forgets what it remembered. Keyed `customer:<id>`.
public struct CustomerErased: EventPayload {
    public static let eventType = "CustomerErased"
    public static let eventVersion = 1
    public var customerID: String
    public init(customerID: String) { self.customerID = customerID }
    enum CodingKeys: String, CodingKey { case customerID = "customer_id" }
}

/// A customer allowed (or withdrew) memory across conversations (gateway). Keyed
/// `customer:<id>`. Withdrawal erases what was remembered.
public struct MemoryConsentChanged: EventPayload {
    public static let eventType = "MemoryConsentChanged"
    public static let eventVersion = 1
    public var customerID: String
    public var granted: Bool
    /// How long remembered facts live after they were last said.
    public var ttlSeconds: Int
    public init(customerID: String, granted: Bool, ttlSeconds: Int) {
        self.customerID = customerID
        self.granted = granted
        self.ttlSeconds = ttlSeconds
    }
    enum CodingKeys: String, CodingKey { case customerID = "customer_id", granted, ttlSeconds = "ttl_seconds" }
}

/// Every v1 payload type; docs/events and docs/EVENTS.md are checked against this list.
public enum EventCatalog {
    public static let all: [any EventPayload.Type] = [
        MessageReceived.self, DecisionMade.self, PlanProposed.self, ClarificationRequested.self,
        StepApproved.self, StepRejected.self, ToolCallStarted.self, ToolSucceeded.self, ToolFailed.self,
        StepVerified.self, StepFailed.self, ReplyDrafted.self, ReplyApproved.self, ReplyBlocked.self,
        ReplyDelivered.self, HandoverRequested.self, HandoverQueued.self, LLMCallCompleted.self,
        RoutingDecided.self, LLMOutputRejected.self, BrainFellBack.self,
        KnowledgeDocumentPublished.self, KnowledgeCollectionSynced.self, FactRetracted.self,
        MemoryConsentChanged.self, CustomerErased.self, AnswerByEmailRequested.self, DryRunRequested.self, DryRunCompleted.self, ApprovalRequested.self,
        ApprovalGranted.self, ApprovalDenied.self, ApprovalExpired.self,
        HandoverClaimed.self, AgentReplied.self, InternalNoteAdded.self, HandoverTransferred.self, HandoverReleased.self,
        ConversationResolved.self, HandedBackToAI.self, HandoverSLABreached.self, ShadowDecisionRecorded.self,
    ]
}
