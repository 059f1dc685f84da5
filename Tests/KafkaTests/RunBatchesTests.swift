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
}
