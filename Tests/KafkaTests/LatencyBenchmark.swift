import Foundation
import Kafka
import Testing

/// One produce → consume hop on the mock cluster, for information only (nothing is asserted about
/// time). Run with KAFKA_BENCH=1 swift test --filter LatencyBenchmark
@Suite("Latency benchmark", .enabled(if: ProcessInfo.processInfo.environment["KAFKA_BENCH"] != nil))
struct LatencyBenchmark {
    @Test("p50 of one hop", .timeLimit(.minutes(1)), arguments: [1, 5])
    func hop(fetchWaitMaxMs: Int) async throws {
        let broker = try Broker("bench", topics: ["hop": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("bench", fetchWaitMaxMs: fetchWaitMaxMs),
            subscription: .allPartitions(topics: ["hop"], startAt: .latest), logger: broker.logger
        )
        _ = try await consumer.assignment()
        let (arrivals, continuation) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
        let running = Task { try await consumer.run { _ in continuation.yield(.now) } }
        var iterator = arrivals.makeAsyncIterator()

        var samples: [Duration] = []
        for index in 0..<600 {
            let start = ContinuousClock.now
            _ = try await producer.send(topic: "hop", key: nil, value: Array(repeating: UInt8(index % 251), count: 200))
            let arrived = try #require(await iterator.next())
            if index >= 100 { samples.append(arrived - start) }  // skip warm-up
        }
        await consumer.close()
        try await running.value
        continuation.finish()
        await producer.close()

        samples.sort()
        let p50 = samples[samples.count / 2]
        let p99 = samples[samples.count * 99 / 100]
        print("kafka hop fetch.wait.max.ms=\(fetchWaitMaxMs): p50 \(p50), p99 \(p99), n=\(samples.count)")
        #expect(samples.count == 500)
    }
}
