public import EventBus
public import Events
public import Hummingbird
public import Kafka
public import Logging
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

    /// Connects and migrates each `(schema, migrations)` before anything consumes.
    public static func start(config: ServiceConfig, logger: Logger, schemas: [(String, [Migration])]) async throws -> ServiceHost {
        let pool = PostgresPool(url: config.databaseURL, size: config.databasePoolSize, logger: logger)
        for (schema, migrations) in schemas {
            try await migrate(pool, schema: schema, migrations: migrations, logger: logger)
        }
        let producer = try KafkaProducer(config: config.kafka(client: "producer", consumer: false), logger: logger)
        let admin = try KafkaAdmin(config: config.kafka(client: "admin", consumer: false), logger: logger)
        return ServiceHost(
            config: config, logger: logger, pool: pool, producer: producer, admin: admin,
            publisher: EventPublisher(producer: producer, topic: config.conversationsTopic)
        )
    }

    /// Consumer-group name of a reactor, shared by every replica of the service.
    public func groupID(_ role: String) -> String { "switchboard.\(config.serviceName).\(role)" }

    /// A reactor: consumes the conversation log in a consumer group (offsets committed to the
    /// broker after the handler succeeded) and dead-letters what it cannot handle.
    public func reactor(role: String, interestedIn: Set<String>, handler: @escaping @Sendable (EventEnvelope) async throws -> Void) -> any Service {
        let config = self.config
        let logger = self.logger
        let producer = self.producer
        let group = groupID(role)
        return ClosureService(name: group) {
            let consumer = try KafkaConsumer(
                config: config.kafka(client: role),
                subscription: .group(id: group, topics: [config.conversationsTopic], startAt: .earliest),
                logger: logger
            )
            var events = EventConsumer(
                consumer: consumer,
                deadLetters: DeadLetterPublisher(producer: producer, topic: config.deadLetterTopic, consumerGroup: group),
                interestedIn: interestedIn, logger: logger
            )
            events.maxConcurrentPartitions = config.consumerConcurrency
            try await runUntilShutdown(consumer: consumer) { [events] in
                try await events.run { event, _ in try await handler(event) }
            }
        }
    }

    /// A projection kept in this service's schema (offsets in the same transaction as the rows),
    /// of the conversation log unless another topic is given.
    public func projection(_ projection: any Projection) -> any Service {
        self.projection(projection, topic: config.conversationsTopic)
    }

    public func projection(_ projection: any Projection, topic: String) -> any Service {
        var kafka = config.kafka(client: "projection-\(projection.name)")
        kafka.fetchWaitMaxMs = config.projectionFetchWaitMaxMs
        var runner = ProjectionRunner(
            projection: projection, pool: pool, databaseURL: config.databaseURL, kafka: kafka,
            topic: topic, producer: producer, deadLetterTopic: config.deadLetterTopic, logger: logger
        )
        runner.maxConcurrentPartitions = config.consumerConcurrency
        return ClosureService(name: projection.name) { [runner] in
            try await cancelWhenGracefulShutdown { try await runner.run() }
        }
    }

    /// Broker and database reachability, for `/ready`.
    public var readinessChecks: [ReadinessCheck] {
        let admin = self.admin
        let pool = self.pool
        return [
            ReadinessCheck(name: "kafka") { try await admin.ping(timeout: .seconds(2)) },
            ReadinessCheck(name: "postgres") { try await pool.ping() },
        ]
    }

    /// Runs the process until SIGTERM/SIGINT. Shutdown runs in reverse: `stoppingBeforeHTTP`
    /// (e.g. releasing held requests), HTTP (stops accepting, drains), the consumers (finish
    /// the event in hand, leave the group), and last the producer (flushes).
    public func run(
        consumers: [any Service],
        stoppingBeforeHTTP: [any Service] = [],
        extraReadinessChecks: [ReadinessCheck] = [],
        routes: (Router<BasicRequestContext>) -> Void = { _ in }
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
            router.addObservabilityRoutes(service: service, checks: checks)
            routes(router)
        })
        try await runServiceGroup([producerService] + consumers + [http] + stoppingBeforeHTTP, logger: logger)
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
