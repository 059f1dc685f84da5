import EventBus
import Events
import Foundation
import Kafka
import Logging
import Postgres
import Projections
import Synchronization
import Testing

/// Counts every application of every event, deliberately without any unique key: if the runner
/// applied an event twice (offsets not stored with the rows, or not resumed), counts show it.
struct CountingProjection: Projection {
    let name: String
    let schema: String
    let interestedIn: Set<String>? = [MessageReceived.eventType]
    var version = 1
    let tables = ["applied"]
    let failedOnce = Flag()

    final class Flag: Sendable {
        private let value = Mutex(false)
        /// True the first time only.
        func firstTime() -> Bool { value.withLock { failed in defer { failed = true }; return !failed } }
    }

    func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws {
        let message = try event.decode(MessageReceived.self)
        try connection.query("INSERT INTO \(identifier: schema).applied (event_id, text) VALUES (\(event.id), \(message.text))")
        // A crash between the row write and the commit, once: the row must roll back together
        // with the offset, and the runner must retry.
        if message.text == "fail-once", failedOnce.firstTime() {
            struct SimulatedCrash: Error {}
            throw SimulatedCrash()
        }
    }
}

/// A scratch schema with the counting table, an in-process dev broker, and a way to run a
/// projection until the database says it is done.
final class ProjectionTestBed: Sendable {
    let url: String
    let logger = Logger(label: "projection-test")
    let schema = "proj_\(UInt32.random(in: 0...UInt32.max))"
    let pool: PostgresPool
    let cluster: KafkaMockCluster
    let config: KafkaConfig
    let producer: KafkaProducer
    let publisher: EventPublisher

    init(partitions: Int) async throws {
        url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "DATABASE_URL is not set: run `make test`")
        pool = PostgresPool(url: url, size: 2, logger: logger)
        try await migrate(pool, schema: schema, migrations: [
            projectionOffsetsMigration(version: 1),
            Migration(version: 2, name: "applied", sql: "CREATE TABLE applied (event_id uuid NOT NULL, text text NOT NULL);"),
        ], logger: logger)
        cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("events", partitions: partitions)
        try cluster.createTopic("dead", partitions: 1)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "projection-test")
        config.extra = KafkaConfig.mockClusterGroupSettings
        self.config = config
        producer = try KafkaProducer(config: config, logger: logger)
        publisher = EventPublisher(producer: producer, topic: "events")
    }

    func publish(_ texts: [String]) async throws {
        for (index, text) in texts.enumerated() {
            try await publisher.publish(try EventEnvelope.start(MessageReceived(customerID: "c", text: text), conversationID: "conv-\(index % 5)", tenantID: "t", producer: "test"))
        }
    }

    /// Runs `projection` until `done` (SQL returning one boolean column `ok`) holds, then
    /// cancels it. The runner gets its own pool: cancelling it sends Postgres cancel requests,
    /// which must not land on the observer's queries.
    func run(_ projection: CountingProjection, until done: String) async throws {
        let runnerPool = PostgresPool(url: url, size: 2, logger: logger)
        let runner = ProjectionRunner(projection: projection, pool: runnerPool, databaseURL: url, kafka: config, topic: "events", producer: producer, deadLetterTopic: "dead", logger: logger)
        let task = Task { try await runner.run() }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await pool.query(PostgresQuery(unsafeSQL: done, binds: [])).first?.decode("ok", as: Bool.self) == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        try await task.value
        await runnerPool.close()
    }

    func count(_ condition: String = "true") async throws -> Int {
        try await pool.query(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(schema).applied WHERE \(condition)", binds: []))[0].decode("n", as: Int.self)
    }

    func close() async throws {
        await producer.close()
        await cluster.close()
        try await pool.withConnection { [schema] in try $0.execute(simple: "DROP SCHEMA \(schema) CASCADE") }
        await pool.close()
    }
}

@Suite(.timeLimit(.minutes(2)))
struct ProjectionRunnerTests {
    @Test func eachEventIsAppliedOnceAcrossStopsAndFailuresAndOffsetsResume() async throws {
        let bed = try await ProjectionTestBed(partitions: 3)
        // A record that is not an event at all: dead-lettered, and its offset still advances.
        _ = try await bed.producer.send(topic: "events", key: Array("conv-0".utf8), value: Array("garbage".utf8), headers: [])
        try await bed.publish((0..<40).map { "first-\($0)" } + ["fail-once"])
        let projection = CountingProjection(name: "counting", schema: bed.schema)
        try await bed.run(projection, until: "SELECT count(*) >= 41 AS ok FROM \(bed.schema).applied")
        // Second run: new events only; everything before resumes from the stored offsets.
        try await bed.publish((0..<25).map { "second-\($0)" })
        try await bed.run(projection, until: "SELECT count(*) >= 66 AS ok FROM \(bed.schema).applied")

        let counts = try await bed.pool.query("SELECT event_id, count(*) AS n FROM \(identifier: bed.schema).applied GROUP BY event_id")
        #expect(counts.count == 66, "every event applied")
        #expect(try counts.allSatisfy { try $0.decode("n", as: Int.self) == 1 }, "no event applied twice")
        #expect(try await bed.count("text = 'fail-once'") == 1, "the failed attempt's row was rolled back with its offset")

        let admin = try KafkaAdmin(config: bed.config, logger: bed.logger)
        let offsets = try await bed.pool.query("SELECT partition, next_offset FROM \(identifier: bed.schema).projection_offsets WHERE projection = 'counting' ORDER BY partition")
        for row in offsets {
            let partition = Int32(try row.decode("partition", as: Int.self))
            let (_, high) = try await admin.watermarks(TopicPartition(topic: "events", partition: partition), timeout: .seconds(5))
            #expect(try row.decode("next_offset", as: Int64.self) == high, "stored offset of partition \(partition) is the end of the log")
        }
        await admin.close()
        try await bed.close()
    }

    @Test func aChangedCodeVersionEmptiesTheProjectionAndRebuildsItFromOffsetZero() async throws {
        let bed = try await ProjectionTestBed(partitions: 2)
        try await bed.publish((0..<20).map { "e\($0)" })
        var projection = CountingProjection(name: "versioned", schema: bed.schema)
        let applied = "(SELECT count(*) FROM \(bed.schema).applied WHERE text LIKE 'e%')"
        let version = "(SELECT version FROM \(bed.schema).projection_versions WHERE projection = 'versioned')"
        try await bed.run(projection, until: "SELECT \(applied) >= 20 AS ok")
        // A row only the old code wrote: a rebuild must not keep it.
        try await bed.pool.query("INSERT INTO \(identifier: bed.schema).applied (event_id, text) VALUES (\(UUID()), 'written by version 1 only')")
        projection.version = 2
        try await bed.run(projection, until: "SELECT \(version) = 2 AND \(applied) >= 20 AND NOT EXISTS (SELECT 1 FROM \(bed.schema).applied WHERE text LIKE 'written%') AS ok")

        let rows = try await bed.pool.query("SELECT text, count(*) AS n FROM \(identifier: bed.schema).applied GROUP BY text")
        #expect(rows.count == 20, "exactly the log's events, re-applied once, nothing left from version 1")
        #expect(try rows.allSatisfy { try $0.decode("n", as: Int.self) == 1 })
        let stored = try await bed.pool.query("SELECT version FROM \(identifier: bed.schema).projection_versions WHERE projection = 'versioned'")
        #expect(try stored[0].decode("version", as: Int.self) == 2)
        try await bed.close()
    }
}
