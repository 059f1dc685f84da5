import DomainPack
public import Events
import Logging
import Projections
import ServiceHost
public import ServiceRuntime

/// Reacts to plans, tool results and drafted replies (DESIGN.md §4 steps 3, 5, 6). Stateless for
/// now: every output id derives from the event it answers, so a redelivery appends the same ids.
public struct VerifierReactor: Sendable {
    public static let interestedIn: Set<String> = [PlanProposed.eventType, ToolSucceeded.eventType, ToolFailed.eventType, ReplyDrafted.eventType]

    let checks: VerifierChecks
    let producer: String
    let publish: @Sendable ([EventEnvelope]) async throws -> Void

    public init(checks: VerifierChecks, producer: String, publish: @escaping @Sendable ([EventEnvelope]) async throws -> Void) {
        self.checks = checks
        self.producer = producer
        self.publish = publish
    }

    public func handle(_ event: EventEnvelope) async throws {
        try await publish(try outputs(for: event))
    }

    public func outputs(for event: EventEnvelope) throws -> [EventEnvelope] {
        switch event.type {
        case PlanProposed.eventType:
            let plan = try event.decode(PlanProposed.self)
            return try plan.steps.map { step in
                switch checks.check(step: step) {
                case .approved(let tier):
                    return try event.reaction(StepApproved(planID: plan.planID, stepID: step.stepID, tool: step.tool, args: step.args, riskTier: tier), producer: producer, label: "step/\(step.stepID)")
                case .rejected(let reason, let issues):
                    return try event.reaction(StepRejected(planID: plan.planID, stepID: step.stepID, tool: step.tool, reason: reason, issues: issues), producer: producer, label: "step/\(step.stepID)")
                }
            }
        case ToolSucceeded.eventType:
            let success = try event.decode(ToolSucceeded.self)
            let issues = checks.check(result: success.result, tool: success.tool)
            if issues.isEmpty {
                return [try event.reaction(StepVerified(planID: success.planID, stepID: success.stepID, tool: success.tool, result: success.result), producer: producer)]
            }
            return [try event.reaction(StepFailed(planID: success.planID, stepID: success.stepID, tool: success.tool, reason: "invalid_result", issues: issues), producer: producer)]
        case ToolFailed.eventType:
            let failure = try event.decode(ToolFailed.self)
            return [try event.reaction(StepFailed(planID: failure.planID, stepID: failure.stepID, tool: failure.tool, reason: "tool_failed", issues: [ValidationIssue(path: "", message: "\(failure.error.code): \(failure.error.message)")]), producer: producer)]
        case ReplyDrafted.eventType:
            let draft = try event.decode(ReplyDrafted.self)
            if let reason = checks.check(reply: draft) {
                return [try event.reaction(ReplyBlocked(replyID: draft.replyID, kind: draft.kind, reason: reason), producer: producer)]
            }
            return [try event.reaction(ReplyApproved(replyID: draft.replyID, kind: draft.kind, text: draft.text), producer: producer)]
        default:
            return []
        }
    }
}

public enum VerifierService {
    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let pack = try DomainPack.load(path: config.domainPackPath)
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [])
        let publisher = host.publisher
        let reactor = VerifierReactor(checks: VerifierChecks(pack: pack), producer: config.producerName, publish: { try await publisher.publish($0) })
        try await host.run(
            consumers: [host.logConsumer(reactions: [Reaction(name: "verify", interestedIn: VerifierReactor.interestedIn, handle: reactor.handle)])]
        )
    }
}
