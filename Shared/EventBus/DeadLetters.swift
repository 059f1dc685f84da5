import Foundation
public import Kafka
import Logging

/// Header names on dead-letter records. The value and key are the original record's bytes, so
/// a fixed record can be sent back unchanged (`switchboard dlq redrive`).
public enum DeadLetterHeaders {
    public static let originTopic = "dlq-origin-topic"
    public static let originPartition = "dlq-origin-partition"
    public static let originOffset = "dlq-origin-offset"
    public static let error = "dlq-error"
    public static let consumerGroup = "dlq-consumer-group"
    public static let failedAt = "dlq-failed-at"
}

/// Sends records a consumer cannot handle to the dead-letter topic, with where they came from
/// and why, so consumption continues and nothing is silently dropped.
public struct DeadLetterPublisher: Sendable {
    public let producer: KafkaProducer
    public let topic: String
    public let consumerGroup: String

    public init(producer: KafkaProducer, topic: String, consumerGroup: String) {
        self.producer = producer
        self.topic = topic
        self.consumerGroup = consumerGroup
    }

    public func send(_ record: KafkaRecord, error: String, logger: Logger) async throws {
        logger.warning("dead-lettering record", metadata: [
            "kafka.topic": "\(record.topic)", "kafka.partition": "\(record.partition)",
            "kafka.offset": "\(record.offset)", "error": "\(error)",
        ])
        var headers = record.headers.filter { !$0.key.hasPrefix("dlq-") }
        headers.append(contentsOf: [
            KafkaHeader(key: DeadLetterHeaders.originTopic, value: Array(record.topic.utf8)),
            KafkaHeader(key: DeadLetterHeaders.originPartition, value: Array(String(record.partition).utf8)),
            KafkaHeader(key: DeadLetterHeaders.originOffset, value: Array(String(record.offset).utf8)),
            // Bounded: an error text never makes the record too large for the broker.
            KafkaHeader(key: DeadLetterHeaders.error, value: Array(String(error.prefix(2000)).utf8)),
            KafkaHeader(key: DeadLetterHeaders.consumerGroup, value: Array(consumerGroup.utf8)),
            KafkaHeader(key: DeadLetterHeaders.failedAt, value: Array(String(Int64(Date().timeIntervalSince1970 * 1000)).utf8)),
        ])
        _ = try await producer.send(topic: topic, key: record.key, value: record.value, headers: headers)
    }
}
