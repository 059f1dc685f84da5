import DatabaseTestSupport
import EventBus
import Events
import Foundation
import JSON
import Kafka
import Logging
import Postgres
import Projections
import Synchronization
import Testing

/// Counts every application of every event, deliberately without any unique key: if the
/// consumer applied an event twice (offsets not stored with the rows, or not resumed), counts
/// show it.
struct CountingProjection: Projection {
    let name: String
    let schema: String
    var interestedIn: Set<String>? = [MessageReceived.eventType]
    var version = 1
    var isArchive = false
    let tables = ["applied"]
    let failedOnce = Flag()
    /// Texts this projection can never apply (a bug of its own): they are skipped and
    /// dead-lettered, for this projection only.
    var rejects: Set<String> = []

    final class Flag: Sendable {
        private let value = Mutex(false)
        /// True the first time only.
        func firstTime() -> Bool { value.withLock { failed in defer { failed = true }; return !failed } }
    }

    struct Rejected: Error {}

    func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        for logged in events {
            let message = try logged.event.decode(MessageReceived.self)
            if rejects.contains(message.text) { throw Rejected() }
            try connection.query("INSERT INTO \(identifier: schema).applied (projection, event_id, text) VALUES (\(name), \(logged.event.id), \(message.text))")
            // A crash between the row write and the commit, once: the rows must roll back
            // together with the offsets, and the consumer must retry.
            if message.text == "fail-once", failedOnce.firstTime() {
                struct SimulatedCrash: Error {}
                throw SimulatedCrash()
            }
        }
    }
}

/// Shared state for closures that outlive the test's stack frame.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

/// A scratch schema with the counting table, an in-process dev broker, and a way to run a
/// service's log consumer until the database says it is done.
final class LogConsumerTestBed: Sendable {
    let url: String
    let logger = Logger(label: "log-consumer-test")
    let schema = TestDB.uniqueName("proj")
    let pool: PostgresPool
    let cluster: KafkaMockCluster
    let config: KafkaConfig
    let producer: KafkaProducer
    let publisher: EventPublisher
    /// Texts of the events each reaction call saw, in order.
    let reacted = Locked<[String]>([])

    init(partitions: Int) async throws {
        url = try TestDB.url()
        pool = try TestDB.makePool()
        try await migrate(pool, schema: schema, migrations: [
            projectionOffsetsMigration(version: 1),
            Migration(version: 2, name: "applied", sql: "CREATE TABLE applied (projection text NOT NULL, event_id uuid NOT NULL, text text NOT NULL);"),
        ], logger: logger)
        cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("events", partitions: partitions)
        try cluster.createTopic("dead", partitions: 1)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "log-consumer-test")
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

    func consumer(_ projections: [CountingProjection], reactions: Bool = true, offsets: ServiceLogConsumer.OffsetStore? = nil, pool: PostgresPool) -> ServiceLogConsumer {
        let reacted = self.reacted
        var consumer = ServiceLogConsumer(
            group: "test.\(schema)", kafka: config, reactionTopic: "events",
            reactions: reactions ? [Reaction(name: "count", interestedIn: [MessageReceived.eventType]) { event in
                let text = try event.decode(MessageReceived.self).text
                reacted.withLock { $0.append(text) }
            }] : [],
            projections: projections.map { ProjectionFeed($0, topic: "events") },
            offsets: offsets ?? .postgres(pool, databaseURL: url, reactionSchema: schema),
            deadLetters: DeadLetterPublisher(producer: producer, topic: "dead", consumerGroup: "test"), logger: logger
        )
        consumer.retry.initialBackoff = .milliseconds(1)
        consumer.retry.maxBackoff = .milliseconds(5)
        return consumer
    }

    /// Runs the consumer until `done` (SQL returning one boolean column `ok`) holds, then
    /// cancels it. The consumer gets its own pool: cancelling it sends Postgres cancel
    /// requests, which must not land on the observer's queries.
    func run(_ projections: [CountingProjection], until done: String) async throws {
        let consumerPool = PostgresPool(url: url, size: 2, logger: logger)
        let consumer = self.consumer(projections, pool: consumerPool)
        let task = Task { try await consumer.run() }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await pool.query(PostgresQuery(unsafeSQL: done, binds: [])).first?.decode("ok", as: Bool.self) == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        try await task.value
        await consumerPool.close()
    }

    func count(_ condition: String = "true") async throws -> Int {
        try await pool.query(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(schema).applied WHERE \(condition)", binds: []))[0].decode("n", as: Int.self)
    }

    func deadLetters(atLeast count: Int) async throws -> [KafkaRecord] {
        let dead = try KafkaConsumer(config: config, subscription: .allPartitions(topics: ["dead"], startAt: .earliest), logger: logger)
        let parked = Mutex<[KafkaRecord]>([])
        let reader = Task { try await dead.run { record in parked.withLock { $0.append(record) } } }
        let deadline = ContinuousClock.now + .seconds(20)
        while parked.withLock({ $0.count < count }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        // Anything beyond `count` would arrive now.
        try await Task.sleep(for: .milliseconds(300))
        reader.cancel()
        _ = try? await reader.value
        await dead.close()
        return parked.withLock { $0 }
    }

    func close() async throws {
        await producer.close()
        await cluster.close()
        try await TestDB.dropSchema(schema, pool)
        await pool.close()
    }
}

@Suite(.timeLimit(.minutes(2)))
struct ServiceLogConsumerTests {
    @Test func eachEventIsAppliedAndReactedToOnceAcrossStopsAndFailuresAndOffsetsResume() async throws {
        let bed = try await LogConsumerTestBed(partitions: 3)
        // A record that is not an event at all: dead-lettered once, and offsets still advance.
        _ = try await bed.producer.send(topic: "events", key: Array("conv-0".utf8), value: Array("garbage".utf8), headers: [])
        try await bed.publish((0..<40).map { "first-\($0)" } + ["fail-once"])
        // Two read models and a reaction fed by one consumer.
        let projections = [CountingProjection(name: "a", schema: bed.schema), CountingProjection(name: "b", schema: bed.schema)]
        try await bed.run(projections, until: "SELECT count(*) >= 82 AS ok FROM \(bed.schema).applied")
        // Second run: new events only; everything before resumes from the stored offsets.
        try await bed.publish((0..<25).map { "second-\($0)" })
        try await bed.run(projections, until: "SELECT count(*) >= 132 AS ok FROM \(bed.schema).applied")

        let counts = try await bed.pool.query("SELECT projection, event_id, count(*) AS n FROM \(identifier: bed.schema).applied GROUP BY 1, 2")
        #expect(counts.count == 132, "every event applied by both projections")
        #expect(try counts.allSatisfy { try $0.decode("n", as: Int.self) == 1 }, "no event applied twice")
        #expect(try await bed.count("text = 'fail-once'") == 2, "the failed attempt's rows were rolled back with the offsets")
        let reacted = bed.reacted.withLock { $0 }
        #expect(reacted.count == 66 && Set(reacted).count == 66, "every event reacted to exactly once")

        let admin = try KafkaAdmin(config: bed.config, logger: bed.logger)
        let offsets = try await bed.pool.query("SELECT projection, partition, next_offset FROM \(identifier: bed.schema).projection_offsets ORDER BY 1, 2")
        #expect(offsets.count == 9, "three partitions for each projection and for the reactions")
        for row in offsets {
            let partition = Int32(try row.decode("partition", as: Int.self))
            let owner = try row.decode("projection", as: String.self)
            let (_, high) = try await admin.watermarks(TopicPartition(topic: "events", partition: partition), timeout: .seconds(5))
            #expect(try row.decode("next_offset", as: Int64.self) == high, "stored offset of \(owner) partition \(partition) is the end of the log")
        }
        await admin.close()
        let dead = try await bed.deadLetters(atLeast: 1)
        #expect(dead.count == 1, "the garbage record is dead-lettered once, not once per read model")
        try await bed.close()
    }

    @Test func anEventOneProjectionCannotApplyIsDeadLetteredForItAloneAndTheOthersApplyIt() async throws {
        let bed = try await LogConsumerTestBed(partitions: 1)
        try await bed.publish(["before", "poison", "after"])
        var strict = CountingProjection(name: "strict", schema: bed.schema)
        strict.rejects = ["poison"]
        let lenient = CountingProjection(name: "lenient", schema: bed.schema)
        try await bed.run([strict, lenient], until: "SELECT count(*) >= 5 AS ok FROM \(bed.schema).applied")

        #expect(try await bed.count("projection = 'strict'") == 2)
        #expect(try await bed.count("projection = 'strict' AND text = 'poison'") == 0)
        #expect(try await bed.count("projection = 'lenient'") == 3, "the other read model is not held back")
        let dead = try await bed.deadLetters(atLeast: 1)
        #expect(dead.count == 1)
        #expect(dead.first?.header(DeadLetterHeaders.error)?.contains("projection strict") == true)
        #expect(try dead.first.map { try EventCodec.decode($0.value).decode(MessageReceived.self).text } == "poison")
        try await bed.close()
    }

    @Test func aChangedCodeVersionEmptiesTheProjectionAndRebuildsItFromOffsetZeroWithoutReactingAgain() async throws {
        let bed = try await LogConsumerTestBed(partitions: 2)
        try await bed.publish((0..<20).map { "e\($0)" })
        var projection = CountingProjection(name: "versioned", schema: bed.schema)
        let applied = "(SELECT count(*) FROM \(bed.schema).applied WHERE text LIKE 'e%')"
        let version = "(SELECT version FROM \(bed.schema).projection_versions WHERE projection = 'versioned')"
        try await bed.run([projection], until: "SELECT \(applied) >= 20 AS ok")
        // A row only the old code wrote: a rebuild must not keep it.
        try await bed.pool.query("INSERT INTO \(identifier: bed.schema).applied (projection, event_id, text) VALUES ('versioned', \(UUID()), 'written by version 1 only')")
        projection.version = 2
        try await bed.run([projection], until: "SELECT \(version) = 2 AND \(applied) >= 20 AND NOT EXISTS (SELECT 1 FROM \(bed.schema).applied WHERE text LIKE 'written%') AS ok")

        let rows = try await bed.pool.query("SELECT text, count(*) AS n FROM \(identifier: bed.schema).applied GROUP BY text")
        #expect(rows.count == 20, "exactly the log's events, re-applied once, nothing left from version 1")
        #expect(try rows.allSatisfy { try $0.decode("n", as: Int.self) == 1 })
        #expect(bed.reacted.withLock { $0.count } == 20, "the consumer went back for the projection; the reaction skipped what it had done")
        try await bed.close()
    }

    /// A placeholder the dev broker writes where a restored topic has no record: not handed to
    /// a read model that takes every type, not dead-lettered, and the offsets move past it.
    @Test func aRestoredLogsPlaceholderIsSkippedNotDeadLettered() async throws {
        let bed = try await LogConsumerTestBed(partitions: 1)
        _ = try await bed.producer.send(topic: "events", partition: 0, key: nil, value: [], headers: [KafkaHeader(key: EventHeaders.type, value: Array(EventHeaders.logGapType.utf8))])
        try await bed.publish(["after-0", "after-1", "after-2"])
        var everything = CountingProjection(name: "everything", schema: bed.schema)
        everything.interestedIn = nil
        try await bed.run([everything], until: "SELECT count(*) >= 3 AS ok FROM \(bed.schema).applied")
        #expect(try await bed.count() == 3)
        let dead = try await bed.deadLetters(atLeast: 0)
        #expect(dead.isEmpty, "the placeholder is not dead-lettered: \(dead.map { $0.header(EventHeaders.type) ?? "?" })")
        let next = try await bed.pool.query("SELECT next_offset FROM \(identifier: bed.schema).projection_offsets WHERE projection = 'everything'").first?.decode("next_offset", as: Int64.self)
        #expect(next == 4, "offsets moved past the placeholder and the three events")
        try await bed.close()
    }

    @Test func theArchiveIsNeverEmptiedByAVersionChange() async throws {
        let bed = try await LogConsumerTestBed(partitions: 1)
        try await bed.publish((0..<5).map { "e\($0)" })
        var projection = CountingProjection(name: "archive", schema: bed.schema)
        projection.isArchive = true
        let applied = "(SELECT count(*) FROM \(bed.schema).applied WHERE text LIKE 'e%')"
        try await bed.run([projection], until: "SELECT \(applied) >= 5 AS ok")
        projection.version = 2
        await #expect(throws: ArchiveVersionChanged.self) { try await ProjectionStore.ensureVersion(projection, pool: bed.pool, logger: bed.logger) }
        let kept = try await bed.pool.query("SELECT count(*) AS n FROM \(identifier: bed.schema).applied").first?.decode("n", as: Int.self)
        #expect(kept == 5, "the archive keeps every row")
        let offsets = try await bed.pool.query("SELECT count(*) AS n FROM \(identifier: bed.schema).projection_offsets WHERE projection = 'archive'").first?.decode("n", as: Int.self)
        #expect(offsets == 1, "and its offsets")
        try await bed.close()
    }

    /// The retry policy for reactions (a service without Postgres, offsets in the broker): a
    /// transient failure is retried until it passes, any other failure a few times and then
    /// dead-lettered, and the partition moves on.
    @Test func reactionsRetryTransientFailuresAndDeadLetterOthers() async throws {
        struct Outage: RetriableError { var isRetriable: Bool { true } }
        struct Bug: Error {}
        let bed = try await LogConsumerTestBed(partitions: 1)
        try await bed.publish(["bug", "outage", "fine"])
        let counts = Locked<[String: Int]>([:])
        let handled = Locked<[String]>([])
        var consumer = ServiceLogConsumer(
            group: "retry.\(bed.schema)", kafka: bed.config, reactionTopic: "events",
            reactions: [Reaction(name: "flaky", interestedIn: [MessageReceived.eventType]) { event in
                let text = try event.decode(MessageReceived.self).text
                let attempt = counts.withLock { $0[text, default: 0] += 1; return $0[text, default: 0] }
                switch text {
                case "bug": throw Bug()
                case "outage" where attempt <= 7: throw Outage()  // more than the 5 allowed for bugs
                default: handled.withLock { $0.append(text) }
                }
            }],
            projections: [], offsets: .broker,
            deadLetters: DeadLetterPublisher(producer: bed.producer, topic: "dead", consumerGroup: "retry"), logger: bed.logger
        )
        consumer.retry.initialBackoff = .milliseconds(1)
        consumer.retry.maxBackoff = .milliseconds(5)
        let run = Task { [consumer] in try await consumer.run() }
        let deadline = ContinuousClock.now + .seconds(30)
        while handled.withLock({ $0.count }) < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        run.cancel()
        _ = try? await run.value

        #expect(handled.withLock { $0 } == ["outage", "fine"], "in log order, after the bad one was parked")
        #expect(counts.withLock { $0 } == ["bug": 5, "outage": 8, "fine": 1])
        let dead = try await bed.deadLetters(atLeast: 1)
        #expect(dead.count == 1)
        #expect(dead.first?.header(DeadLetterHeaders.error)?.contains("flaky failed 5 times") == true)
        #expect(try dead.first.map { try EventCodec.decode($0.value).decode(MessageReceived.self).text } == "bug")
        try await bed.close()
    }

    /// An event whose envelope is fine but whose payload breaks its published schema (here a
    /// field the contract does not have, which the typed decode alone would ignore) reaches no
    /// handler: neither the reaction nor any projection sees it, it is dead-lettered once with
    /// the schema's complaint, and the events after it flow.
    @Test func anEventBreakingItsPublishedSchemaReachesNoHandlerAndIsDeadLettered() async throws {
        let bed = try await LogConsumerTestBed(partitions: 1)
        try await bed.publish(["before"])
        let honest = try EventEnvelope.start(MessageReceived(customerID: "c", text: "forged"), conversationID: "conv-0", tenantID: "t", producer: "test")
        guard case .object(var payload) = honest.payload else { Issue.record("payload is an object"); return }
        payload["refund_limit_cents"] = 1_000_000
        var forged = honest
        forged.payload = .object(payload)
        #expect(try forged.decode(MessageReceived.self).text == "forged", "the typed decode alone would let it through")
        try await bed.publisher.publish(forged)
        try await bed.publish(["after"])
        try await bed.run([CountingProjection(name: "p", schema: bed.schema)], until: "SELECT count(*) >= 2 AS ok FROM \(bed.schema).applied")

        #expect(try await bed.count("text = 'forged'") == 0)
        #expect(try await bed.count() == 2)
        #expect(bed.reacted.withLock { $0 } == ["before", "after"])
        let dead = try await bed.deadLetters(atLeast: 1)
        #expect(dead.count == 1, "once for the service, not once per handler")
        let error = dead.first?.header(DeadLetterHeaders.error) ?? ""
        #expect(error.contains("does not match docs/events/MessageReceived.v1.json") && error.contains("refund_limit_cents"), "\(error)")
        #expect(dead.first.map { Array($0.value) } == EventCodec.encode(forged), "the record's bytes, unchanged")
        try await bed.close()
    }
}
