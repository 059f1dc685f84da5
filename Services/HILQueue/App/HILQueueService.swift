import EventBus
public import Events
import Foundation
import Hummingbird
import JSON
public import Logging
import Postgres
import ReadModels
import Projections
import ServiceHost
public import ServiceRuntime

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
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [(ReadModels.hilqueue.liveSchema, ReadModels.hilqueue.migrations)])
        let publisher = host.publisher
        let reactor = HandoverReactor(producer: config.producerName, publish: { try await publisher.publish($0) })
        let pool = host.pool
        try await host.run(
            consumers: [
                host.logConsumer(
                    reactions: [Reaction(name: "queue", interestedIn: HandoverReactor.interestedIn, handle: reactor.handle)],
                    projections: host.feeds(ReadModels.hilqueue.projections())
                ),
            ],
            routes: { router in
                router.get("/v1/handovers") { request, _ in
                    let status = request.uri.queryParameters.get("status") ?? "queued"
                    guard ["requested", "queued"].contains(status) else {
                        throw ProblemDetails(.badRequest, kind: "invalid-status", title: "status must be requested or queued", field: "status")
                    }
                    let rows = try await pool.query("""
                        SELECT turn_id, conversation_id, reason, summary, skills::text AS skills, queue, priority
                        FROM hilqueue.handovers WHERE status = \(status) AND tenant_id = \(config.defaultTenant)
                        ORDER BY priority NULLS LAST, requested_at LIMIT 200
                        """)
                    var items: [JSONValue] = []
                    for row in rows {
                        items.append(.object([
                            "turn_id": .string(try row.decode("turn_id", as: UUID.self).uuidString.lowercased()),
                            "conversation_id": .string(try row.decode("conversation_id", as: String.self)),
                            "reason": .string(try row.decode("reason", as: String.self)),
                            "summary": .string(try row.decode("summary", as: String.self)),
                            "skills": try JSONValue.parse(Array(try row.decode("skills", as: String.self).utf8)),
                            "queue": try row.decode("queue", as: String?.self).map(JSONValue.string) ?? .null,
                            "priority": try row.decode("priority", as: Int?.self).map { .number(Double($0)) } ?? .null,
                        ]))
                    }
                    return jsonResponse(.ok, bytes: JSONValue.object(["handovers": .array(items)]).serialized())
                }
            }
        )
    }
}
