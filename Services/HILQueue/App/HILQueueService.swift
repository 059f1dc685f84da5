import AccessControl
import APIContract
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
import Metrics

/// The handover service: queues handed-over conversations (`HandoverRequested` →
/// `HandoverQueued`), lets human agents claim and work them (`HandoverDesk`, `InboxAPI`) and
/// decide approvals (`ApprovalDesk`), and keeps the queue's read models.
public enum HILQueueService {
    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let settings = try HILSettings(environment: ProcessInfo.processInfo.environment)
        let access = try AccessSettings.fromEnvironment()
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [
            (ReadModels.hilqueue.liveSchema, ReadModels.hilqueue.migrations), (ApprovalDesk.schema, ApprovalDesk.migrations),
            (HandoverDesk.schema, HandoverDesk.migrations), (APIKeyStore.schema, APIKeyStore.migrations),
        ])
        let gatekeeper = Gatekeeper(settings: access, apiKeys: APIKeyStore(pool: host.pool))
        let contract = try APIDocument(yaml: HILQueueOpenAPI.yaml)
        let publisher = host.publisher
        let approvals = ApprovalDesk(pool: host.pool, producer: config.producerName, publish: { try await publisher.publish($0) })
        let desk = HandoverDesk(pool: host.pool, producer: config.producerName, settings: settings.desk, publish: { try await publisher.publish($0) })
        let handovers = HandoverQueries(pool: host.pool)
        let conversations = ConversationQueries(pool: host.pool)
        let approvalQueries = ApprovalQueries(pool: host.pool)
        let changes = InboxChanges(handovers: handovers, approvals: approvalQueries, conversations: conversations)
        for agent in settings.seedAgents {
            try await desk.saveAgent(tenant: config.defaultTenant, id: agent.id, name: agent.name, skills: agent.skills, capacity: agent.capacity, status: nil)
        }
        if !settings.seedAgents.isEmpty { logger.info("demo agents seeded", metadata: ["agents": "\(settings.seedAgents.map(\.id))"]) }
        // Clocks, not events: approvals past their deadline expire, silent agents go offline,
        // conversations past their SLA move up, stranded events are appended; and the queue's
        // depth is measured for /metrics.
        let sweeper = ClosureService(name: "hil-sweeper") {
            try? await cancelWhenGracefulShutdown {
                let depth = QueueDepthGauges()
                while !Task.isCancelled {
                    do {
                        try await approvals.sweep()
                        try await desk.sweep()
                        depth.record(try await handovers.depthByQueue())
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.warning("hil sweep failed; retrying", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: .seconds(1))
                }
            }
        }
        try await host.run(
            consumers: [
                host.logConsumer(
                    reactions: [Reaction(name: "queue", interestedIn: [HandoverRequested.eventType], handle: desk.enqueue)],
                    projections: host.feeds(ReadModels.hilqueue.projections())
                ),
                sweeper,
            ],
            stoppingBeforeHTTP: [ClosureService(name: "end-inbox-streams") {
                try? await gracefulShutdown()
                await changes.shutdown()
            }],
            routes: { router in
                let routes = SecuredRoutes(router: router, gatekeeper: gatekeeper, contract: contract)
                InboxAPI(desk: desk, handovers: handovers, conversations: conversations, approvals: approvalQueries, changes: changes).addRoutes(to: routes)
                ApprovalAPI(desk: approvals).addRoutes(to: routes)
            }
        )
    }
}

/// `switchboard_hil_queue_depth{queue}`: conversations waiting for a human; a queue that
/// emptied reads 0 rather than keeping its last value.
final class QueueDepthGauges: @unchecked Sendable {
    private var known: Set<String> = []

    func record(_ depth: [String: Int]) {
        known.formUnion(depth.keys)
        for queue in known { Gauge(label: "switchboard_hil_queue_depth", dimensions: [("queue", queue)]).record(depth[queue] ?? 0) }
    }
}
