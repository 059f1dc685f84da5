import Foundation
import Kafka
import Synchronization
import Testing

@Suite struct KafkaLogReaderTests {
    @Test("reads exactly the requested ranges, in order per partition, in batches", .timeLimit(.minutes(1)))
    func readsRangesInBatches() async throws {
        let broker = try Broker("reader", topics: ["log": 3])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for partition in Int32(0)..<3 {
            for index in 0..<500 {
                _ = try await producer.send(topic: "log", partition: partition, key: nil, value: bytes("p\(partition)-\(index)"))
            }
        }
        await producer.close()

        // Partition 0 whole, partition 1 a middle slice, partition 2 not at all.
        let ranges: [Int32: Range<Int64>] = [0: 0..<500, 1: 100..<250]
        let reader = try KafkaLogReader(config: broker.consumerConfig("reader"), topic: "log", ranges: ranges, logger: broker.logger)
        let seen = Mutex<[KafkaRecord]>([])
        let batchSizes = Mutex<[Int]>([])
        try await reader.read(maxBatch: 64) { records in
            seen.withLock { $0 += records }
            batchSizes.withLock { $0.append(records.count) }
        }
        let records = seen.withLock { $0 }
        for partition in Int32(0)..<2 {
            let offsets = records.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == Array(ranges[partition]!), "partition \(partition)")
        }
        #expect(!records.contains { $0.partition == 2 })
        #expect(records.first { $0.partition == 1 }.map { String(decoding: $0.value, as: UTF8.self) } == "p1-100")
        let sizes = batchSizes.withLock { $0 }
        #expect(sizes.allSatisfy { $0 <= 64 })
        #expect(sizes.count >= (500 + 150) / 64)
    }

    @Test("a handler error ends the read with that error", .timeLimit(.minutes(1)))
    func handlerErrorPropagates() async throws {
        struct Stop: Error {}
        let broker = try Broker("reader-error", topics: ["log": 1])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<100 { _ = try await producer.send(topic: "log", key: nil, value: bytes("\(index)")) }
        await producer.close()
        let reader = try KafkaLogReader(config: broker.consumerConfig("reader"), topic: "log", ranges: [0: 0..<100], logger: broker.logger)
        await #expect(throws: Stop.self) {
            try await reader.read(maxBatch: 10) { _ in throw Stop() }
        }
    }

    @Test("reserved settings are refused", .timeLimit(.minutes(1)))
    func reservedSettingsRefused() throws {
        let config = KafkaConfig(bootstrapServers: "127.0.0.1:1", clientID: "x", extra: ["enable.partition.eof": "false"])
        #expect(throws: KafkaError.self) { try KafkaLogReader(config: config, topic: "log", ranges: [0: 0..<1], logger: testLogger("x")) }
    }
}
