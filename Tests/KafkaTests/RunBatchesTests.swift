import Kafka
import Synchronization
import Testing

/// `KafkaConsumer.runBatches` against the mock cluster: what one poll returned is one batch;
/// a failed batch is not stored and comes back on the next run; finished batches are committed,
/// so the group's next member starts after them.
@Suite(.timeLimit(.minutes(1)))
struct RunBatchesTests {
    final class Seen: Sendable {
        let values = Mutex<[String]>([])
        let failedOnce = Mutex(false)
    }
    struct Refused: Error {}

    @Test func aFailedBatchComesBackAndFinishedBatchesAreCommitted() async throws {
        let broker = try Broker("run-batches", topics: ["events": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<10 { _ = try await producer.send(topic: "events", key: bytes("k"), value: bytes("v\(index)"), headers: []) }

        let seen = Seen()
        let consumer = try KafkaConsumer(config: broker.consumerConfig("batches"), subscription: .group(id: "batches", topics: ["events"]), logger: broker.logger)
        // The first batch is refused: nothing of it is stored, and the run ends with the error.
        await #expect(throws: Refused.self) {
            try await consumer.runBatches(maxRecords: 100) { records in
                if seen.failedOnce.withLock({ failed in defer { failed = true }; return !failed }) { throw Refused() }
                seen.values.withLock { $0 += records.map { String(decoding: $0.value, as: UTF8.self) } }
            }
        }
        // The next run on the same consumer starts again at the refused batch's first record.
        let run = Task {
            try await consumer.runBatches(maxRecords: 100) { records in
                seen.values.withLock { $0 += records.map { String(decoding: $0.value, as: UTF8.self) } }
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.values.withLock({ $0.count }) < 10, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        run.cancel()
        try await run.value
        await consumer.close()
        #expect(seen.values.withLock { $0 } == (0..<10).map { "v\($0)" }, "every record once, in order, after the refused batch")

        // A new member of the group starts after what was handled.
        _ = try await producer.send(topic: "events", key: bytes("k"), value: bytes("later"), headers: [])
        let next = try KafkaConsumer(config: broker.consumerConfig("batches-2"), subscription: .group(id: "batches", topics: ["events"]), logger: broker.logger)
        let later = Mutex<[String]>([])
        let second = Task {
            try await next.runBatches { records in later.withLock { $0 += records.map { String(decoding: $0.value, as: UTF8.self) } } }
        }
        while later.withLock({ $0.isEmpty }), ContinuousClock.now < deadline + .seconds(20) { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(300))
        second.cancel()
        try await second.value
        await next.close()
        #expect(later.withLock { $0 } == ["later"])
        await producer.close()
        await broker.cluster.close()
    }

    /// A filter copies only the records it wants; the others come with their position alone, so
    /// offsets still move past them: a new member of the group does not read them again.
    @Test func filteredRecordsKeepOnlyTheirPositionAndAreCommitted() async throws {
        let broker = try Broker("run-batches-filter", topics: ["events": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let types = ["Wanted", "Other", "Wanted", "Other", nil, "Other"]
        for (index, type) in types.enumerated() {
            _ = try await producer.send(topic: "events", key: bytes("k"), value: bytes("v\(index)"), headers: type.map { [KafkaHeader(key: "event-type", value: bytes($0))] } ?? [])
        }
        let seen = Mutex<[KafkaRecord]>([])
        let filter = RecordFilter(header: "event-type") { topic, type in topic == "events" && (type ?? "Wanted") == "Wanted" }
        let consumer = try KafkaConsumer(config: broker.consumerConfig("filter"), subscription: .group(id: "filter", topics: ["events"]), logger: broker.logger)
        let run = Task { try await consumer.runBatches(maxRecords: 100, filter: filter) { records in seen.withLock { $0 += records } } }
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.withLock({ $0.count }) < types.count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        run.cancel()
        try await run.value
        await consumer.close()

        let records = seen.withLock { $0 }
        #expect(records.map(\.offset) == Array(0..<Int64(types.count)), "every position, in order")
        #expect(records.map(\.isFilteredOut) == [false, true, false, true, false, true])
        #expect(records.filter { !$0.isFilteredOut }.map { String(decoding: $0.value, as: UTF8.self) } == ["v0", "v2", "v4"])
        #expect(records.filter(\.isFilteredOut).allSatisfy { $0.value.isEmpty && $0.headers.isEmpty && $0.key == nil })

        _ = try await producer.send(topic: "events", key: bytes("k"), value: bytes("later"), headers: [KafkaHeader(key: "event-type", value: bytes("Other"))])
        let next = try KafkaConsumer(config: broker.consumerConfig("filter-2"), subscription: .group(id: "filter", topics: ["events"]), logger: broker.logger)
        let later = Mutex<[Int64]>([])
        let second = Task { try await next.runBatches(filter: filter) { records in later.withLock { $0 += records.map(\.offset) } } }
        while later.withLock({ $0.isEmpty }), ContinuousClock.now < deadline + .seconds(20) { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(300))
        second.cancel()
        try await second.value
        await next.close()
        #expect(later.withLock { $0 } == [Int64(types.count)], "the group resumes after the filtered records")
        await producer.close()
        await broker.cluster.close()
    }
}
