import EventBus
public import Events
public import Kafka
public import Logging

/// The broker no longer holds the start of a partition (retention, or the dev broker's
/// 5 MiB / 100k-batch cap): a history read from it would be silently partial, so it is refused.
public struct TruncatedLogError: Error, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var logStartOffset: Int64
    public var requestedOffset: Int64
    public var description: String {
        "\(topic)/\(partition) starts at offset \(logStartOffset) but offset \(requestedOffset) was requested: the log is truncated there, refusing to produce a partial result"
    }
}

/// What a scan saw: how many records, how many matched, how many were not events at all.
public struct ScanSummary: Sendable, Equatable {
    public var records = 0
    public var matched = 0
    public var notEvents = 0
    /// Placeholders the development broker wrote where the archive held no record (`EventHeaders.logGapType`).
    public var gaps = 0
    public init(records: Int = 0, matched: Int = 0, notEvents: Int = 0, gaps: Int = 0) {
        self.records = records
        self.matched = matched
        self.notEvents = notEvents
        self.gaps = gaps
    }
}

/// Reads a topic's events without a consumer group and without holding more than one record:
/// either everything up to the end as it was when the scan started (export), or everything from
/// the end on until cancelled (tail).
///
/// With an `archive`, a history read that starts below a partition's log start reads that part
/// from the archive, then the rest from the broker; without one (or when the archive does not
/// reach the broker's log start) it is refused rather than silently partial.
public struct LogScanner: Sendable {
    public let kafka: KafkaConfig
    public let topic: String
    public let archive: (any LogArchive)?
    public let logger: Logger

    public init(kafka: KafkaConfig, topic: String, archive: (any LogArchive)? = nil, logger: Logger) {
        self.kafka = kafka
        self.topic = topic
        self.archive = archive
        self.logger = logger
    }

    /// The history up to the high watermarks taken at the start. Throws `TruncatedLogError`
    /// when a partition no longer starts where the filter needs it to.
    public func export(_ filter: EventFilter, _ emit: @escaping @Sendable (KafkaRecord, EventEnvelope) throws -> Void) async throws -> ScanSummary {
        let state = ScanState()
        try await scanRecords(fromOffset: filter.fromOffset ?? 0, toOffset: filter.toOffset) { record in
            try state.handle(record, filter: filter, emit: emit)
        }
        return state.summary
    }

    /// Every record (event or not) from `fromOffset` in each partition up to the end as it was
    /// when the scan started (or `toOffset`), one at a time.
    public func scanRecords(fromOffset: Int64 = 0, toOffset: Int64? = nil, _ handle: @escaping @Sendable (KafkaRecord) async throws -> Void) async throws {
        _ = try await scan(from: { _ in fromOffset }, to: { _, high in toOffset.map { min($0, high) } ?? high }, handle)
    }

    /// Records in `[from(p), to(p, high))` of every partition p, where `high` is the partition's
    /// high watermark when the scan starts. Returns those high watermarks. Where a partition no
    /// longer holds `from(p)`, the records below its log start come from the archive; refuses
    /// (before reading anything) when there is no archive or it does not reach the log start.
    @discardableResult
    public func scan(
        from: @Sendable (Int32) -> Int64,
        to: @Sendable (Int32, Int64) -> Int64,
        _ handle: @escaping @Sendable (KafkaRecord) async throws -> Void
    ) async throws -> [Int32: Int64] {
        try await scanBatches(from: from, to: to) { records in
            for record in records { try await handle(record) }
        }
    }

    /// `scan`, handing records over in batches (each partition's in offset order).
    @discardableResult
    public func scanBatches(
        from: @Sendable (Int32) -> Int64,
        to: @Sendable (Int32, Int64) -> Int64,
        _ handle: @escaping @Sendable ([KafkaRecord]) async throws -> Void
    ) async throws -> [Int32: Int64] {
        let admin = try KafkaAdmin(config: kafka, logger: logger)
        var ranges: [Int32: Range<Int64>] = [:]
        var archived: [Int32: Range<Int64>] = [:]
        var highs: [Int32: Int64] = [:]
        do {
            let partitions = try await admin.partitionCount(topic: topic, timeout: .seconds(10))
            var archiveEnds: [Int32: Int64]?
            for partition in 0..<Int32(partitions) {
                let (low, high) = try await admin.watermarks(TopicPartition(topic: topic, partition: partition), timeout: .seconds(10))
                highs[partition] = high
                let wanted = max(from(partition), 0)
                let end = min(to(partition, high), high)
                guard end > wanted else { continue }
                guard low > wanted, let archive else {
                    try Self.checkNotTruncated(topic: topic, partition: partition, low: low, high: high, wanted: wanted)
                    ranges[partition] = wanted..<end
                    continue
                }
                // Below the log start: from the archive, which must reach up to it.
                if archiveEnds == nil { archiveEnds = try await archive.completeThrough(topic: topic) }
                let archiveEnd = archiveEnds?[partition] ?? 0
                guard archiveEnd >= min(low, end) else {
                    throw ArchiveGapError(topic: topic, partition: partition, archiveEnd: archiveEnd, logStartOffset: low)
                }
                archived[partition] = wanted..<min(low, end)
                if end > low { ranges[partition] = low..<end }
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        // Each partition's archived part comes before its broker part: offset order holds.
        if let archive {
            for (partition, range) in archived.sorted(by: { $0.key < $1.key }) {
                try await archive.records(topic: topic, partition: partition, in: range) { records in
                    if !records.isEmpty { try await handle(records) }
                }
            }
        }
        guard !ranges.isEmpty else { return highs }

        let reader = try KafkaLogReader(config: kafka, topic: topic, ranges: ranges, logger: logger)
        try await reader.read(handle)
        return highs
    }

    /// Refuses when records the read needs (from `wanted`) are gone from the partition.
    public static func checkNotTruncated(topic: String, partition: Int32, low: Int64, high: Int64, wanted: Int64) throws {
        if low > wanted, high > wanted {
            throw TruncatedLogError(topic: topic, partition: partition, logStartOffset: low, requestedOffset: wanted)
        }
    }

    /// Events appended from now on, until the task is cancelled.
    public func tail(_ filter: EventFilter, _ emit: @escaping @Sendable (KafkaRecord, EventEnvelope) throws -> Void) async throws {
        let consumer = try KafkaConsumer(config: kafka, subscription: .allPartitions(topics: [topic], startAt: .latest), logger: logger)
        let state = ScanState()
        do {
            try await consumer.run { record in try state.handle(record, filter: filter, emit: emit) }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }
}

/// Counts and filters of one scan. Touched only from the consumer's handler.
final class ScanState: @unchecked Sendable {
    private(set) var summary = ScanSummary()

    func handle(_ record: KafkaRecord, filter: EventFilter, emit: (KafkaRecord, EventEnvelope) throws -> Void) throws {
        summary.records += 1
        if record.header(EventHeaders.type) == EventHeaders.logGapType {
            summary.gaps += 1
            return
        }
        guard filter.mightMatch(record) else { return }
        guard let event = try? EventCodec.decode(record.value) else {
            summary.notEvents += 1
            return
        }
        guard filter.matches(event) else { return }
        summary.matched += 1
        try emit(record, event)
    }
}
