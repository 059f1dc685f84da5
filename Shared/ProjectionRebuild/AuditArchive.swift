import EventBus
public import Events
import Foundation
public import Kafka
public import LogTools
public import Postgres
public import ReadModels

/// The gateway's `audit_log` as the log's archive (deploy/README.md "Keeping history"): every
/// event the gateway applied, byte for byte, at its topic, partition and offset. History reads
/// (`events export`, `trace`, time travel, rebuilds) take records below a partition's log start
/// from here, and the development broker restores its topics from it at start.
public struct AuditArchive: LogArchive {
    public let queries: AuditQueries
    /// Rows per query while reading.
    public var pageSize = 5000

    public init(pool: PostgresPool, schema: String = ReadModels.gateway.liveSchema) {
        self.queries = AuditQueries(pool: pool, schema: schema)
    }

    public func completeThrough(topic: String) async throws -> [Int32: Int64] {
        try await queries.completeThrough(topic: topic)
    }

    public func records(topic: String, partition: Int32, in range: Range<Int64>, _ handle: ([KafkaRecord]) async throws -> Void) async throws {
        var next = range.lowerBound
        while next < range.upperBound {
            let page = try await queries.archived(topic: topic, partition: partition, from: next, to: range.upperBound, limit: pageSize)
            guard let last = page.last else { return }
            try await handle(page.map { Self.record($0, topic: topic, partition: partition) })
            next = last.offset + 1
        }
    }

    /// The record as our producers wrote it: keyed by conversation id, with the event headers
    /// (`EventPublisher.headers`), stamped with the event's time.
    static func record(_ archived: AuditQueries.ArchivedRecord, topic: String, partition: Int32) -> KafkaRecord {
        let value = Array(archived.envelope.utf8)
        let headers = (try? EventCodec.decode(value)).map(EventPublisher.headers(for:)) ?? []
        return KafkaRecord(topic: topic, partition: partition, offset: archived.offset, key: Array(archived.conversationID.utf8),
                           value: value, headers: headers, timestampMs: archived.occurredAtMillis)
    }
}
