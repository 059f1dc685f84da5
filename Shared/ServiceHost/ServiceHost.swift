public import EventBus
import Events
import Foundation
public import Hummingbird
public import Kafka
public import Logging
import Metrics
public import Postgres
public import Projections
public import ServiceLifecycle
public import ServiceRuntime

/// What every Switchboard service process holds: a Postgres pool with its schema migrated, an
/// idempotent producer, and helpers that turn reactors and projections into lifecycle services.
/// One place wires these so the five executables differ only in what they react to.
public struct ServiceHost: Sendable {
    public let config: ServiceConfig
    public let logger: Logger
    public let pool: PostgresPool
    public let producer: KafkaProducer
    public let admin: KafkaAdmin
    public let publisher: EventPublisher
    /// False for a service without schemas: it never connects to Postgres, and
    /// its readiness does not depend on it.
    public let usesPostgres: Bool
    /// The OTLP span exporter when tracing is configured (`TracingBootstrap`).
    public let tracingExporter: (any Service)?

    /// Connects and migrates each `(schema, migrations)` before anything consumes; with none,
    /// the service does not use Postgres.
    public static func start(config: ServiceConfig, logger: Logger, schemas: [(String, [Migration])]) async throws -> ServiceHost {
        // Before anything can start a span.
        let tracingExporter = try TracingBootstrap.start(service: config.serviceName, environment: ProcessInfo.processInfo.environment, logger: logger)
        let pool = PostgresPool(
            url: config.databaseURL, size: config.databasePoolSize, applicationName: "switchboard-\(config.serviceName)",
            preparesStatements: config.databasePreparedStatements, logger: logger)
        let usesPostgres = !schemas.isEmpty
        if usesPostgres {
            try await migrate(pool, schema: consumerOffsetsSchema, migrations: [projectionOffsetsMigration(version: 1)], logger: logger)
        }
        for (schema, migrations) in schemas {
            try await migrate(pool, schema: schema, migrations: migrations, logger: logger)
        }
        // Broker compatibility depends on the librdkafka loaded (deploy/README.md).
        logger.info("starting", metadata: ["service": "\(config.serviceName)", "librdkafka": "\(LibRdKafka.version)"])
        Gauge(label: "switchboard_build_info", dimensions: [("librdkafka", LibRdKafka.version)]).record(1)
        let producer = try KafkaProducer(config: config.kafka(client: "producer", consumer: false), logger: logger)
        let admin = try KafkaAdmin(config: config.kafka(client: "admin", consumer: false), logger: logger)
        return ServiceHost(
            config: config, logger: logger, pool: pool, producer: producer, admin: admin,
            publisher: EventPublisher(producer: producer, topic: config.conversationsTopic),
            usesPostgres: usesPostgres, tracingExporter: tracingExporter
        )
    }

    /// The process's consumer group on the log, shared by every replica of the service.
    public var groupID: String { "switchboard.\(config.serviceName)" }

    /// Schema keeping the reactions' offsets of every service's log consumer.
    public static let consumerOffsetsSchema = "consumers"

    /// The process's one consumer of the log (`ServiceLogConsumer`): its reactions and all of
    /// its projections fed from one fetch and one decode per event; projections read the
    /// conversation log unless their feed names another topic. Offsets live in Postgres with
    /// the projections' rows when the service has a database, else in the broker.
    public func logConsumer(reactions: [Reaction], projections: [ProjectionFeed] = []) -> any Service {
        let offsets: ServiceLogConsumer.OffsetStore = usesPostgres
            ? .postgres(pool, databaseURL: config.databaseURL, reactionSchema: Self.consumerOffsetsSchema)
            : .broker
        var consumer = ServiceLogConsumer(
            group: groupID, kafka: config.kafka(client: "log"), reactionTopic: config.conversationsTopic,
            reactions: reactions, projections: projections, offsets: offsets,
            deadLetters: DeadLetterPublisher(producer: producer, topic: config.deadLetterTopic, consumerGroup: groupID),
            logger: logger
        )
        consumer.concurrency = config.consumerConcurrency
        return ClosureService(name: groupID) { [consumer] in
            try await cancelWhenGracefulShutdown { try await consumer.run() }
        }
    }

    /// Feeds of read models on the conversation log.
    public func feeds(_ projections: [any Projection]) -> [ProjectionFeed] {
        projections.map { ProjectionFeed($0, topic: config.conversationsTopic) }
    }

    /// Broker and database reachability, for `/ready`.
    public var readinessChecks: [ReadinessCheck] {
        let admin = self.admin
        let pool = self.pool
        var checks = [ReadinessCheck(name: "kafka") { try await admin.ping(timeout: .seconds(2)) }]
        if usesPostgres { checks.append(ReadinessCheck(name: "postgres") { try await pool.ping() }) }
        return checks
    }

    /// Runs the process until SIGTERM/SIGINT. Shutdown runs in reverse: `stoppingBeforeHTTP`
    /// (e.g. releasing held requests), HTTP (stops accepting, drains), the consumers (finish
    /// the event in hand, leave the group), and last the producer (flushes).
    public func run(
        consumers: [any Service],
        stoppingBeforeHTTP: [any Service] = [],
        extraReadinessChecks: [ReadinessCheck] = [],
        routes: (Router<EdgeRequestContext>) -> Void = { _ in }
    ) async throws {
        let producer = self.producer
        let pool = self.pool
        let producerService = ClosureService(name: "producer") {
            try? await gracefulShutdown()
            await producer.close()
            await pool.close()
        }
        let checks = readinessChecks + extraReadinessChecks
        let service = config.serviceName
        let http = makeHTTPServer(config: config, logger: logger, routes: { router in
            router.addObservabilityRoutes(service: service, checks: checks, info: ["librdkafka": LibRdKafka.version])
            routes(router)
        })
        // The process's own consumer lag per partition, as a gauge (alerts, autoscaling).
        let admin = self.admin
        let (topic, group) = (config.conversationsTopic, groupID)
        let lagMonitor: [any Service] = usesPostgres ? [ClosureService(name: "lag-monitor") {
            try? await cancelWhenGracefulShutdown { try await ConsumerLag.monitor(admin: admin, pool: pool, topic: topic, group: group) }
        }] : []
        // The span exporter stops last, flushing what the others recorded while stopping.
        try await runServiceGroup((tracingExporter.map { [$0] } ?? []) + [producerService] + lagMonitor + consumers + [http] + stoppingBeforeHTTP, logger: logger)
    }
}

/// Runs a consumer loop until graceful shutdown or failure, then leaves the group cleanly. A
/// failure is rethrown, which ends the service group and the process (exit status 1) so its
/// supervisor restarts it: a consumer never idles silently after an error.
public func runUntilShutdown(consumer: KafkaConsumer, _ body: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await cancelWhenGracefulShutdown { try await body() }
    } catch is CancellationError {
    } catch {
        await consumer.close()
        throw error
    }
    await consumer.close()
}

extension ServiceConfig {
    /// Kafka client settings; consumers also get the group failure-detection defaults.
    public func kafka(client: String, consumer: Bool = true) -> KafkaConfig {
        var config = KafkaConfig(bootstrapServers: bootstrapServers, clientID: "switchboard-\(serviceName)-\(client)")
        config.fetchWaitMaxMs = kafkaFetchWaitMaxMs
        // Fast failure detection so a killed replica's partitions move within seconds.
        // SWITCHBOARD_KAFKA_PROPERTIES overrides.
        let defaults = consumer ? [
            "session.timeout.ms": String(kafkaSessionTimeoutMs),
            "heartbeat.interval.ms": String(max(200, kafkaSessionTimeoutMs / 20)),
        ] : [:]
        config.extra = defaults.merging(kafkaProperties) { _, configured in configured }
        return config
    }
}
