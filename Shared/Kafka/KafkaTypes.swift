/// Connection settings shared by producer, consumer and admin clients.
///
/// The wrapper sets the properties its guarantees depend on; `extra` is applied last so any
/// librdkafka property can be tuned per environment (a few that the consumer's offset handling
/// relies on are rejected, see `KafkaConsumer`).
public struct KafkaConfig: Sendable {
    /// Comma-separated `host:port` list.
    public var bootstrapServers: String
    public var clientID: String
    /// `fetch.wait.max.ms` for consumers. The mock cluster holds an empty fetch for this whole time
    /// even when data arrives, so it is the per-hop latency there: keep it small (1–5 ms) on the
    /// development broker and larger (e.g. 100 ms) on real Kafka, which answers as soon as data arrives.
    public var fetchWaitMaxMs: Int
    /// Any librdkafka property (`session.timeout.ms`, `security.protocol`, …), applied last.
    public var extra: [String: String]

    public init(bootstrapServers: String, clientID: String, fetchWaitMaxMs: Int = 5, extra: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.fetchWaitMaxMs = fetchWaitMaxMs
        self.extra = extra
    }

    /// Group settings that make rebalances take seconds instead of a minute on the mock cluster.
    ///
    /// The 2.0.2 mock coordinator waits `session.timeout.ms - 1000` for members to rejoin and 3 s for
    /// the first join (so the session timeout must stay above ~3.5 s); members only notice a
    /// rebalance at their next heartbeat. Real brokers need no such tuning.
    public static let mockClusterGroupSettings: [String: String] = [
        "session.timeout.ms": "4000",
        "heartbeat.interval.ms": "200",
    ]
}

/// A record header. Kafka allows repeated keys and null values; order is preserved.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// One consumed record, copied out of librdkafka's buffers.
public struct KafkaRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    /// A null (tombstone) value is delivered as an empty array.
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// Create or log-append time in ms since the epoch, when the broker provides one.
    public var timestampMs: Int64?
    /// The poll's `RecordFilter` did not want this record: only its position (topic, partition,
    /// offset) is set, so that offsets still move past it; key, value and headers are empty.
    public var isFilteredOut = false

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8],
        headers: [KafkaHeader], timestampMs: Int64?
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }

    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
}

/// Which records a batch poll copies out of librdkafka, decided from the topic and one header
/// without copying anything else. A process that reads a whole log but acts on a few event
/// types (every service of the conversation log) then pays for the rest only their position.
public struct RecordFilter: Sendable {
    /// The header whose value `keep` is given (nil when the record lacks it).
    public var header: String
    public var keep: @Sendable (_ topic: String, _ headerValue: String?) -> Bool

    public init(header: String, keep: @escaping @Sendable (_ topic: String, _ headerValue: String?) -> Bool) {
        self.header = header
        self.keep = keep
    }
}

public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)/\(partition)" }
}

/// Where a partition without a committed (or externally supplied) offset starts.
public enum StartPosition: Sendable {
    case earliest
    case latest
}

/// How a `KafkaConsumer` gets its partitions and start offsets.
public enum ConsumerSubscription: Sendable {
    /// Consumer group. An offset is stored (`rd_kafka_offsets_store`, with
    /// `enable.auto.offset.store=false`) only after the handler returned for that record; stored
    /// offsets are committed by auto-commit and synchronously on revoke and close.
    case group(id: String, topics: [String], startAt: StartPosition = .earliest)
    /// Consumer group whose start offsets come from the caller (e.g. a Postgres projection storing
    /// offsets in its own transaction). `startOffsets` runs synchronously on the consumer's poll
    /// thread at each assignment and returns the offset of the next record to read (last processed
    /// + 1); partitions absent from the result start at `startAt`. Nothing is committed to the broker.
    /// If it throws, the consumer takes no partitions and `run` rethrows the error.
    case groupWithExternalOffsets(
        id: String, topics: [String], startAt: StartPosition,
        startOffsets: @Sendable ([TopicPartition]) throws -> [TopicPartition: Int64]
    )
    /// No group: every partition of the topics (from metadata at start), from beginning or end.
    /// For per-instance tails (e.g. a gateway replica waiting for replies) and analyst reads.
    /// `.latest` is resolved to the high watermarks before `assignment()` first returns, so records
    /// produced after that are seen. Partitions added later are not picked up.
    case allPartitions(topics: [String], startAt: StartPosition)
}
