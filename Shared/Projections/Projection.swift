public import EventBus
public import Events
public import Kafka
public import Logging
public import Postgres

/// A read model: a pure function of the log into Postgres tables that can be thrown away and
/// rebuilt from offset 0. `apply` runs inside the transaction that also stores the consumed
/// offset, so a redelivered event is never applied twice and a crash loses nothing.
public protocol Projection: Sendable {
    /// Stable name; the consumer group is `switchboard.projection.<name>`.
    var name: String { get }
    /// Postgres schema holding the projection's tables and its offsets.
    var schema: String { get }
    /// Event types `apply` is called for; nil means every event (an archive).
    var interestedIn: Set<String>? { get }
    /// Writes one event's effect. Must be deterministic in the event alone (no clocks, no
    /// randomness) so a rebuild produces the same rows as the live projection.
    func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws
}

/// Migration creating the offsets table every projection schema carries.
public func projectionOffsetsMigration(version: Int) -> Migration {
    Migration(version: version, name: "projection_offsets", sql: """
        CREATE TABLE projection_offsets (
            projection text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            next_offset bigint NOT NULL,
            PRIMARY KEY (projection, topic, partition)
        );
        """)
}

/// Drives one projection from the log: a consumer group whose start offsets come from the
/// projection's own table, each event applied and its offset stored in one transaction.
public struct ProjectionRunner: Sendable {
    public let projection: any Projection
    public let pool: PostgresPool
    public let databaseURL: String
    public let kafka: KafkaConfig
    public let topic: String
    public let deadLetters: DeadLetterPublisher
    public let logger: Logger

    public init(projection: any Projection, pool: PostgresPool, databaseURL: String, kafka: KafkaConfig, topic: String, producer: KafkaProducer, deadLetterTopic: String, logger: Logger) {
        self.projection = projection
        self.pool = pool
        self.databaseURL = databaseURL
        self.kafka = kafka
        self.topic = topic
        self.deadLetters = DeadLetterPublisher(producer: producer, topic: deadLetterTopic, consumerGroup: Self.groupID(projection.name))
        self.logger = logger
    }

    public static func groupID(_ name: String) -> String { "switchboard.projection.\(name)" }

    /// Reads stored offsets; called on the consumer's poll thread at each assignment, so it
    /// uses its own short-lived blocking connection rather than the async pool.
    static func loadOffsets(databaseURL: String, schema: String, projection: String, partitions: [TopicPartition]) throws -> [TopicPartition: Int64] {
        let connection = try PostgresConnection.connect(url: databaseURL)
        let rows = try connection.query("SELECT topic, partition, next_offset FROM \(identifier: schema).projection_offsets WHERE projection = \(projection)")
        var stored: [TopicPartition: Int64] = [:]
        for row in rows {
            let tp = TopicPartition(topic: try row.decode("topic", as: String.self), partition: Int32(try row.decode("partition", as: Int.self)))
            stored[tp] = try row.decode("next_offset", as: Int64.self)
        }
        return stored.filter { partitions.contains($0.key) }
    }

    public func run() async throws {
        let projection = self.projection
        let databaseURL = self.databaseURL
        let consumer = try KafkaConsumer(
            config: kafka,
            subscription: .groupWithExternalOffsets(
                id: Self.groupID(projection.name), topics: [topic], startAt: .earliest,
                startOffsets: { partitions in
                    try Self.loadOffsets(databaseURL: databaseURL, schema: projection.schema, projection: projection.name, partitions: partitions)
                }
            ),
            logger: logger
        )
        do {
            try await consumer.run { record in try await self.handle(record) }
        } catch is CancellationError {
            // Stopping mid-event: that event's transaction did not commit, so it is applied
            // after the restart. Not a failure.
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    /// Applies one record. Every record advances the stored offset, also those the projection
    /// ignores and those dead-lettered, so a restart never re-reads them.
    func handle(_ record: KafkaRecord) async throws {
        let position = record.position
        var event: EventEnvelope?
        let type = record.header(EventHeaders.type)
        let interested = projection.interestedIn
        if type == nil || interested == nil || interested!.contains(type!) {
            do {
                let decoded = try EventCodec.decode(record.value)
                if interested?.contains(decoded.type) ?? true { event = decoded }
            } catch {
                try await deadLetters.send(record, error: String(describing: error), logger: logger)
            }
        }
        let retry = RetryPolicy()
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await pool.transaction { [projection, event] connection in
                    if let event { try projection.apply(event, position: position, in: connection) }
                    try connection.query("""
                        INSERT INTO \(identifier: projection.schema).projection_offsets (projection, topic, partition, next_offset)
                        VALUES (\(projection.name), \(position.topic), \(Int(position.partition)), \(position.offset + 1))
                        ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
                        """)
                }
                return
            } catch let error as EventPayloadError {
                // The payload does not fit its type: park the record, advance past it.
                try await deadLetters.send(record, error: error.description, logger: logger)
                event = nil
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if event != nil, !retry.shouldRetry(error, attempt: attempt) {
                    // Applying this event keeps failing for a reason retrying cannot fix:
                    // park it and advance, rather than stop the projection.
                    try await deadLetters.send(record, error: "projection \(projection.name) failed \(attempt) times: \(error)", logger: logger)
                    event = nil
                    continue
                }
                logger.error("projection write failed, retrying", metadata: ["projection": "\(projection.name)", "kafka.offset": "\(position)", "error": "\(error)"])
                try await Task.sleep(for: retry.backoff(after: attempt))
            }
        }
    }
}

// Postgres outages are retried without limit; constraint violations and bugs are not. Declared
// here, the one module that knows both the event bus and Postgres.
extension PostgresError: RetriableError {}
