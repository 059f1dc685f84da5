internal import CRdKafka
import Logging

/// Reads fixed offset ranges of one topic's partitions, in batches, without a consumer group:
/// the history reader behind exports, rebuilds and time travel.
///
/// Unlike `KafkaConsumer.run`, which hands records out one at a time so that offsets move only
/// past finished work, a history read has nothing to commit and wants throughput: the client
/// thread polls up to `maxBatch` records per hop, and the next batch is polled while the handler
/// works on the current one (one batch of read-ahead).
///
/// A partition is done when a record at or past its range end arrives, or when the consumer
/// reaches the partition's end (partition EOF) at or past the range end; records outside the
/// ranges are dropped. A read that makes no progress for `stallTimeout` (brokers unreachable)
/// fails with `.timedOut` rather than hanging.
public final class KafkaLogReader: Sendable {
    private let handle: HandleSlot
    private let thread: ClientThread
    private let logger: Logger
    private let topic: String
    private let ranges: [Int32: Range<Int64>]

    public init(config: KafkaConfig, topic: String, ranges: [Int32: Range<Int64>], logger: Logger) throws {
        let reserved: Set<String> = ["group.id", "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof"]
        if let conflict = config.extra.keys.first(where: reserved.contains) {
            throw KafkaError(code: .invalidConfiguration, message: "\(conflict) cannot be overridden for a log reader")
        }
        var properties: [(String, String)] = [
            ("bootstrap.servers", config.bootstrapServers),
            ("client.id", config.clientID),
            ("socket.nagle.disable", "true"),
            ("fetch.wait.max.ms", String(config.fetchWaitMaxMs)),
            // The consumer API needs a group id even for manual assignment; this one never joins.
            ("group.id", "\(config.clientID).read.\(UInt64.random(in: 0...UInt64.max))"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
        ]
        properties += config.extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let context = ClientContext(logger: logger)
        let rdHandle = try RdKafkaHandle(kind: .consumer, properties: properties, context: context)
        self.handle = HandleSlot(rdHandle)
        // No interrupt hook: polls wait at most 100 ms anyway, and without one no other thread
        // can end up holding (and so destroying) the handle.
        self.thread = ClientThread(name: "kafka-reader")
        self.logger = logger
        self.topic = topic
        self.ranges = ranges.filter { !$0.value.isEmpty }
    }

    deinit {
        close()
    }

    /// Calls `handle` with batches of records in each partition's offset order (partitions
    /// interleave) until every range is read, then closes the reader. One read per reader.
    public func read(
        maxBatch: Int = 2000, stallTimeout: Duration = .seconds(60),
        _ handler: @Sendable ([KafkaRecord]) async throws -> Void
    ) async throws {
        defer { close() }
        guard !ranges.isEmpty else { return }
        let state = ReadState(ranges: ranges)
        let (handle, topic, logger) = (self.handle, self.topic, self.logger)
        try await thread.submit("assign", interrupting: false) {
            guard let rdHandle = handle.current else { throw KafkaError.closed("assign") }
            try assign(rdHandle, topic: topic, ranges: state.starts)
        }
        let poll: @Sendable () async throws -> ReadState.Batch = { [thread] in
            try await thread.submit("read", interrupting: false) {
                guard let rdHandle = handle.current else { throw KafkaError.closed("read") }
                return try state.pollBatch(rdHandle, topic: topic, max: maxBatch, logger: logger)
            }
        }
        var next = Task { try await poll() }
        var lastProgress = ContinuousClock.now
        while true {
            let batch = try await next.value
            if !batch.done { next = Task { try await poll() } }
            if batch.records.isEmpty {
                if batch.done { return }
                if ContinuousClock.now - lastProgress > stallTimeout {
                    _ = try? await next.value
                    throw KafkaError(code: .timedOut, message: "log read of \(topic) made no progress for \(stallTimeout)")
                }
                if Task.isCancelled {
                    _ = try? await next.value
                    throw CancellationError()
                }
                continue
            }
            lastProgress = .now
            do {
                try await handler(batch.records)
            } catch {
                if !batch.done { _ = try? await next.value }
                throw error
            }
            if batch.done { return }
        }
    }

    /// Closes and destroys the handle on the client thread (`rd_kafka_destroy` blocks), then
    /// stops the thread from itself. Idempotent.
    private func close() {
        let (handle, thread) = (self.handle, self.thread)
        thread.enqueue(interrupting: false) {
            if let rdHandle = handle.take() {
                rdHandle.withPointer { rk in _ = rd_kafka_consumer_close(rk) }
            }
            thread.stop()
        }
    }
}

/// Where each partition's read stands. Touched only on the reader's client thread.
private final class ReadState: @unchecked Sendable {
    struct Batch: Sendable {
        var records: [KafkaRecord]
        var done: Bool
    }

    let ranges: [Int32: Range<Int64>]
    private var open: Set<Int32>

    init(ranges: [Int32: Range<Int64>]) {
        self.ranges = ranges
        self.open = Set(ranges.keys)
    }

    var starts: [Int32: Int64] { ranges.mapValues(\.lowerBound) }

    /// Up to `max` in-range records; waits up to 100 ms for the first so the caller can check
    /// for cancellation and stalls between polls.
    func pollBatch(_ rdHandle: RdKafkaHandle, topic: String, max: Int, logger: Logger) throws -> Batch {
        var records: [KafkaRecord] = []
        records.reserveCapacity(max)
        var timeoutMs: Int32 = 100
        var finished: [TopicPartition] = []
        defer {
            if !finished.isEmpty {
                rdHandle.withPointer { rk in pausePartitions(rk, true, finished, logger: logger) }
            }
        }
        while records.count < max, !open.isEmpty {
            let polled: Bool = try rdHandle.withPointer { rk in
                guard let message = rd_kafka_consumer_poll(rk, timeoutMs) else { return false }
                defer { rd_kafka_message_destroy(message) }
                let partition = message.pointee.partition
                let offset = message.pointee.offset
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    // `offset` is the partition's end: done if the range ends there or before.
                    if let range = ranges[partition], offset >= range.upperBound, open.remove(partition) != nil {
                        finished.append(TopicPartition(topic: topic, partition: partition))
                    }
                    return true
                }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if let fatal = rdHandle.fatalError(operation: "read") { throw fatal }
                    let error = KafkaError(rdKafka: err, operation: "read")
                    if error.code == .authorization || error.code == .authentication || error.code == .unknownTopicOrPartition {
                        throw error
                    }
                    logger.debug("kafka reader event", metadata: ["kafka.error": "\(error)"])
                    return true
                }
                guard let range = ranges[partition], open.contains(partition) else { return true }
                if range.contains(offset) { records.append(makeRecord(message)) }
                if offset + 1 >= range.upperBound {
                    open.remove(partition)
                    finished.append(TopicPartition(topic: topic, partition: partition))
                }
                return true
            }
            if !polled { break }
            timeoutMs = 0  // take what is already queued, do not wait for more
        }
        return Batch(records: records, done: open.isEmpty)
    }
}

/// Assigns `topic`'s partitions at the given start offsets.
private func assign(_ rdHandle: RdKafkaHandle, topic: String, ranges starts: [Int32: Int64]) throws {
    try rdHandle.withPointer { rk in
        guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: starts.count)) else {
            throw KafkaError(code: .other, message: "assign: allocation failed")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, offset) in starts.sorted(by: { $0.key < $1.key }) {
            rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = offset
        }
        let err = rd_kafka_assign(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(rdKafka: err, operation: "assign") }
    }
}
