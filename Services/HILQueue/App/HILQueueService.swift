import EventBus
public import Events
import Foundation
import Hummingbird
import JSON
public import Logging
import ReadModels
import Projections
import ServiceHost
public import ServiceRuntime
import ServiceLifecycle

/// Puts handed-over conversations in a queue for humans. This is the first slice of the
/// handover service: queueing and the queue read model. Claims, replies, approvals and SLAs
/// are the human-handover milestone.
public struct HandoverReactor: Sendable {
    public static let interestedIn: Set<String> = [HandoverRequested.eventType]
    let producer: String
    let publish: @Sendable (EventEnvelope) async throws -> Void

    public func handle(_ event: EventEnvelope) async throws {
        let request = try event.decode(HandoverRequested.self)
        try await publish(try event.reaction(HandoverQueued(queue: Self.queue(for: request.skills), reason: request.reason, priority: Self.priority(for: request.reason)), producer: producer))
    }

    static func queue(for skills: [String]) -> String { skills.first ?? "general" }

    /// Failures on our side go ahead of ordinary requests.
    static func priority(for reason: HandoverReason) -> Int {
        reason.isPlatformFailure ? 1 : 2
    }
}

public enum HILQueueService {
    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [
            (ReadModels.hilqueue.liveSchema, ReadModels.hilqueue.migrations), (ApprovalDesk.schema, ApprovalDesk.migrations),
        ])
        let publisher = host.publisher
        let reactor = HandoverReactor(producer: config.producerName, publish: { try await publisher.publish($0) })
        let desk = ApprovalDesk(pool: host.pool, producer: config.producerName, publish: { try await publisher.publish($0) })
        // Expiry is a clock, not an event: every second, approvals past their deadline expire.
        let sweeper = ClosureService(name: "approval-sweeper") {
            try? await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    do {
                        try await desk.sweep()
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.warning("approval sweep failed; retrying", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: .seconds(1))
                }
            }
        }
        try await host.run(
            consumers: [
                host.logConsumer(
                    reactions: [Reaction(name: "queue", interestedIn: HandoverReactor.interestedIn, handle: reactor.handle)],
                    projections: host.feeds(ReadModels.hilqueue.projections())
                ),
                sweeper,
            ],
            routes: { router in
                HandoverAPI(handovers: HandoverQueries(pool: host.pool), tenantID: config.defaultTenant).addRoutes(to: router)
                ApprovalAPI(desk: desk, tenantID: config.defaultTenant).addRoutes(to: router)
            }
        )
    }
}

/// `GET /v1/handovers?status=requested|queued` (default queued): the tenant's queue, in the
/// order humans should take it, at most 200.
struct HandoverAPI: Sendable {
    let handovers: HandoverQueries
    let tenantID: String

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/handovers") { request, _ in try await self.list(request) }
    }

    func list(_ request: Request) async throws -> Response {
        guard let status = HandoverStatus(rawValue: request.uri.queryParameters.get("status") ?? HandoverStatus.queued.rawValue) else {
            throw ProblemDetails(.badRequest, kind: "invalid-status", title: "status must be requested or queued", field: "status")
        }
        let items: [JSONValue] = try await handovers.handovers(status: status, tenant: tenantID, limit: 200).map { handover in
            .object([
                "turn_id": .string(handover.turnID.uuidString.lowercased()),
                "conversation_id": .string(handover.conversationID),
                "reason": .string(handover.reason),
                "summary": .string(handover.summary),
                "skills": .array(handover.skills.map(JSONValue.string)),
                "queue": handover.queue.map(JSONValue.string) ?? .null,
                "priority": handover.priority.map { .number(Double($0)) } ?? .null,
            ])
        }
        return jsonResponse(.ok, bytes: JSONValue.object(["handovers": .array(items)]).serialized())
    }
}
