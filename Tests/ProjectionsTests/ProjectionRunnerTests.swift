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

@Suite(.timeLimit(.minutes(2)))
struct ProjectionRunnerTests {
    @Test func eachEventIsAppliedOnceAcrossStopsAndFailuresAndOffsetsResume() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "DATABASE_URL is not set: run `make test`")
        let logger = Logger(label: "projection-test")
        let schema = "proj_\(UInt32.random(in: 0...UInt32.max))"
        let pool = PostgresPool(url: url, size: 2, logger: logger)
        try await migrate(pool, schema: schema, migrations: [
            projectionOffsetsMigration(version: 1),
            Migration(version: 2, name: "applied", sql: "CREATE TABLE applied (event_id uuid NOT NULL, text text NOT NULL);"),
        ], logger: logger)

        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("events", partitions: 3)
        try cluster.createTopic("dead", partitions: 1)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "projection-test")
        config.extra = KafkaConfig.mockClusterGroupSettings
        let producer = try KafkaProducer(config: config, logger: logger)
        let publisher = EventPublisher(producer: producer, topic: "events")

        func publish(_ texts: [String]) async throws {
            for (index, text) in texts.enumerated() {
                try await publisher.publish(try EventEnvelope.start(MessageReceived(customerID: "c", text: text), conversationID: "conv-\(index % 5)", tenantID: "t", producer: "test"))
            }
        }
        // A record that is not an event at all: dead-lettered, and its offset still advances.
        _ = try await producer.send(topic: "events", key: Array("conv-0".utf8), value: Array("garbage".utf8), headers: [])
        try await publish((0..<40).map { "first-\($0)" } + ["fail-once"])

        // Its own pool: cancelling the runner sends Postgres cancel requests, which must not
        // land on the observer's queries below.
        let runnerPool = PostgresPool(url: url, size: 2, logger: logger)
        let runner = ProjectionRunner(projection: CountingProjection(name: "counting", schema: schema), pool: runnerPool, databaseURL: url, kafka: config, topic: "events", producer: producer, deadLetterTopic: "dead", logger: logger)
        func runUntilApplied(_ count: Int) async throws {
            let task = Task { try await runner.run() }
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let rows = try await pool.query("SELECT count(*) AS n FROM \(identifier: schema).applied")
                if try rows[0].decode("n", as: Int.self) >= count { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            task.cancel()
            try await task.value
        }

        try await runUntilApplied(41)
        // Second run: new events only; everything before resumes from the stored offsets.
        try await publish((0..<25).map { "second-\($0)" })
        try await runUntilApplied(66)

        let counts = try await pool.query("SELECT event_id, count(*) AS n FROM \(identifier: schema).applied GROUP BY event_id")
        #expect(counts.count == 66, "every event applied")
        #expect(try counts.allSatisfy { try $0.decode("n", as: Int.self) == 1 }, "no event applied twice")
        let failed = try await pool.query("SELECT count(*) AS n FROM \(identifier: schema).applied WHERE text = 'fail-once'")
        #expect(try failed[0].decode("n", as: Int.self) == 1, "the failed attempt's row was rolled back with its offset")

        let admin = try KafkaAdmin(config: config, logger: logger)
        let offsets = try await pool.query("SELECT partition, next_offset FROM \(identifier: schema).projection_offsets WHERE projection = 'counting' ORDER BY partition")
        for row in offsets {
            let partition = Int32(try row.decode("partition", as: Int.self))
            let (_, high) = try await admin.watermarks(TopicPartition(topic: "events", partition: partition), timeout: .seconds(5))
            #expect(try row.decode("next_offset", as: Int64.self) == high, "stored offset of partition \(partition) is the end of the log")
        }
        await admin.close()
        await runnerPool.close()
        await producer.close()
        await cluster.close()
        try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA \(schema) CASCADE") }
        await pool.close()
    }

    @Test func aChangedCodeVersionEmptiesTheProjectionAndRebuildsItFromOffsetZero() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "DATABASE_URL is not set: run `make test`")
        let logger = Logger(label: "projection-version-test")
        let schema = "projv_\(UInt32.random(in: 0...UInt32.max))"
        let pool = PostgresPool(url: url, size: 2, logger: logger)
        try await migrate(pool, schema: schema, migrations: [
            projectionOffsetsMigration(version: 1),
            Migration(version: 2, name: "applied", sql: "CREATE TABLE applied (event_id uuid NOT NULL, text text NOT NULL);"),
        ], logger: logger)
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("events", partitions: 2)
        try cluster.createTopic("dead", partitions: 1)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "projection-version-test")
        config.extra = KafkaConfig.mockClusterGroupSettings
        let producer = try KafkaProducer(config: config, logger: logger)
        let publisher = EventPublisher(producer: producer, topic: "events")
        for index in 0..<20 {
            try await publisher.publish(try EventEnvelope.start(MessageReceived(customerID: "c", text: "e\(index)"), conversationID: "conv-\(index % 4)", tenantID: "t", producer: "test"))
        }

        func run(version: Int, done: String) async throws {
            var projection = CountingProjection(name: "versioned", schema: schema)
            projection.version = version
            // The runner gets its own pool: cancelling it sends Postgres cancel requests, which
            // must not land on this observer's queries.
            let runnerPool = PostgresPool(url: url, size: 2, logger: logger)
            let runner = ProjectionRunner(projection: projection, pool: runnerPool, databaseURL: url, kafka: config, topic: "events", producer: producer, deadLetterTopic: "dead", logger: logger)
            let task = Task { try await runner.run() }
            defer { Task { await runnerPool.close() } }
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if try await pool.query(PostgresQuery(unsafeSQL: done, binds: [])).first?.decode("ok", as: Bool.self) == true { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            task.cancel()
            try await task.value
        }
        let applied = "(SELECT count(*) FROM \(schema).applied WHERE text LIKE 'e%')"
        let version = "(SELECT version FROM \(schema).projection_versions WHERE projection = 'versioned')"
        try await run(version: 1, done: "SELECT \(applied) >= 20 AS ok")
        // A row only the old code wrote: a rebuild must not keep it.
        try await pool.query("INSERT INTO \(identifier: schema).applied (event_id, text) VALUES (\(UUID()), 'written by version 1 only')")
        try await run(version: 2, done: "SELECT \(version) = 2 AND \(applied) >= 20 AND NOT EXISTS (SELECT 1 FROM \(schema).applied WHERE text LIKE 'written%') AS ok")

        let rows = try await pool.query("SELECT text, count(*) AS n FROM \(identifier: schema).applied GROUP BY text")
        #expect(rows.count == 20, "exactly the log's events, re-applied once, nothing left from version 1")
        #expect(try rows.allSatisfy { try $0.decode("n", as: Int.self) == 1 })
        let stored = try await pool.query("SELECT version FROM \(identifier: schema).projection_versions WHERE projection = 'versioned'")
        #expect(try stored[0].decode("version", as: Int.self) == 2)

        await producer.close()
        await cluster.close()
        try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA \(schema) CASCADE") }
        await pool.close()
    }
}
