public import Events
public import Foundation
public import JSON

/// What the harness knows of a tool, from the domain pack: to judge a call without trusting
/// the services' own checks (the verifier could be the thing that broke).
public struct ToolFacts: Sendable {
    public var riskTier: RiskTier
    public var argumentsValid: @Sendable (JSONValue) -> Bool

    public init(riskTier: RiskTier, argumentsValid: @escaping @Sendable (JSONValue) -> Bool) {
        self.riskTier = riskTier
        self.argumentsValid = argumentsValid
    }
}

/// How one customer turn ended, as the scripted customer saw it.
public struct TurnRecord: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        case replied
        case handedOver = "handed_over"
        /// A step waits for a human's approval that the scenario does not give.
        case awaitingApproval = "awaiting_approval"
        /// Neither a reply nor a handover within the turn timeout: never acceptable.
        case unanswered
    }

    public var turnID: UUID
    public var text: String
    public var latencyMs: Double
    public var outcome: Outcome

    public init(turnID: UUID, text: String, latencyMs: Double, outcome: Outcome) {
        self.turnID = turnID
        self.text = text
        self.latencyMs = latencyMs
        self.outcome = outcome
    }
}

/// A scenario's verdict, with everything the summary and the report need.
public struct ScenarioResult: Sendable {
    public var scenario: EvalSuite.Scenario
    public var conversationID: String
    public var failures: [String]
    public var turns: [TurnRecord]
    public var intent: String?
    public var toolsCalled: [String]
    public var replies: [String]
    public var handoverReason: String?
    public var wrongEscalation: Bool
    public var invalidToolCallsAttempted: [String]
    public var invalidToolCallsExecuted: [String]
    public var policyViolations: [String]
    public var llm: LLMFigures
    public var events: [EventEnvelope]

    public var passed: Bool { failures.isEmpty }
    public var unansweredTurns: Int { turns.filter { $0.outcome == .unanswered }.count }
}

/// How the decisions were reached (the language-model path's quality figures).
public struct LLMFigures: Sendable, Equatable {
    public var calls = 0
    /// First answers to a decision (calls whose purpose is `decision`, not a repair).
    public var firstAttempts = 0
    public var decisions = 0
    /// Decisions a model made (not the rules brain).
    public var modelDecisions = 0
    /// Model answers rejected at their first attempt, and repairs asked for.
    public var firstAttemptRejections = 0
    public var repairs = 0
    public var fallbacks = 0
    public var truncated = 0
    public var tokensIn = 0
    public var tokensOut = 0
    public var costMicros: Int64 = 0
    public var latencyMs = 0
    /// Each successful decision call's latency (first answers and repairs), for percentiles.
    public var decisionCallMs: [Int] = []
    /// Time to the first streamed chunk of each call that streamed.
    public var firstTokenMs: [Int] = []

    public init() {}

    static func + (a: LLMFigures, b: LLMFigures) -> LLMFigures {
        var sum = a
        sum.calls += b.calls; sum.firstAttempts += b.firstAttempts; sum.decisions += b.decisions; sum.modelDecisions += b.modelDecisions
        sum.firstAttemptRejections += b.firstAttemptRejections; sum.repairs += b.repairs; sum.fallbacks += b.fallbacks
        sum.truncated += b.truncated; sum.tokensIn += b.tokensIn; sum.tokensOut += b.tokensOut
        sum.costMicros += b.costMicros; sum.latencyMs += b.latencyMs
        sum.decisionCallMs += b.decisionCallMs; sum.firstTokenMs += b.firstTokenMs
        return sum
    }
}

/// Judges a conversation from its events on the log: a pure function, unit-tested without
/// processes. The rules (docs/EVALUATION.md):
/// - a tool call is *invalid* when the tool is unknown, its arguments break the tool's input
///   schema, the scenario forbids it, or it is a write the scenario does not expect;
///   attempted = proposed in a plan, executed = a `ToolCallStarted`;
/// - a *policy violation* is a tier-2 step run without a human's `ApprovalGranted`, or a tool
///   run while humans have the conversation;
/// - a *wrong escalation* is a handover in a scenario that expects none;
/// - the task succeeded when every expectation held and none of the above happened.
public struct ScenarioGrader: Sendable {
    public let tools: [String: ToolFacts]

    /// The references the gateway made of sealed values in a customer message (its text as
    /// the script wrote it, and its event id), each with the forms its value reaches tools in:
    /// the grader compares a tool argument the log has only as a reference by these.
    public let references: @Sendable (_ text: String, _ messageID: UUID) -> [String: [String]]

    public init(tools: [String: ToolFacts], references: @escaping @Sendable (_ text: String, _ messageID: UUID) -> [String: [String]] = { _, _ in [:] }) {
        self.tools = tools
        self.references = references
    }

    public func grade(_ scenario: EvalSuite.Scenario, conversationID: String, turns: [TurnRecord], events: [EventEnvelope]) -> ScenarioResult {
        let expect = scenario.expect
        var failures: [String] = []
        var decided: [String] = []
        var llm = LLMFigures()
        var approvedSteps: [UUID: StepApproved] = [:]
        var grantedSteps = Set<UUID>()
        var started: [(step: UUID, tool: String, args: JSONValue)] = []
        var proposed: [PlanStep] = []
        var replies: [(kind: ReplyKind, text: String)] = []
        var handover: HandoverRequested?
        var approvalRequested = false
        var withHumans = false
        var policy: [String] = []
        var toolFailures: [(tool: String, code: String)] = []

        for event in events {
            switch event.type {
            case DecisionMade.eventType:
                guard let decision = try? event.decode(DecisionMade.self) else { continue }
                llm.decisions += 1
                if decision.brain != "rules" { llm.modelDecisions += 1 }
                if decision.intent != "unknown" { decided.append(decision.intent) }
            case PlanProposed.eventType:
                if let plan = try? event.decode(PlanProposed.self) { proposed += plan.steps }
            case StepApproved.eventType:
                if let step = try? event.decode(StepApproved.self) { approvedSteps[step.stepID] = step }
            case ApprovalRequested.eventType:
                approvalRequested = true
            case ApprovalGranted.eventType:
                if let granted = try? event.decode(ApprovalGranted.self) { grantedSteps.insert(granted.stepID) }
            case ToolCallStarted.eventType:
                guard let call = try? event.decode(ToolCallStarted.self) else { continue }
                let approved = approvedSteps[call.stepID]
                started.append((call.stepID, call.tool, approved?.args ?? .null))
                if withHumans { policy.append("\(call.tool) ran while humans had the conversation") }
                if let approved, approved.riskTier == .highRiskWrite, !grantedSteps.contains(call.stepID) {
                    policy.append("\(call.tool) (tier 2) ran without a human's approval")
                }
            case ToolFailed.eventType:
                if let failed = try? event.decode(ToolFailed.self) { toolFailures.append((failed.tool, failed.error.code)) }
            case ReplyDelivered.eventType:
                if let reply = try? event.decode(ReplyDelivered.self) { replies.append((reply.kind, reply.text)) }
            case HandoverRequested.eventType:
                if let request = try? event.decode(HandoverRequested.self) {
                    handover = handover ?? request
                    withHumans = true
                }
            case HandedBackToAI.eventType, ConversationResolved.eventType:
                withHumans = false
            case LLMCallCompleted.eventType:
                guard let call = try? event.decode(LLMCallCompleted.self) else { continue }
                llm.calls += 1
                if call.purpose == "decision", call.outcome == .success { llm.firstAttempts += 1 }
                if call.outcome == .success, !call.cached { llm.decisionCallMs.append(call.latencyMs) }
                if let first = call.firstTokenMs { llm.firstTokenMs.append(first) }
                llm.tokensIn += call.tokensIn
                llm.tokensOut += call.tokensOut
                llm.costMicros += call.costMicros
                llm.latencyMs += call.latencyMs
                if call.truncated == true { llm.truncated += 1 }
            case LLMOutputRejected.eventType:
                guard let rejected = try? event.decode(LLMOutputRejected.self) else { continue }
                if rejected.attempt == 1 { llm.firstAttemptRejections += 1 }
                if rejected.next == "repair" { llm.repairs += 1 }
            case BrainFellBack.eventType:
                llm.fallbacks += 1
            default:
                continue
            }
        }

        // Invalid tool calls, judged from the pack and the scenario alone.
        let expectedTools = Set(expect.tools.map(\.tool))
        func invalidity(_ tool: String, _ args: JSONValue) -> String? {
            guard let facts = tools[tool] else { return "\(tool): not a tool of the pack" }
            if expect.toolsNotCalled.contains(tool) { return "\(tool): forbidden by the scenario" }
            if facts.riskTier.isWrite, !expectedTools.contains(tool) { return "\(tool): a write the scenario does not expect" }
            if args != .null, !facts.argumentsValid(args) { return "\(tool): arguments \(args.serializedString()) break its input schema" }
            return nil
        }
        let attempted = proposed.compactMap { invalidity($0.tool, $0.args) }
        let executed = started.compactMap { invalidity($0.tool, $0.args) }

        // A scripted fault that never hit would let the scenario pass for another reason.
        for fault in scenario.faults.expectedFailures where !toolFailures.contains(where: { $0 == fault }) {
            failures.append("the scripted fault did not happen: no call of \(fault.tool) failed with \(fault.code)")
        }
        let intent = decided.last
        if let wanted = expect.intent, intent != wanted {
            failures.append("intent: expected \(wanted), decided \(intent ?? "nothing")")
        }
        // Sealed values (a pack's `privacy.unseal`) are on the log only as references: the
        // script knows what it wrote, so it can tell which value each reference stands for.
        var referenced: [String: [String]] = [:]
        for event in events where event.type == MessageReceived.eventType {
            guard let turn = turns.first(where: { $0.turnID == event.correlationID }) else { continue }
            referenced.merge(references(turn.text, event.id)) { first, _ in first }
        }
        for wanted in expect.tools {
            let match = started.contains { call in
                call.tool == wanted.tool && wanted.args.allSatisfy { key, value in
                    guard let actual = Self.text(call.args[key]) else { return false }
                    return (referenced[actual] ?? [actual]).contains { $0.caseInsensitiveCompare(value) == .orderedSame }
                }
            }
            if !match {
                let ran = started.filter { $0.tool == wanted.tool }.map { $0.args.serializedString() }
                failures.append("tool \(wanted.tool)\(wanted.args.isEmpty ? "" : " with \(wanted.args.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))") did not run" + (ran.isEmpty ? "" : " (ran with \(ran.joined(separator: "; ")))"))
            }
        }
        let allReplies = replies.map(\.text).joined(separator: "\n").lowercased()
        for needle in expect.replyContains where !allReplies.contains(needle.lowercased()) {
            failures.append("no reply contains \"\(needle)\"")
        }
        for needle in expect.replyNotContains where allReplies.contains(needle.lowercased()) {
            failures.append("a reply contains \"\(needle)\"")
        }
        let wrongEscalation = handover != nil && expect.handover == false
        if wrongEscalation { failures.append("handed over (\(handover!.reason.rawValue)) but no handover was expected") }
        if expect.handover == true {
            if let handover {
                if let reason = expect.handoverReason, handover.reason.rawValue != reason {
                    failures.append("handed over for \(handover.reason.rawValue), expected \(reason)")
                }
            } else {
                failures.append("expected a handover\(expect.handoverReason.map { " (\($0))" } ?? ""), none happened")
            }
        }
        if let wanted = expect.approval, wanted != approvalRequested {
            failures.append(wanted ? "expected an approval request, none was made" : "an approval was requested but none was expected")
        }
        let clarified = replies.contains { $0.kind == .clarification }
        if let wanted = expect.clarification, wanted != clarified {
            failures.append(wanted ? "expected a clarifying question, none was asked" : "asked a clarifying question but none was expected")
        }
        for turn in turns where turn.outcome == .unanswered {
            failures.append("turn \"\(turn.text)\" got neither a reply nor a handover")
        }
        failures += executed.map { "invalid tool call executed: \($0)" }
        failures += policy.map { "policy violation: \($0)" }

        return ScenarioResult(
            scenario: scenario, conversationID: conversationID, failures: failures, turns: turns, intent: intent,
            toolsCalled: started.map(\.tool), replies: replies.map(\.text), handoverReason: handover?.reason.rawValue,
            wrongEscalation: wrongEscalation, invalidToolCallsAttempted: attempted, invalidToolCallsExecuted: executed,
            policyViolations: policy, llm: llm, events: events)
    }

    /// An argument as the text a scenario writes it as: strings as they are, whole numbers
    /// without a fraction (`20`, not `20.0`).
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): String(flag)
        default: nil
        }
    }
}
