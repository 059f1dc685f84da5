import EventBus
import Foundation
public import Kafka
import LogTools
public import Logging
public import Postgres
import Projections
import ReadModels

/// Refills a fresh development broker from the archive at start (`switchboard broker
/// --archive-database-url`), so `make up` keeps its conversations across restarts and past the
/// dev broker's 5 MiB per partition.
///
/// Every archived record goes back to its original partition and offset: records are written
/// in offset order, one partition at a time per task, and a placeholder
/// (`EventHeaders.logGapType`) stands where the archive has nothing (a record that was not an
/// event, or one the gateway had not archived when the broker stopped). Each topic is then
/// padded up to the highest offset any consumer stored in this database, so that no new record
/// lands at an offset a consumer believes it has handled. Each write's offset is checked.
public struct BrokerRestore: Sendable {
    public let pool: PostgresPool
    public let archive: AuditArchive
    /// The topic the archive holds (the conversation log).
    public let archivedTopic: String
    public let logger: Logger

    public init(pool: PostgresPool, archivedTopic: String, logger: Logger) {
        self.pool = pool
        self.archive = AuditArchive(pool: pool)
        self.archivedTopic = archivedTopic
        self.logger = logger
    }

    /// Where each partition of each topic must end (exclusive) after the restore.
    public struct Plan: Sendable, Equatable {
        public var ends: [String: [Int32: Int64]]
        public var isEmpty: Bool { ends.values.allSatisfy { $0.values.allSatisfy { $0 == 0 } } }
        /// The partitions `topic` needs at least: one past the highest with history.
        public func partitionsNeeded(_ topic: String) -> Int {
            (ends[topic]?.filter { $0.value > 0 }.keys.max()).map { Int($0) + 1 } ?? 0
        }
    }

    /// What this database holds: the archive's extent and every consumer's stored offsets.
    public func plan() async throws -> Plan {
        let stored = try await pool.withConnection { try ProjectionStore.highestStoredOffsets(in: $0) }
        let archived = try await archive.completeThrough(topic: archivedTopic)
        var ends: [String: [Int32: Int64]] = [:]
        for (tp, offset) in stored where offset > 0 { ends[tp.topic, default: [:]][tp.partition] = offset }
        for (partition, offset) in archived where offset > 0 {
            ends[archivedTopic, default: [:]][partition] = max(ends[archivedTopic]?[partition] ?? 0, offset)
        }
        return Plan(ends: ends)
    }

    public struct Summary: Sendable, Equatable {
        /// Archived records written back.
        public var restored = 0
        /// Placeholders written where the archive has nothing.
        public var placeholders = 0
    }

    public struct OffsetMismatch: Error, CustomStringConvertible {
        public var topic: String
        public var partition: Int32
        public var expected: Int64
        public var got: Int64
        public var description: String {
            "restoring \(topic)/\(partition): the broker stored a record at offset \(got), expected \(expected) (was the topic empty?)"
        }
    }

    /// Writes the plan through `producer` into a broker whose topics exist and are empty.
    public func restore(_ plan: Plan, producer: KafkaProducer) async throws -> Summary {
        try await withThrowingTaskGroup(of: Summary.self) { group in
            for (topic, partitions) in plan.ends {
                for (partition, end) in partitions where end > 0 {
                    group.addTask { try await restore(topic: topic, partition: partition, end: end, producer: producer) }
                }
            }
            var total = Summary()
            for try await part in group {
                total.restored += part.restored
                total.placeholders += part.placeholders
            }
            return total
        }
    }

    func restore(topic: String, partition: Int32, end: Int64, producer: KafkaProducer) async throws -> Summary {
        let writer = PartitionWriter(topic: topic, partition: partition, producer: producer)
        if topic == archivedTopic {
            try await archive.records(topic: topic, partition: partition, in: 0..<end) { records in
                for record in records {
                    try await writer.pad(to: record.offset)
                    try await writer.write(record)
                }
            }
        }
        try await writer.pad(to: end)
        return writer.summary
    }

    /// One partition's writes, in order. Touched by one task only.
    final class PartitionWriter: @unchecked Sendable {
        let topic: String
        let partition: Int32
        let producer: KafkaProducer
        var next: Int64 = 0
        var summary = Summary()

        init(topic: String, partition: Int32, producer: KafkaProducer) {
            self.topic = topic
            self.partition = partition
            self.producer = producer
        }

        func write(_ record: KafkaRecord) async throws {
            try await put(key: record.key, value: record.value, headers: record.headers, timestampMs: record.timestampMs)
            summary.restored += 1
        }

        func pad(to offset: Int64) async throws {
            while next < offset {
                try await put(key: nil, value: [], headers: [KafkaHeader(key: EventHeaders.type, value: Array(EventHeaders.logGapType.utf8))], timestampMs: nil)
                summary.placeholders += 1
            }
        }

        private func put(key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], timestampMs: Int64?) async throws {
            let (_, offset) = try await producer.send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestampMs: timestampMs)
            guard offset == next else { throw OffsetMismatch(topic: topic, partition: partition, expected: next, got: offset) }
            next += 1
        }
    }
}
