public import Foundation
public import JSON

/// How much harm a tool can do, from the pack's contract (issue 9's approval ladder): tier 0
/// reads, tier 1 is a low-risk write (runs without a human when the decision is confident and
/// the rules hold), tier 2 a high-risk write (always a human). On the wire the tier number;
/// events from before the ladder said `read` (tier 0) or `write` (taken as tier 2).
public enum RiskTier: Int, Sendable, Codable, Comparable, CaseIterable, CustomStringConvertible {
    case read = 0
    case lowRiskWrite = 1
    case highRiskWrite = 2

    public var isWrite: Bool { self != .read }
    public var description: String { "tier \(rawValue)" }
    public static func < (a: RiskTier, b: RiskTier) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self), let tier = RiskTier(rawValue: number) {
            self = tier
        } else if let legacy = try? container.decode(String.self), let tier = ["read": RiskTier.read, "write": .highRiskWrite][legacy] {
            self = tier
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "risk tier must be 0, 1 or 2")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Why the verifier refused a step: a stable code on the wire.
public enum StepRejection: String, Codable, Sendable, CaseIterable {
    case unknownTool = "unknown_tool"
    case invalidArgs = "invalid_args"
    /// The tenant's configuration or the plan's intent does not allow the tool.
    case toolNotAllowed = "tool_not_allowed"
    /// A business rule of the pack is false (its message says what to tell the customer).
    case ruleFailed = "rule_failed"
    /// A business rule reads a fact that is not known (no earlier result, no such setting).
    case ruleUnknown = "rule_unknown"
    /// A human denied the approval.
    case approvalDenied = "approval_denied"
    /// Nobody approved in time; the conversation goes to a human.
    case approvalExpired = "approval_expired"
    /// An earlier step of the plan, whose result a rule needs, failed.
    case dependencyFailed = "dependency_failed"
    /// Before the approval ladder: every write was refused with this.
    case approvalRequired = "approval_required"
    /// The turn's budget is spent: more tool calls than the pack allows, or past its wall time.
    case budgetExceeded = "budget_exceeded"
    /// The same tool with the same arguments again in one turn.
    case loopDetected = "loop_detected"
    /// A write's argument states a fact (an id, an amount, a phone number) that neither the
    /// customer's messages nor a tool result gave: only the knowledge base, or nobody.
    case ungroundedArgs = "ungrounded_args"
}

/// What a write would change, rendered without changing it (the executor's dry run).
public struct EffectPreview: Codable, Sendable, Equatable {
    public struct Change: Codable, Sendable, Equatable {
        /// What is changed: `orders/DEF456`, `refunds/new`, `POST https://…`.
        public var target: String
        public var field: String
        public var before: JSONValue
        public var after: JSONValue
        public init(target: String, field: String, before: JSONValue, after: JSONValue) {
            self.target = target
            self.field = field
            self.before = before
            self.after = after
        }
    }
    /// One sentence for the approver.
    public var summary: String
    public var changes: [Change]
    public init(summary: String, changes: [Change]) {
        self.summary = summary
        self.changes = changes
    }
}

/// The verifier needs to see what a step would change before asking a human (verifier →
/// executor). Shadow mode will use the same request.
public struct DryRunRequested: EventPayload {
    public static let eventType = "DryRunRequested"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var args: JSONValue
    public var riskTier: RiskTier
    /// Why a human must look (for the approval that follows).
    public var reason: String
    /// The conversation's customer: the executor's tools see only this customer's records
    /// (another customer's order is not found). Absent in events from before it was carried.
    public var customerID: String?
    public init(planID: UUID, stepID: UUID, tool: String, args: JSONValue, riskTier: RiskTier, reason: String, customerID: String? = nil) {
        self.customerID = customerID
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.args = args
        self.riskTier = riskTier
        self.reason = reason
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, args, riskTier = "risk_tier", reason, customerID = "customer_id" }
}

/// The executor rendered the step's effect without applying it (executor → verifier).
public struct DryRunCompleted: EventPayload {
    public static let eventType = "DryRunCompleted"
    public static let eventVersion = 1
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var args: JSONValue
    public var riskTier: RiskTier
    public var reason: String
    public var preview: EffectPreview
    public init(planID: UUID, stepID: UUID, tool: String, args: JSONValue, riskTier: RiskTier, reason: String, preview: EffectPreview) {
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.args = args
        self.riskTier = riskTier
        self.reason = reason
        self.preview = preview
    }
    enum CodingKeys: String, CodingKey { case planID = "plan_id", stepID = "step_id", tool, args, riskTier = "risk_tier", reason, preview }
}

/// A step waits for a human (verifier → HILQueue and planner). The approval id is derived from
/// the step id, so there is one approval per step however often this is appended.
public struct ApprovalRequested: EventPayload {
    public static let eventType = "ApprovalRequested"
    public static let eventVersion = 1
    public var approvalID: UUID
    public var planID: UUID
    public var stepID: UUID
    public var tool: String
    public var args: JSONValue
    public var riskTier: RiskTier
    public var reason: String
    public var preview: EffectPreview
    /// The approval expires this long after the event's `occurred_at`, and the conversation goes
    /// to a human (a duration, so the deadline is a function of the log alone).
    public var timeoutSeconds: Int
    public init(approvalID: UUID, planID: UUID, stepID: UUID, tool: String, args: JSONValue, riskTier: RiskTier, reason: String, preview: EffectPreview, timeoutSeconds: Int) {
        self.approvalID = approvalID
        self.planID = planID
        self.stepID = stepID
        self.tool = tool
        self.args = args
        self.riskTier = riskTier
        self.reason = reason
        self.preview = preview
        self.timeoutSeconds = timeoutSeconds
    }
    enum CodingKeys: String, CodingKey {
        case approvalID = "approval_id", planID = "plan_id", stepID = "step_id", tool, args, riskTier = "risk_tier", reason, preview, timeoutSeconds = "timeout_seconds"
    }
}

/// A human approved the step (HILQueue → verifier, which lets it run).
public struct ApprovalGranted: EventPayload {
    public static let eventType = "ApprovalGranted"
    public static let eventVersion = 1
    public var approvalID: UUID
    public var stepID: UUID
    /// The approving agent.
    public var decidedBy: String
    public var note: String
    public init(approvalID: UUID, stepID: UUID, decidedBy: String, note: String) {
        self.approvalID = approvalID
        self.stepID = stepID
        self.decidedBy = decidedBy
        self.note = note
    }
    enum CodingKeys: String, CodingKey { case approvalID = "approval_id", stepID = "step_id", decidedBy = "decided_by", note }
}

/// A human refused the step (HILQueue → verifier, which rejects it with the reason).
public struct ApprovalDenied: EventPayload {
    public static let eventType = "ApprovalDenied"
    public static let eventVersion = 1
    public var approvalID: UUID
    public var stepID: UUID
    public var decidedBy: String
    public var reason: String
    public init(approvalID: UUID, stepID: UUID, decidedBy: String, reason: String) {
        self.approvalID = approvalID
        self.stepID = stepID
        self.decidedBy = decidedBy
        self.reason = reason
    }
    enum CodingKeys: String, CodingKey { case approvalID = "approval_id", stepID = "step_id", decidedBy = "decided_by", reason }
}

/// Nobody decided within the timeout (HILQueue's sweeper → verifier).
public struct ApprovalExpired: EventPayload {
    public static let eventType = "ApprovalExpired"
    public static let eventVersion = 1
    public var approvalID: UUID
    public var stepID: UUID
    public init(approvalID: UUID, stepID: UUID) {
        self.approvalID = approvalID
        self.stepID = stepID
    }
    enum CodingKeys: String, CodingKey { case approvalID = "approval_id", stepID = "step_id" }
}
