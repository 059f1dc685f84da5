public import EventBus
public import Events
import Foundation
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
    /// Code version of `apply`. Changing it makes the projection rebuild itself from offset 0
    /// at the next start (restart every replica of the owning service together).
    var version: Int { get }
    /// The tables `apply` writes (in `schema`): emptied on a rebuild, compared by verify.
    var tables: [String] { get }
    /// Event types `apply` is called for; nil means every event (an archive).
    var interestedIn: Set<String>? { get }
    /// Writes one event's effect. Must be deterministic in the event alone (no clocks, no
    /// randomness) so a rebuild produces the same rows as the live projection.
    func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws
    /// Applies many events (in log order) at once, for rebuilds: the schema is fresh and
    /// offsets only grow. Must leave exactly the rows that `apply` one by one leaves; the
    /// rebuild-verify tests compare the two. Default: one by one.
    func applyBatch(_ events: [(EventEnvelope, LogPosition)], in connection: PostgresConnection) throws
    /// `apply` given the event's bytes as read from the log, which the runners call: a
    /// projection archiving envelopes stores them verbatim instead of re-encoding each event.
    /// Default: `apply`.
    func apply(_ event: EventEnvelope, position: LogPosition, bytes: [UInt8], in connection: PostgresConnection) throws
    /// `applyBatch` with each event's bytes (same order). Default: `applyBatch`.
    func applyBatch(_ events: [(EventEnvelope, LogPosition)], bytes: [[UInt8]], in connection: PostgresConnection) throws
}

extension Projection {
    public func applyBatch(_ events: [(EventEnvelope, LogPosition)], in connection: PostgresConnection) throws {
        for (event, position) in events { try apply(event, position: position, in: connection) }
    }

    public func apply(_ event: EventEnvelope, position: LogPosition, bytes: [UInt8], in connection: PostgresConnection) throws {
        try apply(event, position: position, in: connection)
    }

    public func applyBatch(_ events: [(EventEnvelope, LogPosition)], bytes: [[UInt8]], in connection: PostgresConnection) throws {
        try applyBatch(events, in: connection)
    }
}

/// Migration creating the bookkeeping every projection schema carries: consumed offsets and
/// the code version the rows were written by.
public func projectionOffsetsMigration(version: Int) -> Migration {
    Migration(version: version, name: "projection_offsets", sql: """
        CREATE TABLE projection_offsets (
            projection text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            next_offset bigint NOT NULL,
            PRIMARY KEY (projection, topic, partition)
        );
        CREATE TABLE projection_versions (
            projection text PRIMARY KEY,
            version integer NOT NULL
        );
        """)
}

/// The stored offset was not the one this runner wrote last: the schema was swapped for a
/// rebuilt one, or another replica wrote meanwhile. The runner re-reads its offsets and seeks.
struct OffsetsMoved: Error, CustomStringConvertible {
    var partition: TopicPartition
    var description: String { "stored offset of \(partition) moved under this runner" }
}

/// Offsets this runner last wrote (or loaded), per partition. Set on the consumer's poll thread
/// at assignment and by the handler after each commit.
final class OffsetLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [TopicPartition: Int64] = [:]
    func set(_ offsets: [TopicPartition: Int64], for partitions: [TopicPartition]) {
        lock.withLock {
            for partition in partitions { stored[partition] = offsets[partition] }
        }
    }
    func expected(_ partition: TopicPartition) -> Int64? { lock.withLock { stored[partition] } }
    func record(_ partition: TopicPartition, _ offset: Int64) { lock.withLock { stored[partition] = offset } }
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
    /// Partitions applied at once (rows of different partitions never overlap: a conversation
    /// lives in one partition, an audit row is keyed by its position).
    public var maxConcurrentPartitions = 1

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
        let stored = try ProjectionStore.offsets(schema: schema, projection: projection, in: connection)
        return stored.filter { partitions.contains($0.key) }
    }

    /// Runs until the task is cancelled (a normal stop, at any point) or a failure.
    public func run() async throws {
        do {
            try await ProjectionStore.ensureVersion(projection, pool: pool, logger: logger)
        } catch is CancellationError {
            return
        }
        while !Task.isCancelled {
            do {
                try await runOnce()
                return
            } catch let moved as OffsetsMoved {
                logger.warning("projection offsets moved, re-reading them", metadata: ["projection": "\(projection.name)", "kafka.partition": "\(moved.partition)"])
            }
        }
    }

    func runOnce() async throws {
        let projection = self.projection
        let databaseURL = self.databaseURL
        let ledger = OffsetLedger()
        let consumer = try KafkaConsumer(
            config: kafka,
            subscription: .groupWithExternalOffsets(
                id: Self.groupID(projection.name), topics: [topic], startAt: .earliest,
                startOffsets: { partitions in
                    let offsets = try Self.loadOffsets(databaseURL: databaseURL, schema: projection.schema, projection: projection.name, partitions: partitions)
                    ledger.set(offsets, for: partitions)
                    return offsets
                }
            ),
            logger: logger
        )
        do {
            try await consumer.run(maxConcurrentPartitions: maxConcurrentPartitions) { record in try await self.handle(record, ledger: ledger) }
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
    func handle(_ record: KafkaRecord, ledger: OffsetLedger) async throws {
        let position = record.position
        let partition = record.topicPartition
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
                let expected = ledger.expected(partition)
                try await pool.transaction { [projection, event] connection in
                    if let event { try projection.apply(event, position: position, bytes: record.value, in: connection) }
                    guard try ProjectionStore.advance(projection, position: position, expected: expected, in: connection) else {
                        throw OffsetsMoved(partition: partition)
                    }
                }
                ledger.record(partition, position.offset + 1)
                return
            } catch let moved as OffsetsMoved {
                throw moved
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

/// SQL for a projection's bookkeeping tables.
public enum ProjectionStore {
    public static func offsets(schema: String, projection: String, in connection: PostgresConnection) throws -> [TopicPartition: Int64] {
        let rows = try connection.query("SELECT topic, partition, next_offset FROM \(identifier: schema).projection_offsets WHERE projection = \(projection)")
        var stored: [TopicPartition: Int64] = [:]
        for row in rows {
            let tp = TopicPartition(topic: try row.decode("topic", as: String.self), partition: Int32(try row.decode("partition", as: Int.self)))
            stored[tp] = try row.decode("next_offset", as: Int64.self)
        }
        return stored
    }

    /// Stores `position + 1` as the partition's next offset, only if the stored one is still
    /// `expected` (nil: no row yet). False means someone else moved it.
    public static func advance(_ projection: any Projection, position: LogPosition, expected: Int64?, in connection: PostgresConnection) throws -> Bool {
        let next = position.offset + 1
        let rows: PostgresRows
        if let expected {
            rows = try connection.query("""
                UPDATE \(identifier: projection.schema).projection_offsets SET next_offset = \(next)
                WHERE projection = \(projection.name) AND topic = \(position.topic) AND partition = \(Int(position.partition)) AND next_offset = \(expected)
                """)
        } else {
            rows = try connection.query("""
                INSERT INTO \(identifier: projection.schema).projection_offsets (projection, topic, partition, next_offset)
                VALUES (\(projection.name), \(position.topic), \(Int(position.partition)), \(next))
                ON CONFLICT (projection, topic, partition) DO NOTHING
                """)
        }
        return rows.affectedRows == 1
    }

    /// Sets offsets without a check (rebuilds, which own their schema alone).
    public static func setOffsets(_ projection: any Projection, _ offsets: [TopicPartition: Int64], in connection: PostgresConnection) throws {
        // One statement per topic (array binds), not one per partition: a rebuild batch
        // touches dozens of partitions and this runs in every batch.
        for (topic, entries) in Dictionary(grouping: offsets, by: \.key.topic) {
            let partitions = "{" + entries.map { String($0.key.partition) }.joined(separator: ",") + "}"
            let nexts = "{" + entries.map { String($0.value) }.joined(separator: ",") + "}"
            try connection.query("""
                INSERT INTO \(identifier: projection.schema).projection_offsets (projection, topic, partition, next_offset)
                SELECT \(projection.name), \(topic), p, n FROM unnest(\(partitions)::integer[], \(nexts)::bigint[]) AS t(p, n)
                ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
                """)
        }
    }

    /// A projection whose code version differs from the one its rows were written by is
    /// emptied (rows and offsets) so it rebuilds from offset 0; the new version is recorded.
    public static func ensureVersion(_ projection: any Projection, pool: PostgresPool, logger: Logger) async throws {
        let rebuilt: Int? = try await pool.transaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock(hashtext(\(projection.schema + "/" + projection.name)))")
            let rows = try connection.query("SELECT version FROM \(identifier: projection.schema).projection_versions WHERE projection = \(projection.name)")
            let stored = try rows.first.map { try $0.decode("version", as: Int.self) }
            if stored == projection.version { return nil }
            let hasOffsets = try connection.query("SELECT 1 FROM \(identifier: projection.schema).projection_offsets WHERE projection = \(projection.name) LIMIT 1").count > 0
            if stored != nil || hasOffsets {
                for table in projection.tables {
                    try connection.query("TRUNCATE \(identifier: projection.schema).\(identifier: table)")
                }
                try connection.query("DELETE FROM \(identifier: projection.schema).projection_offsets WHERE projection = \(projection.name)")
            }
            try connection.query("""
                INSERT INTO \(identifier: projection.schema).projection_versions (projection, version) VALUES (\(projection.name), \(projection.version))
                ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version
                """)
            return stored ?? (hasOffsets ? 0 : nil)
        }
        if let rebuilt {
            logger.notice("projection code version changed: rebuilding from offset 0", metadata: ["projection": "\(projection.name)", "version.from": "\(rebuilt)", "version.to": "\(projection.version)"])
        }
    }
}

// Postgres outages are retried without limit; constraint violations and bugs are not. Declared
// here, the one module that knows both the event bus and Postgres.
extension PostgresError: RetriableError {}
