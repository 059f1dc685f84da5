import Kafka
import Synchronization
import Testing

@Suite("Kafka against the librdkafka mock cluster", .timeLimit(.minutes(1)))
struct KafkaTests {
    @Test("produce → consume round trip keeps key, headers and value", .timeLimit(.minutes(1)))
    func roundTrip() async throws {
        let broker = try Broker("round-trip", topics: ["orders": 3])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let headers = [
            KafkaHeader(key: "type", value: bytes("OrderCreated")),
            KafkaHeader(key: "trace", value: nil),
            KafkaHeader(key: "type", value: bytes("repeated keys keep their order")),
            KafkaHeader(key: "empty", value: []),
        ]
        let first = try await producer.send(topic: "orders", key: bytes("conv-1"), value: bytes("hello"), headers: headers)
        let second = try await producer.send(topic: "orders", key: nil, value: [], headers: [])

        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("round-trip"),
            subscription: .group(id: "round-trip", topics: ["orders"]), logger: broker.logger
        )
        let collector = Collector()
        let running = startConsuming(consumer, into: collector)
        try await collector.wait(forCount: 2)
        await consumer.close()
        try await running.value
        await producer.close()

        let byPosition = Dictionary(uniqueKeysWithValues: collector.records.map { ($0.position, $0) })
        let one = try #require(byPosition[Position(partition: first.partition, offset: first.offset)])
        #expect(one.topic == "orders")
        #expect(one.key == bytes("conv-1"))
        #expect(one.value == bytes("hello"))
        #expect(one.headers == headers)
        #expect(one.timestampMs != nil)
        let two = try #require(byPosition[Position(partition: second.partition, offset: second.offset)])
        #expect(two.key == nil)
        #expect(two.value == [])
        #expect(two.headers.isEmpty)
    }

    @Test("records with the same key arrive in order", .timeLimit(.minutes(1)))
    func orderingPerKey() async throws {
        let broker = try Broker("ordering", topics: ["turns": 4])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let keys = (0..<6).map { "conversation-\($0)" }
        let perKey = 150
        // Keys are produced concurrently; each key's records sequentially, as one aggregate would.
        let partitions = try await withThrowingTaskGroup(of: (String, Set<Int32>).self) { group in
            for key in keys {
                group.addTask {
                    var used = Set<Int32>()
                    for sequence in 0..<perKey {
                        used.insert(try await producer.send(topic: "turns", key: bytes(key), value: bytes("\(sequence)")).partition)
                    }
                    return (key, used)
                }
            }
            return try await group.reduce(into: [String: Set<Int32>]()) { $0[$1.0] = $1.1 }
        }
        #expect(partitions.values.allSatisfy { $0.count == 1 }, "a key always maps to one partition")

        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("ordering"),
            subscription: .group(id: "ordering", topics: ["turns"]), logger: broker.logger
        )
        let collector = Collector()
        let running = startConsuming(consumer, into: collector)
        try await collector.wait(forCount: keys.count * perKey)
        await consumer.close()
        try await running.value
        await producer.close()

        var sequences: [String: [Int]] = [:]
        for record in collector.records {
            sequences[text(record.key ?? []), default: []].append(Int(text(record.value))!)
        }
        for key in keys {
            #expect(sequences[key] == Array(0..<perKey), "\(key) out of order or incomplete")
        }
    }

    @Test("two consumers in one group split partitions and lose nothing across rebalances", .timeLimit(.minutes(1)))
    func groupRebalance() async throws {
        let broker = try Broker("rebalance", topics: ["events": 4])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let produced = Mutex<Set<Position>>([])
        @Sendable func produce(_ index: Int) async throws {
            let (partition, offset) = try await producer.send(topic: "events", key: bytes("key-\(index % 16)"), value: bytes("\(index)"))
            produced.withLock { _ = $0.insert(Position(partition: partition, offset: offset)) }
        }
        for index in 0..<100 { try await produce(index) }

        let all = Collector()
        let handledByA = Collector()
        let handledByB = Collector()
        let consumerA = try KafkaConsumer(
            config: broker.consumerConfig("consumer-a"), subscription: .group(id: "split", topics: ["events"]), logger: broker.logger
        )
        let runningA = startConsuming(consumerA, into: all, handledByA)
        try await handledByA.wait(forCount: 20)

        // Keep producing while the group rebalances twice.
        let stop = Mutex(false)
        let background = Task {
            var index = 100
            while !stop.withLock({ $0 }) {
                try await produce(index)
                index += 1
                try await Task.sleep(for: .milliseconds(3))  // pacing, not synchronisation
            }
        }

        let consumerB = try KafkaConsumer(
            config: broker.consumerConfig("consumer-b"), subscription: .group(id: "split", topics: ["events"]), logger: broker.logger
        )
        let runningB = startConsuming(consumerB, into: all, handledByB)
        try await handledByB.wait(forCount: 1)
        let sharedAssignment = try await consumerB.assignment()
        #expect(!sharedAssignment.isEmpty && sharedAssignment.count < 4, "B shares the partitions with A: \(sharedAssignment)")

        await consumerA.close()
        try await runningA.value
        // B takes over A's partitions.
        let bInitial = Set(sharedAssignment.map(\.partition))
        try await handledByB.wait("B handling a former partition of A") { records in
            records.contains { !bInitial.contains($0.partition) }
        }
        stop.withLock { $0 = true }
        try await background.value
        await producer.close()

        let expected = produced.withLock { $0 }
        try await all.wait("every produced record handled") { records in
            expected.isSubset(of: Set(records.map(\.position)))
        }
        await consumerB.close()
        try await runningB.value

        #expect(!handledByA.records.isEmpty)
        #expect(!handledByB.records.isEmpty)
        #expect(expected.isSubset(of: Set(all.records.map(\.position))))
        #expect(expected.count > 100)
    }

    struct HandlerFailed: Error {}

    @Test("an offset is stored only after the handler succeeded", .timeLimit(.minutes(1)))
    func offsetStoredAfterSuccess() async throws {
        let broker = try Broker("store-after-success", topics: ["jobs": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<10 { _ = try await producer.send(topic: "jobs", key: nil, value: bytes("\(index)")) }
        await producer.close()

        let failing = try KafkaConsumer(
            config: broker.consumerConfig("first"), subscription: .group(id: "workers", topics: ["jobs"]), logger: broker.logger
        )
        let attempted = Mutex<[Int64]>([])
        await #expect(throws: HandlerFailed.self) {
            try await failing.run { record in
                attempted.withLock { $0.append(record.offset) }
                if record.offset == 5 { throw HandlerFailed() }
            }
        }
        await failing.close()
        #expect(attempted.withLock { $0 } == [0, 1, 2, 3, 4, 5])

        let restarted = try KafkaConsumer(
            config: broker.consumerConfig("second"), subscription: .group(id: "workers", topics: ["jobs"]), logger: broker.logger
        )
        let collector = Collector()
        let running = startConsuming(restarted, into: collector)
        try await collector.wait("the last record") { $0.contains { $0.offset == 9 } }
        await restarted.close()
        try await running.value
        #expect(collector.records.map(\.offset) == [5, 6, 7, 8, 9])
    }

    @Test("external start offsets are respected and nothing is committed", .timeLimit(.minutes(1)))
    func externalOffsets() async throws {
        let broker = try Broker("external", topics: ["ledger": 2])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<10 { _ = try await producer.send(topic: "ledger", partition: 0, key: nil, value: bytes("p0-\(index)")) }
        for index in 0..<3 { _ = try await producer.send(topic: "ledger", partition: 1, key: nil, value: bytes("p1-\(index)")) }
        await producer.close()

        let asked = Mutex<[[TopicPartition]]>([])
        let partition0 = TopicPartition(topic: "ledger", partition: 0)
        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("projection"),
            subscription: .groupWithExternalOffsets(id: "projection", topics: ["ledger"], startAt: .earliest) { partitions in
                asked.withLock { $0.append(partitions) }
                return [partition0: 5]
            },
            logger: broker.logger
        )
        let collector = Collector()
        let running = startConsuming(consumer, into: collector)
        try await collector.wait(forCount: 5 + 3)
        await consumer.close()
        try await running.value

        let p0 = collector.records.filter { $0.partition == 0 }.map(\.offset)
        let p1 = collector.records.filter { $0.partition == 1 }.map(\.offset)
        #expect(p0 == [5, 6, 7, 8, 9])
        #expect(p1 == [0, 1, 2], "absent from startOffsets → startAt (.earliest)")
        #expect(asked.withLock { $0.first.map(Set.init) } == [partition0, TopicPartition(topic: "ledger", partition: 1)])

        // Nothing was committed: the same group id under broker-managed offsets starts from 0.
        let plain = try KafkaConsumer(
            config: broker.consumerConfig("plain"), subscription: .group(id: "projection", topics: ["ledger"]), logger: broker.logger
        )
        let fromBroker = Collector()
        let runningPlain = startConsuming(plain, into: fromBroker)
        try await fromBroker.wait("partition 0 from the broker") { $0.contains { $0.partition == 0 } }
        await plain.close()
        try await runningPlain.value
        #expect(fromBroker.records.first { $0.partition == 0 }?.offset == 0)
    }

    @Test("allPartitions from latest only sees records produced after start", .timeLimit(.minutes(1)))
    func allPartitionsFromLatest() async throws {
        let broker = try Broker("tail", topics: ["replies": 3])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for partition in Int32(0)..<3 {
            for index in 0..<2 { _ = try await producer.send(topic: "replies", partition: partition, key: nil, value: bytes("before-\(index)")) }
        }

        let tail = try KafkaConsumer(
            config: broker.consumerConfig("tail"), subscription: .allPartitions(topics: ["replies"], startAt: .latest), logger: broker.logger
        )
        let assigned = try await tail.assignment()
        #expect(Set(assigned.map(\.partition)) == [0, 1, 2])
        let collector = Collector()
        let running = startConsuming(tail, into: collector)
        for partition in Int32(0)..<3 {
            _ = try await producer.send(topic: "replies", partition: partition, key: nil, value: bytes("after-\(partition)"))
        }
        try await collector.wait(forCount: 3)

        let history = try KafkaConsumer(
            config: broker.consumerConfig("history"), subscription: .allPartitions(topics: ["replies"], startAt: .earliest),
            logger: broker.logger
        )
        let everything = Collector()
        let runningHistory = startConsuming(history, into: everything)
        try await everything.wait(forCount: 9)

        await tail.close()
        await history.close()
        try await running.value
        try await runningHistory.value
        await producer.close()

        #expect(Set(collector.records.map { text($0.value) }) == ["after-0", "after-1", "after-2"])
        #expect(collector.records.count == 3)
        #expect(everything.records.filter { text($0.value).hasPrefix("before-") }.count == 6)
    }

    @Test("cancelling run returns normally; a new run continues where it stopped", .timeLimit(.minutes(1)))
    func cancelAndResume() async throws {
        let broker = try Broker("cancel", topics: ["feed": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<3 { _ = try await producer.send(topic: "feed", key: nil, value: bytes("\(index)")) }
        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("cancel"), subscription: .allPartitions(topics: ["feed"], startAt: .earliest),
            logger: broker.logger
        )
        let first = Collector()
        let running = startConsuming(consumer, into: first)
        try await first.wait(forCount: 3)
        running.cancel()
        try await running.value  // returns, does not throw

        _ = try await producer.send(topic: "feed", key: nil, value: bytes("3"))
        let second = Collector()
        let resumed = startConsuming(consumer, into: second)
        try await second.wait(forCount: 1)
        await consumer.close()
        try await resumed.value
        await producer.close()

        #expect(first.records.map(\.offset) == [0, 1, 2])
        #expect(second.records.map(\.offset) == [3])
    }

    @Test("allPartitions on an unknown topic fails run and assignment", .timeLimit(.minutes(1)))
    func allPartitionsUnknownTopic() async throws {
        let broker = try Broker("unknown", topics: [:])
        // The mock would auto-create the topic on the metadata request; make it answer "unknown".
        try broker.cluster.setTopicError("nope", .unknownTopicOrPartition)
        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("unknown"), subscription: .allPartitions(topics: ["nope"], startAt: .earliest),
            logger: broker.logger
        )
        let error = await #expect(throws: KafkaError.self) { try await consumer.assignment() }
        #expect(error?.code == .unknownTopicOrPartition)
        await #expect(throws: KafkaError.self) { try await consumer.run { _ in } }
        await consumer.close()
    }

    @Test("send returns increasing offsets; flush and close work", .timeLimit(.minutes(1)))
    func producerOffsetsFlushClose() async throws {
        let broker = try Broker("producer", topics: ["log": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        var offsets: [Int64] = []
        for index in 0..<20 {
            let (partition, offset) = try await producer.send(topic: "log", key: bytes("k"), value: bytes("\(index)"))
            #expect(partition == 0)
            offsets.append(offset)
        }
        #expect(offsets == Array(0..<20))

        let concurrent = try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<50 {
                group.addTask { try await producer.send(topic: "log", key: nil, value: bytes("c\(index)")).offset }
            }
            return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
        }
        #expect(concurrent == Set(20..<70))

        try await producer.flush(timeout: .seconds(5))
        await producer.close()
        await producer.close()
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(topic: "log", key: nil, value: [])
        }
        #expect(error?.code == .closed)
        await #expect(throws: KafkaError.self) { try await producer.flush(timeout: .seconds(1)) }
    }

    @Test("admin: watermarks, partition count, ping; mock topics", .timeLimit(.minutes(1)))
    func admin() async throws {
        let broker = try Broker("admin", topics: ["audit": 3, "single": 1])
        try broker.cluster.createTopic("audit", partitions: 3)  // already exists: not an error
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<7 { _ = try await producer.send(topic: "single", key: nil, value: bytes("\(index)")) }
        await producer.close()

        let admin = try KafkaAdmin(config: broker.producerConfig, logger: broker.logger)
        try await admin.ping(timeout: .seconds(5))
        let marks = try await admin.watermarks(TopicPartition(topic: "single", partition: 0), timeout: .seconds(5))
        #expect(marks.low == 0)
        #expect(marks.high == 7)
        #expect(try await admin.partitionCount(topic: "audit", timeout: .seconds(5)) == 3)
        try broker.cluster.setTopicError("missing", .unknownTopicOrPartition)
        let unknown = await #expect(throws: KafkaError.self) {
            _ = try await admin.partitionCount(topic: "missing", timeout: .seconds(5))
        }
        #expect(unknown?.code == .unknownTopicOrPartition)
        // The 2.0.2 mock has no controller, so CreateTopics times out (measured); the admin call
        // must still come back, with a retriable timeout.
        let create = await #expect(throws: KafkaError.self) {
            try await admin.createTopic("new", partitions: 2, replicationFactor: 1, config: [:], timeout: .milliseconds(500))
        }
        #expect(create?.code == .timedOut)
        #expect(create?.isRetriable == true)

        await admin.close()
        let closed = await #expect(throws: KafkaError.self) { try await admin.ping(timeout: .seconds(1)) }
        #expect(closed?.code == .closed)
        await broker.cluster.close()
        await broker.cluster.close()
        #expect(throws: KafkaError.self) { try broker.cluster.createTopic("late", partitions: 1) }
    }

    @Test("configuration errors are reported without starting a client", .timeLimit(.minutes(1)))
    func configurationErrors() throws {
        let logger = testLogger("config")
        let reserved = KafkaConfig(bootstrapServers: "127.0.0.1:1", clientID: "c", extra: ["enable.auto.offset.store": "true"])
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(config: reserved, subscription: .group(id: "g", topics: ["t"]), logger: logger)
        }
        #expect(error?.code == .invalidConfiguration)

        let bogus = KafkaConfig(bootstrapServers: "127.0.0.1:1", clientID: "c", extra: ["no.such.property": "1"])
        let unknown = #expect(throws: KafkaError.self) { _ = try KafkaProducer(config: bogus, logger: logger) }
        #expect(unknown?.code == .invalidConfiguration)
    }
}
