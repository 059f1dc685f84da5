internal import CRdKafka
import Logging
import Synchronization

/// A consumer whose handler sees one record at a time, in partition order, and whose offsets only
/// move past records the handler finished (at-least-once).
///
/// Polling runs on a dedicated thread; the handler runs on the caller's task. There is no next poll
/// before the handler returned, which is the back-pressure, and also why rebalances happen between
/// records: a slow handler delays the whole group's rebalance (up to `max.poll.interval.ms`, after
/// which this member is removed from the group).
///
/// `extra` must not set `group.id` or `enable.auto.offset.store` (nor `enable.auto.commit` for
/// subscriptions that never commit); the offset guarantees depend on them.
public final class KafkaConsumer: Sendable {
    private let core: ConsumerCore

    /// Identifies the consumer whose handler is running, so `close()` from inside it does not wait
    /// for itself.
    @TaskLocal private static var handlerOf: ObjectIdentifier?

    public init(config: KafkaConfig, subscription: ConsumerSubscription, logger: Logger) throws {
        var properties: [(String, String)] = [
            ("bootstrap.servers", config.bootstrapServers),
            ("client.id", config.clientID),
            ("socket.nagle.disable", "true"),
            ("fetch.wait.max.ms", String(config.fetchWaitMaxMs)),
            ("enable.auto.offset.store", "false"),
        ]
        var reserved: Set<String> = ["group.id", "enable.auto.offset.store"]
        let mode: RebalanceHandler.Mode?
        let topics: [String]
        let startAt: StartPosition
        switch subscription {
        case .group(let id, let groupTopics, let start):
            properties += [("group.id", id), ("enable.auto.commit", "true")]
            mode = .group
            (topics, startAt) = (groupTopics, start)
        case .groupWithExternalOffsets(let id, let groupTopics, let start, let startOffsets):
            properties += [("group.id", id), ("enable.auto.commit", "false")]
            reserved.insert("enable.auto.commit")
            mode = .external(startAt: start, startOffsets: startOffsets)
            (topics, startAt) = (groupTopics, start)
        case .allPartitions(let tailTopics, let start):
            // librdkafka's consumer API needs a group id even for manual assignment; this one never
            // joins (no subscribe) and never commits.
            let groupID = "\(config.clientID).assign.\(UInt64.random(in: 0...UInt64.max))"
            properties += [("group.id", groupID), ("enable.auto.commit", "false")]
            reserved.insert("enable.auto.commit")
            mode = nil
            (topics, startAt) = (tailTopics, start)
        }
        properties.append(("auto.offset.reset", startAt == .earliest ? "earliest" : "latest"))
        if let conflict = config.extra.keys.first(where: reserved.contains) {
            throw KafkaError(code: .invalidConfiguration, message: "\(conflict) cannot be overridden for this consumer")
        }
        guard !topics.isEmpty else {
            throw KafkaError(code: .invalidArgument, message: "consumer needs at least one topic")
        }
        properties += config.extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }

        let context = ClientContext(logger: logger, rebalance: mode.map(RebalanceHandler.init(mode:)))
        let handle = try RdKafkaHandle(kind: .consumer, properties: properties, context: context)
        if mode != nil {
            // Non-blocking: the group join happens on librdkafka's threads and in our polls.
            try handle.withPointer { rk in
                guard let list = rd_kafka_topic_partition_list_new(Int32(topics.count)) else {
                    throw KafkaError(code: .other, message: "subscribe: allocation failed")
                }
                defer { rd_kafka_topic_partition_list_destroy(list) }
                for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
                let err = rd_kafka_subscribe(rk, list)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(rdKafka: err, operation: "subscribe") }
            }
        }
        self.core = ConsumerCore(handle: handle, storesOffsets: { if case .group = mode { true } else { false } }())
        if mode == nil {
            // Resolve partitions and start offsets on the client thread; polls and `assignment()`
            // queue behind it.
            let core = self.core
            core.thread.enqueue(interrupting: false) { core.assignAllPartitions(topics: topics, startAt: startAt) }
        }
    }

    deinit {
        // Not closed explicitly: leave the group and destroy on the client thread without
        // blocking the releasing thread. (`run` holds `self`, so it is not running.)
        let core = self.core
        core.thread.enqueue {
            core.shutdown()
            core.thread.stop()
        }
        core.thread.stop()
    }

    /// Hands each record to `handler`, one at a time; stores its offset after the handler returned.
    ///
    /// Returns when the task is cancelled or `close()` is called (after the current handler call
    /// finished). If the handler throws, stops without storing that record's offset and rethrows:
    /// the record is redelivered after a restart (call `close()` so the group moves on). Also throws
    /// fatal client errors and failures of `startOffsets`. One `run` at a time per consumer.
    public func run(_ handler: @Sendable (KafkaRecord) async throws -> Void) async throws {
        let core = self.core
        switch core.beginRun() {
        case .started: break
        case .closed: return
        case .alreadyRunning:
            throw KafkaError(code: .invalidArgument, message: "run: this consumer is already running")
        }
        defer { core.endRun() }

        try await withTaskCancellationHandler {
            var pendingStore: PendingStore?
            while true {
                if Task.isCancelled || core.isClosing {
                    if let last = pendingStore {
                        _ = try? await core.thread.submit("store", interrupting: false) { core.store(last) }
                    }
                    return
                }
                let toStore = pendingStore
                let outcome: PollOutcome
                do {
                    outcome = try await core.thread.submit("poll", interrupting: false) { core.poll(storing: toStore) }
                } catch let error as KafkaError where error.code == .closed {
                    return
                }
                pendingStore = nil
                switch outcome {
                case .record(let record):
                    try await KafkaConsumer.$handlerOf.withValue(ObjectIdentifier(self)) {
                        try await handler(record)
                    }
                    if core.storesOffsets {
                        pendingStore = PendingStore(topic: record.topic, partition: record.partition, offset: record.offset + 1)
                    }
                case .nothing:
                    continue
                case .failed(let error as KafkaError) where error.code == .closed:
                    return
                case .failed(let error):
                    throw error
                }
            }
        } onCancel: {
            core.thread.interrupt()
        }
    }

    /// Waits for a running `run` to finish its current record, commits stored offsets, leaves the
    /// group (`rd_kafka_consumer_close`) and destroys the handle. Idempotent.
    public func close() async {
        let core = self.core
        core.beginClose()
        core.thread.interrupt()
        if KafkaConsumer.handlerOf != ObjectIdentifier(self) {
            await core.waitUntilRunExited()
        }
        _ = try? await core.thread.submit("close") {
            core.shutdown()
            core.thread.stop()
        }
        core.context.logger.debug("kafka consumer closed")
    }

    /// Current assignment (for tests and metrics). For `.allPartitions` it is available once the
    /// start offsets are resolved, and throws if that failed.
    public func assignment() async throws -> [TopicPartition] {
        let core = self.core
        return try await core.thread.submit("assignment") { try core.assignment() }
    }
}

struct PendingStore: Sendable {
    var topic: String
    var partition: Int32
    var offset: Int64
}

enum PollOutcome: Sendable {
    case record(KafkaRecord)
    case nothing
    case failed(any Error)
}

/// Everything the consumer's jobs need; no reference back to `KafkaConsumer`, so dropping the
/// consumer runs its `deinit`.
final class ConsumerCore: Sendable {
    enum RunStart { case started, closed, alreadyRunning }

    private struct RunState {
        var running = false
        var closing = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let handle: HandleSlot
    private let runState = Mutex(RunState())
    let thread: ClientThread
    let context: ClientContext
    let storesOffsets: Bool

    init(handle: RdKafkaHandle, storesOffsets: Bool) {
        self.handle = HandleSlot(handle)
        self.context = handle.context
        self.storesOffsets = storesOffsets
        self.thread = ClientThread(name: "kafka-consumer", interrupt: { [weak handle] in handle?.interruptPoll() })
    }

    // MARK: Run state (any thread)

    func beginRun() -> RunStart {
        runState.withLock { state in
            if state.closing { return .closed }
            if state.running { return .alreadyRunning }
            state.running = true
            return .started
        }
    }

    func endRun() {
        let waiters = runState.withLock { state in
            state.running = false
            let waiters = state.exitWaiters
            state.exitWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func beginClose() { runState.withLock { $0.closing = true } }

    var isClosing: Bool { runState.withLock { $0.closing } }

    func waitUntilRunExited() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = runState.withLock { state -> Bool in
                guard state.running else { return true }
                state.exitWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: Client-thread jobs

    private var currentHandle: RdKafkaHandle? { handle.current }

    /// Stores the previous record's offset, then polls once (serving rebalances in between).
    func poll(storing pending: PendingStore?) -> PollOutcome {
        guard let rdHandle = currentHandle else { return .failed(KafkaError.closed("poll")) }
        if let pending { store(pending, on: rdHandle) }
        if let failure = context.currentFailure { return .failed(failure) }

        return rdHandle.withPointer { rk -> PollOutcome in
            // Long timeout: `interrupt()` (rd_kafka_queue_yield) ends it early for close/cancel.
            guard let message = rd_kafka_consumer_poll(rk, 1000) else {
                if let failure = context.currentFailure { return .failed(failure) }
                return .nothing
            }
            defer { rd_kafka_message_destroy(message) }
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                return .record(makeRecord(message))
            }
            if let fatal = rdHandle.fatalError(operation: "consume") {
                context.recordFailure(fatal)
                return .failed(fatal)
            }
            let error = KafkaError(rdKafka: err, operation: "consume")
            if error.code == .authorization || error.code == .authentication {
                return .failed(error)
            }
            // Partition EOF, unknown topic (may be created later), transport errors: librdkafka
            // retries; keep polling.
            context.logger.debug(
                "kafka consumer event",
                metadata: [
                    "kafka.error": "\(String(cString: rd_kafka_err2name(err)))",
                    "kafka.topic": "\(message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "")",
                    "kafka.partition": "\(message.pointee.partition)",
                ]
            )
            return .nothing
        }
    }

    func store(_ pending: PendingStore) {
        guard let rdHandle = currentHandle else { return }
        store(pending, on: rdHandle)
    }

    private func store(_ pending: PendingStore, on rdHandle: RdKafkaHandle) {
        rdHandle.withPointer { rk in
            guard let list = rd_kafka_topic_partition_list_new(1) else { return }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let element = rd_kafka_topic_partition_list_add(list, pending.topic, pending.partition)
            element?.pointee.offset = pending.offset
            let err = rd_kafka_offsets_store(rk, list)
            let partitionErr = element?.pointee.err ?? RD_KAFKA_RESP_ERR_NO_ERROR
            if err != RD_KAFKA_RESP_ERR_NO_ERROR || partitionErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                // Typically _STATE: the partition was revoked meanwhile; its new owner redelivers.
                context.logger.debug(
                    "kafka offset not stored",
                    metadata: [
                        "kafka.topic": "\(pending.topic)", "kafka.partition": "\(pending.partition)",
                        "kafka.error": "\(String(cString: rd_kafka_err2name(partitionErr != RD_KAFKA_RESP_ERR_NO_ERROR ? partitionErr : err)))",
                    ]
                )
            }
        }
    }

    func assignment() throws -> [TopicPartition] {
        guard let rdHandle = currentHandle else { throw KafkaError.closed("assignment") }
        if let failure = context.currentFailure { throw failure }
        return try rdHandle.withPointer { rk in
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            let err = rd_kafka_assignment(rk, &list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
                throw KafkaError(rdKafka: err, operation: "assignment")
            }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            return topicPartitionList(list)
        }
    }

    /// `.allPartitions`: assigns every partition from metadata, `.latest` pinned to the current
    /// high watermark so that "after start" is well defined.
    func assignAllPartitions(topics: [String], startAt: StartPosition) {
        guard let rdHandle = currentHandle else { return }
        do {
            var partitions: [TopicPartition] = []
            for topic in topics {
                partitions += try rdHandle.partitions(of: topic, timeoutMs: 10_000).map { TopicPartition(topic: topic, partition: $0) }
            }
            let assignment: [(TopicPartition, Int64)]
            switch startAt {
            case .earliest:
                assignment = partitions.map { ($0, Int64(RD_KAFKA_OFFSET_BEGINNING)) }
            case .latest:
                let high = try rdHandle.highWatermarks(partitions, timeoutMs: 10_000)
                assignment = try partitions.map { tp in
                    guard let offset = high[tp] else {
                        throw KafkaError(code: .other, message: "no high watermark for \(tp)")
                    }
                    return (tp, offset)
                }
            }
            try rdHandle.withPointer { rk in
                guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: assignment.count)) else {
                    throw KafkaError(code: .other, message: "assign: allocation failed")
                }
                defer { rd_kafka_topic_partition_list_destroy(list) }
                for (tp, offset) in assignment {
                    rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)?.pointee.offset = offset
                }
                let err = rd_kafka_assign(rk, list)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(rdKafka: err, operation: "assign") }
            }
            context.logger.info("kafka partitions assigned", metadata: ["kafka.partitions": "\(assignment.count)"])
        } catch {
            context.logger.info("kafka assignment failed", metadata: ["kafka.error": "\(error)"])
            context.recordFailure(error)
        }
    }

    /// Takes the handle out, closes the consumer (final revoke + commit, LeaveGroup) and drops the
    /// last reference here, so `rd_kafka_destroy` runs on the client thread.
    func shutdown() {
        guard let rdHandle = handle.take() else { return }
        rdHandle.withPointer { rk in
            let err = rd_kafka_consumer_close(rk)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger.info("kafka consumer close", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            }
        }
    }
}

/// Copies a message out of librdkafka's buffers.
private func makeRecord(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaRecord {
    let m = message.pointee
    let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
    let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []

    var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
    let timestamp = rd_kafka_message_timestamp(message, &timestampType)

    var headers: [KafkaHeader] = []
    var list: OpaquePointer?
    if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
        var index = 0
        var name: UnsafePointer<CChar>?
        var headerValue: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(list, index, &name, &headerValue, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            headers.append(
                KafkaHeader(
                    key: name.map { String(cString: $0) } ?? "",
                    value: headerValue.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                )
            )
            index += 1
        }
    }
    return KafkaRecord(
        topic: topic, partition: m.partition, offset: m.offset, key: key, value: value, headers: headers,
        timestampMs: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0 ? nil : timestamp
    )
}
