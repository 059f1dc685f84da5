import EventBus
import EventContracts
import Events
import Foundation
public import Kafka
public import Logging

/// One record on the dead-letter topic, with where it came from and why it failed.
public struct DeadLetterEntry: Sendable {
    public var partition: Int32
    public var offset: Int64
    public var originTopic: String?
    public var originPartition: Int32?
    public var originOffset: Int64?
    public var consumerGroup: String?
    public var error: String?
    public var failedAtMillis: Int64?
    public var record: KafkaRecord

    public init(_ record: KafkaRecord) {
        self.record = record
        partition = record.partition
        offset = record.offset
        originTopic = record.header(DeadLetterHeaders.originTopic)
        originPartition = record.header(DeadLetterHeaders.originPartition).flatMap { Int32($0) }
        originOffset = record.header(DeadLetterHeaders.originOffset).flatMap { Int64($0) }
        consumerGroup = record.header(DeadLetterHeaders.consumerGroup)
        error = record.header(DeadLetterHeaders.error)
        failedAtMillis = record.header(DeadLetterHeaders.failedAt).flatMap { Int64($0) }
    }

    /// `partition:offset`, how the CLI names an entry.
    public var id: String { "\(partition):\(offset)" }
}

public struct RedriveError: Error, CustomStringConvertible {
    public var description: String
}

/// `switchboard dlq list|show|redrive`: inspect dead letters and send fixed ones back to the
/// topic they came from, with their original key and headers.
public struct DeadLetterTool: Sendable {
    public let kafka: KafkaConfig
    public let topic: String
    public let logger: Logger

    public init(kafka: KafkaConfig, topic: String, logger: Logger) {
        self.kafka = kafka
        self.topic = topic
        self.logger = logger
    }

    public func list(_ each: @escaping @Sendable (DeadLetterEntry) throws -> Void) async throws {
        try await LogScanner(kafka: kafka, topic: topic, logger: logger).scanRecords { try each(DeadLetterEntry($0)) }
    }

    public func find(partition: Int32, offset: Int64) async throws -> DeadLetterEntry? {
        let found = Found()
        try await LogScanner(kafka: kafka, topic: topic, logger: logger).scanRecords(fromOffset: offset, toOffset: offset + 1) { record in
            if record.partition == partition { found.set(DeadLetterEntry(record)) }
        }
        return found.entry
    }

    /// Sends the entry's value (or `replacement`, a fixed version) back to its origin topic.
    /// A value that is still not a valid event is refused unless `force` (it would only be
    /// dead-lettered again).
    public func redrive(_ entry: DeadLetterEntry, replacement: [UInt8]? = nil, force: Bool = false, producer: KafkaProducer) async throws -> (topic: String, partition: Int32, offset: Int64) {
        guard let origin = entry.originTopic else { throw RedriveError(description: "entry \(entry.id) has no \(DeadLetterHeaders.originTopic) header") }
        let value = replacement ?? entry.record.value
        if !force {
            do {
                _ = try EventContracts.published.decode(value)
            } catch {
                throw RedriveError(description: "entry \(entry.id) is still not a valid event (\(error)); fix it with --value-file or pass --force")
            }
        }
        let headers = entry.record.headers.filter { !$0.key.hasPrefix("dlq-") }
        let (partition, offset) = try await producer.send(topic: origin, key: entry.record.key, value: value, headers: headers)
        return (origin, partition, offset)
    }

    final class Found: @unchecked Sendable {
        private let lock = NSLock()
        private var value: DeadLetterEntry?
        func set(_ entry: DeadLetterEntry) { lock.withLock { value = entry } }
        var entry: DeadLetterEntry? { lock.withLock { value } }
    }
}
