import AccessControl
import APIContract
import Auth
import CustomerKeys
import DomainPack
import Foundation
import Metrics
import EventBus
import EventContracts
public import Events
import Kafka
import ReadModels
import ServiceLifecycle
public import Logging
import Projections
import ServiceHost
public import ServiceRuntime

/// Delivers approved replies: the group-consumed reaction to `ReplyApproved` is `ReplyDelivered`,
/// with an id derived from the approval so a redelivery appends the same event.
public struct DeliveryReactor: Sendable {
    public static let interestedIn: Set<String> = [ReplyApproved.eventType]
    let producer: String
    let publish: @Sendable (EventEnvelope) async throws -> Void

    public func handle(_ event: EventEnvelope) async throws {
        let approved = try event.decode(ReplyApproved.self)
        try await publish(try event.reaction(ReplyDelivered(replyID: approved.replyID, kind: approved.kind, text: approved.text, channel: "api"), producer: producer))
    }
}

public enum GatewayService {
    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let access = try AccessSettings.fromEnvironment()
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [
            (ReadModels.gateway.liveSchema, ReadModels.gateway.migrations), (APIKeyStore.schema, APIKeyStore.migrations),
            (CustomerKeyVault.schema, CustomerKeyVault.migrations),
        ])
        // Which personal data the pack keeps in clear (the rest of a message is redacted).
        let privacyKinds = try DomainPack.privacyKinds(path: config.domainPackPath)
        let shedder = LoadShedder(settings: try LoadShedder.Settings.fromEnvironment(ProcessInfo.processInfo.environment))
        let gatekeeper = Gatekeeper(settings: access, apiKeys: APIKeyStore(pool: host.pool))
        let contract = try APIDocument(yaml: GatewayOpenAPI.yaml)
        // Customer sessions are signed with the key set's signing key, when it has one.
        let sessionIssuer = access.keySet.signingKID.flatMap { _ in try? TokenIssuer(keySet: access.keySet) }
        let publisher = host.publisher
        let waiters = ReplyWaiters()
        let streams = ConversationStreams()
        let delivery = DeliveryReactor(producer: config.producerName, publish: { try await publisher.publish($0) })
        let api = GatewayAPI(
            publish: { try await publisher.publish($0) },
            conversations: ConversationQueries(pool: host.pool), audit: AuditQueries(pool: host.pool),
            tickets: TicketQueries(pool: host.pool), costs: CostQueries(pool: host.pool),
            waiters: waiters, streams: streams, producer: config.producerName, sessionIssuer: sessionIssuer,
            clearKinds: privacyKinds.clear, referencedKinds: privacyKinds.referenced, vault: CustomerKeyVault(pool: host.pool), shedder: shedder)
        // The planner's lag, every 2 s, for shedding (and as a metric).
        let lagWatch = ClosureService(name: "planner-lag") {
            try? await cancelWhenGracefulShutdown {
                let gauge = Gauge(label: "switchboard_planner_lag_events")
                while !Task.isCancelled {
                    if let lag = try? await LoadShedder.measurePlannerLag(admin: host.admin, pool: host.pool, topic: config.conversationsTopic) {
                        shedder.record(lag: lag)
                        gauge.record(lag)
                    }
                    try await Task.sleep(for: .seconds(2))
                }
            }
        }

        // Per-replica tail of the whole log (no group, from the end): how a held request learns
        // its reply, and a conversation's stream its messages, whichever replica appended them.
        let tail = ClosureService(name: "reply-tail") {
            let consumer = try KafkaConsumer(
                config: config.kafka(client: "reply-tail"),
                subscription: .allPartitions(topics: [config.conversationsTopic], startAt: .latest),
                logger: logger
            )
            // Pins the start at the current end before the gateway reports ready, so no reply
            // appended after a request was accepted can be missed.
            _ = try await consumer.assignment()
            await waiters.markTailReady()
            // Batches, and only messages copied out of librdkafka: the tail reads every event of
            // the log and wants three types of thirty.
            let streamed: Set<String> = [MessageReceived.eventType, ReplyDelivered.eventType, AgentReplied.eventType]
            let messages = RecordFilter(header: EventHeaders.type) { _, type in type.map(streamed.contains) ?? false }
            try await runUntilShutdown(consumer: consumer) {
                try await consumer.runBatches(filter: messages) { records in
                    for record in records where !record.isFilteredOut {
                        guard let event = try? EventContracts.published.decode(record.value) else { continue }
                        if event.type == ReplyDelivered.eventType, let reply = try? event.decode(ReplyDelivered.self) {
                            await waiters.deliver(event.correlationID, reply)
                        }
                        if let message = try? StreamedMessage(event, partition: record.partition, offset: record.offset) {
                            await streams.publish(conversation: event.conversationID, message)
                        }
                    }
                }
            }
        }
        try await host.run(
            consumers: [
                host.logConsumer(
                    reactions: [Reaction(name: "delivery", interestedIn: DeliveryReactor.interestedIn, handle: delivery.handle)],
                    projections: host.feeds(ReadModels.gateway.projections())
                ),
                tail, lagWatch,
            ],
            stoppingBeforeHTTP: [ClosureService(name: "release-held-requests") {
                try? await gracefulShutdown()
                await waiters.shutdown()
                await streams.shutdown()
            }],
            extraReadinessChecks: [ReadinessCheck(name: "reply-tail") {
                guard await waiters.isTailReady else { throw ConfigError("reply tail not assigned yet") }
            }],
            routes: { router in api.addRoutes(to: SecuredRoutes(router: router, gatekeeper: gatekeeper, contract: contract)) }
        )
    }
}
