import DomainPack
public import Events
import Foundation
import JSON
public import Logging
import Projections
import ReadModels
import ServiceHost
public import ServiceRuntime

/// Reacts to plans, tool results, dry runs, approval decisions and drafted replies (DESIGN.md §4
/// steps 3, 5, 6). Every output id derives from the event it answers, so a redelivery appends
/// the same ids; what must outlive an event (held steps, open approvals, results rules read) is
/// in `VerifierStore`, written before the outputs that depend on it are published.
public struct VerifierReactor: Sendable {
    public static let interestedIn: Set<String> = [
        PlanProposed.eventType, ToolSucceeded.eventType, ToolFailed.eventType, ReplyDrafted.eventType,
        DryRunCompleted.eventType, ApprovalGranted.eventType, ApprovalDenied.eventType, ApprovalExpired.eventType,
        MessageReceived.eventType, CustomerErased.eventType,
    ]

    let checks: VerifierChecks
    let store: VerifierStore
    /// The grounding read models (nil: replies are not checked for grounding).
    let grounding: GroundingQueries?
    let producer: String
    let logger: Logger
    let publish: @Sendable ([EventEnvelope]) async throws -> Void
    /// Results kept for rules (`results.<tool>`); other tools' results are not stored.
    let rulesRead: Set<String>

    public init(
        checks: VerifierChecks, store: VerifierStore, grounding: GroundingQueries? = nil, producer: String, logger: Logger,
        publish: @escaping @Sendable ([EventEnvelope]) async throws -> Void
    ) {
        self.checks = checks
        self.store = store
        self.grounding = grounding
        self.producer = producer
        self.logger = logger
        self.publish = publish
        self.rulesRead = checks.toolsRulesRead
    }

    public func handle(_ event: EventEnvelope) async throws {
        try await publish(try await outputs(for: event))
    }

    public func outputs(for event: EventEnvelope) async throws -> [EventEnvelope] {
        switch event.type {
        case PlanProposed.eventType:
            return try await onPlan(event, try event.decode(PlanProposed.self))
        case MessageReceived.eventType:
            let message = try event.decode(MessageReceived.self)
            try await store.recordCustomerFacts(tenant: event.tenantID, conversation: event.conversationID, customer: message.customerID, tokens: GroundingTokens.extractCustomerFacts(message.text))
            return []
        case CustomerErased.eventType:
            try await store.forgetCustomer(tenant: event.tenantID, customer: try event.decode(CustomerErased.self).customerID)
            return []
        case ToolSucceeded.eventType:
            let success = try event.decode(ToolSucceeded.self)
            let issues = checks.check(result: success.result, tool: success.tool, context: .init(tenant: event.tenantID, intent: ""))
            var outputs: [EventEnvelope]
            if issues.isEmpty {
                outputs = [try event.reaction(StepVerified(planID: success.planID, stepID: success.stepID, tool: success.tool, result: success.result), producer: producer)]
            } else {
                outputs = [try event.reaction(StepFailed(planID: success.planID, stepID: success.stepID, tool: success.tool, reason: "invalid_result", issues: issues), producer: producer)]
            }
            if rulesRead.contains(success.tool) {
                if issues.isEmpty {
                    try await store.recordResult(tenant: event.tenantID, conversation: event.conversationID, tool: success.tool, stepID: success.stepID, result: success.result)
                }
                outputs += try await release(after: event, plan: success.planID, tool: success.tool, succeeded: issues.isEmpty)
            }
            return outputs
        case ToolFailed.eventType:
            let failure = try event.decode(ToolFailed.self)
            var outputs = [try event.reaction(StepFailed(planID: failure.planID, stepID: failure.stepID, tool: failure.tool, reason: "tool_failed", issues: [ValidationIssue(path: "", message: "\(failure.error.code): \(failure.error.message)")], errorCode: failure.error.code), producer: producer)]
            if rulesRead.contains(failure.tool) {
                outputs += try await release(after: event, plan: failure.planID, tool: failure.tool, succeeded: false)
            }
            return outputs
        case DryRunCompleted.eventType:
            let dryRun = try event.decode(DryRunCompleted.self)
            return [try event.reaction(ApprovalRequested(
                approvalID: Self.approvalID(step: dryRun.stepID), planID: dryRun.planID, stepID: dryRun.stepID, tool: dryRun.tool, args: dryRun.args,
                riskTier: dryRun.riskTier, reason: dryRun.reason, preview: dryRun.preview, timeoutSeconds: checks.pack.policy.approvals.timeoutSeconds), producer: producer)]
        case ApprovalGranted.eventType:
            let granted = try event.decode(ApprovalGranted.self)
            guard let approval = try await store.decide(approvalID: granted.approvalID, .granted, event: event.id) else { return ignoredDecision(event, granted.approvalID) }
            if approval.tool == ApprovalRequested.replyTool {
                return [try event.reaction(ReplyApproved(replyID: approval.stepID, kind: Self.heldKind(approval), text: approval.args["text"]?.stringValue ?? ""), producer: producer)]
            }
            // The customer stopped waiting long ago: the approved call gets the turn's wall
            // time afresh, from the decision.
            let deadline = event.occurredAtMillis + Int64(checks.pack.policy.budget.wallTimeMs)
            return [try event.reaction(StepApproved(planID: approval.planID, stepID: approval.stepID, tool: approval.tool, args: approval.args, riskTier: approval.riskTier, deadlineMillis: deadline, customerID: approval.customerID), producer: producer, label: "step/\(approval.stepID)")]
        case ApprovalDenied.eventType:
            let denied = try event.decode(ApprovalDenied.self)
            guard let approval = try await store.decide(approvalID: denied.approvalID, .denied, event: event.id) else { return ignoredDecision(event, denied.approvalID) }
            if approval.tool == ApprovalRequested.replyTool {
                return [try event.reaction(ReplyBlocked(replyID: approval.stepID, kind: Self.heldKind(approval), reason: "denied_by_person", detail: denied.reason), producer: producer)]
            }
            return [try event.reaction(StepRejected(
                planID: approval.planID, stepID: approval.stepID, tool: approval.tool, reason: .approvalDenied,
                issues: [ValidationIssue(path: "/approval", message: "denied by \(denied.decidedBy): \(denied.reason)")], message: denied.reason), producer: producer, label: "step/\(approval.stepID)")]
        case ApprovalExpired.eventType:
            let expired = try event.decode(ApprovalExpired.self)
            guard let approval = try await store.decide(approvalID: expired.approvalID, .expired, event: event.id) else { return ignoredDecision(event, expired.approvalID) }
            if approval.tool == ApprovalRequested.replyTool {
                return [try event.reaction(ReplyBlocked(replyID: approval.stepID, kind: Self.heldKind(approval), reason: "approval_expired"), producer: producer)]
            }
            return [try event.reaction(StepRejected(
                planID: approval.planID, stepID: approval.stepID, tool: approval.tool, reason: .approvalExpired,
                issues: [ValidationIssue(path: "/approval", message: "not approved within \(checks.pack.policy.approvals.timeoutSeconds) s")]), producer: producer, label: "step/\(approval.stepID)")]
        case ReplyDrafted.eventType:
            let draft = try event.decode(ReplyDrafted.self)
            if let reason = checks.check(reply: draft) {
                return [try event.reaction(ReplyBlocked(replyID: draft.replyID, kind: draft.kind, reason: reason), producer: producer)]
            }
            // Every id, amount, date and address the reply states must come from this
            // conversation (the customer, a tool, an agent), the knowledge base or the pack.
            let facts = checks.factsToGround(in: draft.text)
            if !facts.isEmpty, let grounding {
                let missing = facts.subtracting(try await grounding.grounded(facts, tenant: event.tenantID, conversation: event.conversationID))
                if !missing.isEmpty {
                    logger.warning("reply blocked: states facts nobody gave", metadata: [
                        "conversation.id": "\(event.conversationID)", "reply.id": "\(draft.replyID)", "facts": "\(missing.sorted())",
                    ])
                    return [try event.reaction(ReplyBlocked(replyID: draft.replyID, kind: draft.kind, reason: "ungrounded", detail: missing.sorted().joined(separator: ", ")), producer: producer)]
                }
            }
            if draft.approvalRequired == true { return try await holdForApproval(draft, after: event) }
            return [try event.reaction(ReplyApproved(replyID: draft.replyID, kind: draft.kind, text: draft.text), producer: producer)]
        default:
            return []
        }
    }

    /// Assisted mode: a checked reply waits for a person. It is held like a step (the reply id
    /// is its step and plan id), and the inbox shows it as an approval of `send_reply`.
    func holdForApproval(_ draft: ReplyDrafted, after event: EventEnvelope) async throws -> [EventEnvelope] {
        let args: JSONValue = ["kind": .string(draft.kind.rawValue), "text": .string(draft.text)]
        let approvalID = Self.approvalID(step: draft.replyID)
        try await store.requestApproval(.init(approvalID: approvalID, planID: draft.replyID, stepID: draft.replyID, tool: ApprovalRequested.replyTool, args: args, riskTier: .highRiskWrite))
        let preview = EffectPreview(summary: "Send this reply to the customer", changes: [.init(target: "conversation \(event.conversationID)", field: "reply", before: .null, after: .string(draft.text))])
        return [try event.reaction(ApprovalRequested(
            approvalID: approvalID, planID: draft.replyID, stepID: draft.replyID, tool: ApprovalRequested.replyTool, args: args, riskTier: .highRiskWrite,
            reason: "assisted mode: a person approves each reply of this intent", preview: preview,
            timeoutSeconds: checks.pack.policy.approvals.timeoutSeconds), producer: producer)]
    }

    static func heldKind(_ approval: VerifierStore.Approval) -> ReplyKind {
        approval.args["kind"]?.stringValue.flatMap(ReplyKind.init(rawValue:)) ?? .answer
    }

    /// One approval per step, whichever event asks for it.
    static func approvalID(step: UUID) -> UUID { DerivedID.make(from: step, label: "approval") }

    func ignoredDecision(_ event: EventEnvelope, _ approvalID: UUID) -> [EventEnvelope] {
        logger.info("approval decision ignored: the approval is unknown or was decided first by another event", metadata: [
            "event.id": "\(event.id)", "event.type": "\(event.type)", "approval.id": "\(approvalID)",
        ])
        return []
    }

    /// Checks each step in order. A step whose rules read an earlier step of the same plan is
    /// held (stored) until that result is verified; the others are decided now.
    func onPlan(_ event: EventEnvelope, _ plan: PlanProposed) async throws -> [EventEnvelope] {
        let readsResults = plan.steps.contains { step in
            guard let tool = checks.pack.tools[step.tool] else { return false }
            return !(tool.rules.isEmpty && tool.escalateWhen == nil)
        }
        let results = readsResults ? try await store.results(tenant: event.tenantID, conversation: event.conversationID) : [:]
        // Budgets across a turn's rounds: only intents a model may plan again keep the turn's
        // steps; a single-shot plan is checked on its own.
        let multiRound = (plan.round ?? 0) > 0 || (checks.pack.intent(named: plan.intent).map { $0.strategy != .singleShot } ?? true)
        let earlierRounds = multiRound && (plan.round ?? 0) > 0 ? try await store.turnSteps(event.correlationID, excluding: plan.planID) : []
        let refused = checks.budget(plan.steps, earlier: earlierRounds, nowMillis: EventEnvelope.nowMillis(), deadlineMillis: plan.deadlineMillis)
        if multiRound {
            try await store.recordTurnSteps(event.correlationID, plan: plan.planID, signatures: plan.steps.filter { refused[$0.stepID] == nil }.map(VerifierChecks.signature))
        }
        var outputs: [EventEnvelope] = []
        var held: [VerifierStore.HeldStep] = []
        var earlier: [String] = []
        for step in plan.steps {
            if let (reason, message) = refused[step.stepID] {
                outputs += try await emit(.rejected(reason, issues: [ValidationIssue(path: "/budget", message: message)], message: nil), for: step, planID: plan.planID, deadline: nil, customer: plan.customerID, after: event)
                earlier.append(step.tool)
                continue
            }
            let context = VerifierChecks.StepContext(
                tenant: event.tenantID, intent: plan.intent, confidence: plan.confidence, facts: plan.facts ?? [:], results: results, pendingTools: Set(earlier))
            let outcome = try await groundArguments(checks.check(step: step, context: context), step: step, results: results, after: event)
            if case .waiting(let tools) = outcome {
                held.append(.init(
                    step: step, planID: plan.planID,
                    context: .init(intent: plan.intent, confidence: plan.confidence, facts: plan.facts ?? [:], planTools: earlier, deadlineMillis: plan.deadlineMillis, customerID: plan.customerID),
                    waitingFor: tools.sorted()))
            } else {
                outputs += try await emit(outcome, for: step, planID: plan.planID, deadline: plan.deadlineMillis, customer: plan.customerID, after: event)
            }
            earlier.append(step.tool)
        }
        try await store.hold(held, tenant: event.tenantID, conversation: event.conversationID)
        return outputs
    }

    /// The held steps of `plan` that waited for `tool`: checked again now that its result is
    /// in, or rejected when it failed.
    func release(after event: EventEnvelope, plan: UUID, tool: String, succeeded: Bool) async throws -> [EventEnvelope] {
        let held = try await store.heldSteps(plan: plan).filter { $0.waitingFor.contains(tool) }
        guard !held.isEmpty else { return [] }
        let results = succeeded ? try await store.results(tenant: event.tenantID, conversation: event.conversationID) : [:]
        var outputs: [EventEnvelope] = []
        var stillHeld: [VerifierStore.HeldStep] = []
        var released: [UUID] = []
        for item in held {
            if !succeeded {
                outputs += try await emit(.rejected(.dependencyFailed, issues: [ValidationIssue(path: "/rules", message: "the rules of \(item.step.tool) read the result of \(tool), which failed")], message: nil), for: item.step, planID: item.planID, deadline: nil, customer: item.context.customerID, after: event)
                released.append(item.step.stepID)
                continue
            }
            let waiting = Set(item.waitingFor).subtracting([tool])
            let context = VerifierChecks.StepContext(
                tenant: event.tenantID, intent: item.context.intent, confidence: item.context.confidence, facts: item.context.facts, results: results, pendingTools: waiting)
            let outcome = try await groundArguments(checks.check(step: item.step, context: context), step: item.step, results: results, after: event)
            if case .waiting(let tools) = outcome {
                var next = item
                next.waitingFor = tools.sorted()
                stillHeld.append(next)
            } else if let deadline = item.context.deadlineMillis, EventEnvelope.nowMillis() > deadline {
                outputs += try await emit(.rejected(.budgetExceeded, issues: [ValidationIssue(path: "/budget", message: "the turn's wall time is spent")], message: nil), for: item.step, planID: item.planID, deadline: nil, customer: item.context.customerID, after: event)
            } else {
                outputs += try await emit(outcome, for: item.step, planID: item.planID, deadline: item.context.deadlineMillis, customer: item.context.customerID, after: event)
            }
            released.append(item.step.stepID)
        }
        try await store.hold(stillHeld.map { $0 }, tenant: event.tenantID, conversation: event.conversationID, replacing: true)
        try await store.release(released.filter { id in !stillHeld.contains { $0.step.stepID == id } })
        return outputs
    }

    /// The event for a decided step; an approval is recorded before its dry run is asked for.
    /// The grounding rule for writes: every identifier, amount, date, email and phone number in
    /// a write's arguments must come from the customer's own messages or from a tool result
    /// (this conversation's, or the results the step's rules read), never only from the
    /// knowledge base or from nowhere. A step the other checks let through and this one does not
    /// is rejected `ungrounded_args`, which hands the conversation to a person.
    func groundArguments(_ outcome: VerifierChecks.StepOutcome, step: PlanStep, results: [String: JSONValue], after event: EventEnvelope) async throws -> VerifierChecks.StepOutcome {
        let tier: RiskTier
        switch outcome {
        case .approved(let t), .needsApproval(let t, _): tier = t
        case .rejected, .waiting: return outcome
        }
        guard tier.isWrite, let grounding else { return outcome }
        var missing = checks.factsToGroundInArguments(step.args)
        guard !missing.isEmpty else { return outcome }
        missing.subtract(results.values.reduce(into: Set<String>()) { $0.formUnion(GroundingTokens.extractResultFacts($1)) })
        missing.subtract(try await store.customerGave(missing, tenant: event.tenantID, conversation: event.conversationID))
        missing.subtract(try await grounding.inConversation(missing, tenant: event.tenantID, conversation: event.conversationID))
        guard !missing.isEmpty else { return outcome }
        let fromKnowledge = try await grounding.inKnowledge(missing, tenant: event.tenantID)
        let issues = missing.sorted().map { token in
            ValidationIssue(path: "/args", message: fromKnowledge.contains(token)
                ? "\(token) appears only in the knowledge base, not in the customer's messages or a tool result"
                : "\(token) is not in the customer's messages or any tool result")
        }
        logger.warning("write refused: arguments nobody in the conversation gave", metadata: [
            "conversation.id": "\(event.conversationID)", "step.tool": "\(step.tool)", "facts": "\(missing.sorted())",
        ])
        return .rejected(.ungroundedArgs, issues: issues, message: nil)
    }

    func emit(_ outcome: VerifierChecks.StepOutcome, for step: PlanStep, planID: UUID, deadline: Int64?, customer: String?, after event: EventEnvelope) async throws -> [EventEnvelope] {
        let label = "step/\(step.stepID)"
        switch outcome {
        case .approved(let tier):
            return [try event.reaction(StepApproved(planID: planID, stepID: step.stepID, tool: step.tool, args: step.args, riskTier: tier, deadlineMillis: deadline, customerID: customer), producer: producer, label: label)]
        case .rejected(let reason, let issues, let message):
            return [try event.reaction(StepRejected(planID: planID, stepID: step.stepID, tool: step.tool, reason: reason, issues: issues, message: message), producer: producer, label: label)]
        case .needsApproval(let tier, let reason):
            try await store.requestApproval(.init(approvalID: Self.approvalID(step: step.stepID), planID: planID, stepID: step.stepID, tool: step.tool, args: step.args, riskTier: tier, customerID: customer))
            return [try event.reaction(DryRunRequested(planID: planID, stepID: step.stepID, tool: step.tool, args: step.args, riskTier: tier, reason: reason, customerID: customer), producer: producer, label: label)]
        case .waiting:
            return []
        }
    }
}

public enum VerifierService {
    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let pack = try DomainPack.load(path: config.domainPackPath)
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [
            (VerifierStore.schema, VerifierStore.migrations),
            (ReadModels.grounding.liveSchema, ReadModels.grounding.migrations),
            (ReadModels.groundingKnowledge.liveSchema, ReadModels.groundingKnowledge.migrations),
        ])
        let publisher = host.publisher
        let reactor = VerifierReactor(
            checks: VerifierChecks(pack: pack), store: VerifierStore(pool: host.pool), grounding: GroundingQueries(pool: host.pool),
            producer: config.producerName, logger: logger, publish: { try await publisher.publish($0) })
        try await host.run(
            consumers: [host.logConsumer(
                reactions: [Reaction(name: "verify", interestedIn: VerifierReactor.interestedIn, handle: reactor.handle)],
                projections: host.feeds(ReadModels.grounding.projections())
                    + ReadModels.groundingKnowledge.projections().map { ProjectionFeed($0, topic: config.knowledgeTopic) }
            )]
        )
    }
}
