public import Kafka

/// A copy of a topic's history kept outside the broker, read where the broker no longer holds
/// the start of a partition (retention, or the dev broker's 5 MiB cap). The platform's archive
/// is the gateway's `audit_log` (`AuditArchive` in ReadModels): every event, byte for byte, by
/// topic, partition and offset.
public protocol LogArchive: Sendable {
    /// For each archived partition of `topic`, the offset up to which (exclusive) the archive is
    /// complete: every event below it is in the archive. An offset below it that is missing was
    /// not an event (a record the services dead-lettered, or a gap the dev broker padded after
    /// a restart lost it).
    func completeThrough(topic: String) async throws -> [Int32: Int64]

    /// The archived records of `topic`/`partition` in `range`, in offset order, in batches:
    /// keys, values and headers as the producers wrote them.
    func records(topic: String, partition: Int32, in range: Range<Int64>, _ handle: ([KafkaRecord]) async throws -> Void) async throws
}

/// The broker dropped the start of a partition and the archive does not reach up to where the
/// broker's log starts now: the records in between are on neither.
public struct ArchiveGapError: Error, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var archiveEnd: Int64
    public var logStartOffset: Int64
    public var description: String {
        "\(topic)/\(partition): the archive holds offsets below \(archiveEnd) but the broker's log starts at \(logStartOffset); offsets \(archiveEnd)..<\(logStartOffset) are on neither (the gateway was not archiving while the broker dropped them), refusing to produce a partial result"
    }
}
