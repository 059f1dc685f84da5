public import Foundation
public import JSON

/// How an intent is rolled out (docs/ROLLOUT.md). The mode lives in the domain pack, per intent,
/// and can change while the services run; every `DecisionMade` records the mode its turn ran in.
public enum RolloutMode: String, Codable, Sendable, CaseIterable {
    /// The brain decides and acts; replies go out once the verifier's checks pass.
    case autonomous
    /// The brain decides and acts, but each reply waits for a person's approval in the inbox.
    case assisted
    /// The rules brain answers; the candidate (the configured model) decides in the background,
    /// and what it would have done is recorded (`ShadowDecisionRecorded`), never acted on.
    case shadow
}

extension ApprovalRequested {
    /// The `tool` of an approval that holds a reply (assisted mode), not a tool call.
    public static let replyTool = "send_reply"
}

/// What the candidate brain would have done with a turn an intent in `shadow` mode answered with
/// the rules brain, beside what was done (planner). Only the KPI read model reads it.
public struct ShadowDecisionRecorded: EventPayload {
    public static let eventType = "ShadowDecisionRecorded"
    public static let eventVersion = 1

    public struct Choice: Codable, Sendable, Equatable {
        public var brain: String
        public var intent: String
        public var nextAction: DecisionMade.NextAction
        /// Tool calls in plan order, each `{tool, args}`.
        public var steps: [Step]
        public var reply: String?
        public init(brain: String, intent: String, nextAction: DecisionMade.NextAction, steps: [Step], reply: String?) {
            self.brain = brain
            self.intent = intent
            self.nextAction = nextAction
            self.steps = steps
            self.reply = reply
        }
        enum CodingKeys: String, CodingKey { case brain, intent, nextAction = "next_action", steps, reply }
    }

    public struct Step: Codable, Sendable, Equatable {
        public var tool: String
        public var args: JSONValue
        public init(tool: String, args: JSONValue) {
            self.tool = tool
            self.args = args
        }
    }

    /// What the customer got (the rules brain's decision).
    public var production: Choice
    /// What the candidate decided; nil when it gave no valid decision (`failure` says why).
    public var candidate: Choice?
    public var failure: String?
    /// Same intent, next action and tool calls (tools and arguments).
    public var agrees: Bool

    public init(production: Choice, candidate: Choice?, failure: String?) {
        self.production = production
        self.candidate = candidate
        self.failure = failure
        self.agrees = candidate.map { $0.intent == production.intent && $0.nextAction == production.nextAction && $0.steps == production.steps } ?? false
    }
}
