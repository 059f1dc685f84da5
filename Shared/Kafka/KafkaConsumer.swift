internal import CRdKafka
import Logging
import Synchronization

/// A consumer whose handler sees each partition's records one at a time and in offset order, and
/// whose offsets only move past records the handler finished (at-least-once).
///
/// Polling runs on a dedicated thread; handlers run in child tasks of `run`. Only a bounded number
/// of records is taken out of librdkafka ahead of the handler (see `run`), which is the
/// back-pressure. While that bound is reached nothing is polled, so rebalances wait for handlers
/// to make room: a handler stuck for longer than `max.poll.interval.ms` gets this member removed
/// from the group.
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

        let flow = PartitionFlow()
        let context = ClientContext(logger: logger, rebalance: mode.map { RebalanceHandler(mode: $0, flow: flow) })
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
        self.core = ConsumerCore(handle: handle, flow: flow, storesOffsets: { if case .group = mode { true } else { false } }())
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

    /// Hands each record to `handler` and stores its offset after the handler returned.
    ///
    /// - Records of one partition are handled strictly in offset order, one at a time; records of
    ///   different partitions may be handled concurrently, at most `maxConcurrentPartitions`
    ///   handler calls at once. (A key maps to one partition, so one key's records never overlap.)
    /// - A record's offset is stored (`.group` only; committed by auto-commit, on revoke and on
    ///   close) only after its handler returned, and never past a record whose handler has not
    ///   finished or failed.
    /// - Bounded read-ahead: at most 4 × `maxConcurrentPartitions` records in total, and 4 per
    ///   partition, are buffered or in flight (exactly 1 when `maxConcurrentPartitions` is 1: poll,
    ///   handle, store, poll). At the total bound polling stops; a partition at its bound has its
    ///   fetcher paused until it drained to 2.
    /// - If the handler throws: no new records are handed out, the other in-flight handlers finish
    ///   (their offsets are stored), then the first error is rethrown; the failed record's offset
    ///   is not stored. Call `close()` so the group moves on; a new `run` on this consumer starts
    ///   again at the failed record.
    /// - Cancellation or `close()`: in-flight handlers finish and their offsets are stored, then
    ///   `run` returns. Buffered records that were not started are not stored; a later `run` (or
    ///   the partition's next owner) gets them again. Handlers run in child tasks, so they see the
    ///   cancellation; one that throws because of it counts as failed (see above).
    /// - Rebalance: a revoke drops the revoked partitions' buffered records and commits only what
    ///   was handled. A handler already running for a revoked partition finishes, but its offset
    ///   is not stored, so the new owner handles that record again (at-least-once; the revoke does
    ///   not wait for handlers). If the partition comes back to this consumer, its records wait for
    ///   that handler.
    ///
    /// Also throws fatal client errors and failures of `startOffsets` (after in-flight handlers
    /// finished). One `run` at a time per consumer.
    public func run(
        maxConcurrentPartitions: Int = 1, _ handler: @Sendable (KafkaRecord) async throws -> Void
    ) async throws {
        guard maxConcurrentPartitions >= 1 else {
            throw KafkaError(code: .invalidArgument, message: "run: maxConcurrentPartitions must be at least 1")
        }
        let core = self.core
        guard try core.startRun() else { return }
        defer { core.endRun() }
        let flow = core.flow
        flow.begin(FlowLimits(maxConcurrentPartitions: maxConcurrentPartitions))
        let id = ObjectIdentifier(self)

        try await withTaskCancellationHandler {
            // The handler tasks are children awaited before this returns, so the handler does not
            // really escape.
            await withoutActuallyEscaping(handler) { handler in
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<maxConcurrentPartitions {
                        group.addTask {
                            while let item = await flow.next() {
                                do {
                                    try await KafkaConsumer.$handlerOf.withValue(id) { try await handler(item.record) }
                                    if flow.complete(item, store: core.storeOffset) {
                                        core.thread.interrupt()  // cut the poll short so the resume is applied
                                    }
                                } catch {
                                    flow.fail(item, error: error)
                                    core.thread.interrupt()
                                }
                            }
                        }
                    }
                    await core.pump()
                    await group.waitForAll()
                }
            }
            // Poll thread: resume what this run paused and rewind what it took but did not handle.
            let finished: Void? = try? await core.thread.submit("finish", interrupting: false) { core.finishRun() }
            if finished == nil { _ = flow.finish() }  // closed meanwhile: just empty the buffers
            if let error = flow.firstError { throw error }
        } onCancel: {
            flow.stop()
            core.thread.interrupt()
        }
    }

    /// Hands `handler` what one poll returned — up to `maxRecords` records, of any partitions, each
    /// partition's in offset order — and stores each partition's offset past its last record
    /// after the handler returned (at-least-once). The next poll happens only then, so a batch
    /// is never handled concurrently with another, and rebalances (served inside polls) always
    /// find the previous batch finished and stored: a revoke commits exactly what was handled.
    ///
    /// This is the throughput mode: a caller that writes a whole batch in one database
    /// transaction pays one commit per poll instead of one per record. A poll waits up to a
    /// second for the first record, then takes only what librdkafka already fetched.
    ///
    /// - If the handler throws, nothing of the batch is stored, its partitions are rewound to
    ///   the batch's first records (a later run on this consumer starts there), and the error is
    ///   rethrown.
    /// - Cancellation or `close()`: the batch in hand finishes (the handler sees the
    ///   cancellation), then the run returns.
    /// - A revoke served by one of the polls that filled a batch drops the revoked partitions'
    ///   records taken before it; their next owner reads them again.
    /// - `idleBatches`: a poll that found nothing (after about a second) is handed over as an
    ///   empty batch, so the caller can finish deferred work while the log is quiet.
    public func runBatches(
        maxRecords: Int = 500, idleBatches: Bool = false, filter: RecordFilter? = nil, _ handler: @Sendable ([KafkaRecord]) async throws -> Void
    ) async throws {
        guard maxRecords >= 1 else {
            throw KafkaError(code: .invalidArgument, message: "runBatches: maxRecords must be at least 1")
        }
        let core = self.core
        guard try core.startRun() else { return }
        defer { core.endRun() }
        core.flow.begin(FlowLimits(maxConcurrentPartitions: 1))
        let id = ObjectIdentifier(self)
        try await withTaskCancellationHandler {
            while !Task.isCancelled, !core.isClosing {
                let outcome: BatchPoll
                do {
                    outcome = try await core.thread.submit("poll-batch", interrupting: false) { core.pollBatch(max: maxRecords, filter: filter) }
                } catch {
                    return  // `.closed`: the client thread stopped
                }
                let batch: [KafkaRecord]
                switch outcome {
                case .records(let records): batch = records
                case .failed(let error as KafkaError) where error.code == .closed: return
                case .failed(let error): throw error
                }
                guard !batch.isEmpty || (idleBatches && !Task.isCancelled) else { continue }
                do {
                    try await KafkaConsumer.$handlerOf.withValue(id) { try await handler(batch) }
                } catch {
                    _ = try? await core.thread.submit("rewind", interrupting: false) { core.rewind(batch) }
                    throw error
                }
                core.storeBatch(batch)
            }
        } onCancel: {
            core.flow.stop()
            core.thread.interrupt()
        }
    }

    /// Records taken from librdkafka by the current (or last) `run` and not yet handled; for
    /// metrics and tests.
    public struct FlowStatistics: Sendable {
        /// Polled, waiting for their partition's handler.
        public var buffered: Int
        /// Handler running.
        public var inFlight: Int
        /// Highest buffered + in-flight total since the run started.
        public var peakTotal: Int
        /// Highest buffered + in-flight count of a single partition since the run started.
        public var peakPerPartition: Int
    }

    public var flowStatistics: FlowStatistics {
        let statistics = core.flow.statistics
        return FlowStatistics(
            buffered: statistics.buffered, inFlight: statistics.inFlight,
            peakTotal: statistics.peakTotal, peakPerPartition: statistics.peakPerPartition
        )
    }

    /// Waits for a running `run` to finish its in-flight records, commits stored offsets, leaves the
    /// group (`rd_kafka_consumer_close`) and destroys the handle. Idempotent. Called from inside a
    /// handler, it does not wait for `run` (other in-flight records are then not stored).
    public func close() async {
        let core = self.core
        core.beginClose()
        core.flow.stop()
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

enum BatchPoll: Sendable {
    case records([KafkaRecord])
    case failed(any Error)
}

enum PollOutcome: Sendable {
    case polled
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
    let flow: PartitionFlow

    init(handle: RdKafkaHandle, flow: PartitionFlow, storesOffsets: Bool) {
        self.handle = HandleSlot(handle)
        self.context = handle.context
        self.flow = flow
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

    /// `beginRun` for `run` and `runBatches`: false once closed; throws if already running.
    func startRun() throws -> Bool {
        switch beginRun() {
        case .started: return true
        case .closed: return false
        case .alreadyRunning: throw KafkaError(code: .invalidArgument, message: "run: this consumer is already running")
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

    // MARK: Run (caller's task)

    /// Polls on the client thread whenever the flow has room, until the run stops.
    func pump() async {
        while let room = await flow.waitForRoom() {
            if Task.isCancelled || isClosing {
                flow.stop()
                return
            }
            let outcome: PollOutcome
            do {
                outcome = try await thread.submit("poll", interrupting: false) { self.poll(upTo: room) }
            } catch {
                flow.stop()  // only `.closed`: the client thread stopped
                return
            }
            switch outcome {
            case .polled:
                continue
            case .failed(let error as KafkaError) where error.code == .closed:
                flow.stop()
            case .failed(let error):
                flow.fail(error)
            }
        }
    }

    /// A handler returned: stores `offset + 1` (`.group` only). Called under the flow's lock, so a
    /// revoke cannot slip in between the ownership check and the store. `rd_kafka_offsets_store`
    /// only takes librdkafka's partition lock, so this does not block the calling task's thread.
    func storeOffset(_ record: KafkaRecord) {
        guard storesOffsets else { return }
        handle.withCurrent { rdHandle in
            store(PendingStore(topic: record.topic, partition: record.partition, offset: record.offset + 1), on: rdHandle)
        }
    }

    /// `runBatches`: stores, per partition, the offset after the batch's last record
    /// (`.group` only). No poll ran since the batch was taken, so no revoke can have disowned it.
    func storeBatch(_ batch: [KafkaRecord]) {
        guard storesOffsets else { return }
        var last: [TopicPartition: KafkaRecord] = [:]
        for record in batch where (last[record.topicPartition]?.offset ?? -1) < record.offset { last[record.topicPartition] = record }
        handle.withCurrent { rdHandle in
            for record in last.values {
                store(PendingStore(topic: record.topic, partition: record.partition, offset: record.offset + 1), on: rdHandle)
            }
        }
    }

    // MARK: Client-thread jobs

    private var currentHandle: RdKafkaHandle? { handle.current }

    /// Resumes drained partitions, then moves up to `limit` records into the flow (waiting up to a
    /// second for the first), serving rebalances in between. Pauses partitions that reach their
    /// bound.
    func poll(upTo limit: Int) -> PollOutcome {
        guard let rdHandle = currentHandle else { return .failed(KafkaError.closed("poll")) }
        resume(flow.takeResumes(), on: rdHandle)
        if let failure = context.currentFailure { return .failed(failure) }

        var taken = 0
        return pollMessages(rdHandle, while: { taken < limit }) { record in
            if flow.accept(record) == .pause {
                setPaused(true, [record.topicPartition], on: rdHandle)
            }
            taken += 1
        }
    }

    /// The poll loop of both run modes: waits up to a second for the first record (interrupt()
    /// — rd_kafka_queue_yield — ends it early for close, cancel and resume), then takes only
    /// what is already queued, handing each record to `take` while `more()` holds. Partition
    /// EOF, unknown topics and transport errors are librdkafka's to retry; fatal and
    /// authentication/authorization errors end the poll.
    private func pollMessages(_ rdHandle: RdKafkaHandle, while more: () -> Bool, filter: RecordFilter? = nil, take: (KafkaRecord) -> Void) -> PollOutcome {
        var timeoutMs: Int32 = 1000
        while more() {
            let outcome = rdHandle.withPointer { rk -> PollOutcome? in
                guard let message = rd_kafka_consumer_poll(rk, timeoutMs) else {
                    if let failure = context.currentFailure { return .failed(failure) }
                    return .polled
                }
                defer { rd_kafka_message_destroy(message) }
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    if let filter, !filter.wants(message) {
                        take(makePositionRecord(message))
                    } else {
                        take(makeRecord(message))
                    }
                    return nil
                }
                if let fatal = rdHandle.fatalError(operation: "consume") {
                    context.recordFailure(fatal)
                    return .failed(fatal)
                }
                let error = KafkaError(rdKafka: err, operation: "consume")
                if error.code == .authorization || error.code == .authentication {
                    return .failed(error)
                }
                context.logger.debug(
                    "kafka consumer event",
                    metadata: [
                        "kafka.error": "\(String(cString: rd_kafka_err2name(err)))",
                        "kafka.topic": "\(message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "")",
                        "kafka.partition": "\(message.pointee.partition)",
                    ]
                )
                return nil
            }
            if let outcome { return outcome }
            timeoutMs = 0  // take what is already queued, do not wait for more
        }
        return .polled
    }

    /// `runBatches`: up to `max` records, waiting up to a second for the first and not at all for
    /// the rest. Records of a partition revoked by a rebalance served in one of these polls are
    /// dropped if they were taken before the revoke.
    func pollBatch(max: Int, filter: RecordFilter? = nil) -> BatchPoll {
        guard let rdHandle = currentHandle else { return .failed(KafkaError.closed("poll")) }
        if let failure = context.currentFailure { return .failed(failure) }
        var records: [KafkaRecord] = []
        var generations: [TopicPartition: UInt64] = [:]
        let outcome = pollMessages(rdHandle, while: { records.count < max }, filter: filter) { record in
            if generations[record.topicPartition] == nil { generations[record.topicPartition] = flow.generation(record.topicPartition) }
            records.append(record)
        }
        if case .failed(let error) = outcome { return .failed(error) }
        if generations.keys.contains(where: { flow.generation($0) != generations[$0] }) {
            records.removeAll { flow.generation($0.topicPartition) != generations[$0.topicPartition] }
        }
        return .records(records)
    }

    /// `runBatches`: the handler failed; fetching continues at the batch's first records.
    func rewind(_ batch: [KafkaRecord]) {
        guard let rdHandle = currentHandle else { return }
        var first: [TopicPartition: Int64] = [:]
        for record in batch { first[record.topicPartition] = min(first[record.topicPartition] ?? .max, record.offset) }
        seek(first.map { ($0.key, $0.value) }, on: rdHandle)
    }

    /// After the handler tasks ended: resumes partitions the run paused and seeks partitions whose
    /// records were taken but not handled back to the first of them, so that a later `run` on this
    /// consumer does not skip them (and then store offsets past them).
    func finishRun() {
        let leftovers = flow.finish()
        guard let rdHandle = currentHandle else { return }
        setPaused(false, leftovers.paused, on: rdHandle)
        seek(leftovers.seek.map { ($0.key, $0.value) }, on: rdHandle)
    }

    /// Resumes paused fetchers at the offset after the last record taken from them. The seek is
    /// what gets them going: librdkafka 2.0.2 handles a resume without waking the broker thread,
    /// which then only refetches after its 1 s idle wait; a seek wakes it.
    func resume(_ partitions: [(TopicPartition, Int64)], on rdHandle: RdKafkaHandle) {
        guard !partitions.isEmpty else { return }
        setPaused(false, partitions.map(\.0), on: rdHandle)
        seek(partitions, on: rdHandle)
    }

    /// `rd_kafka_seek_partitions`; waits until librdkafka applied it. Failures only cost
    /// redelivery or latency, so they are logged.
    func seek(_ partitions: [(TopicPartition, Int64)], on rdHandle: RdKafkaHandle) {
        guard !partitions.isEmpty else { return }
        rdHandle.withPointer { rk in
            _ = withPartitionList(partitions) { list in
                if let error = rd_kafka_seek_partitions(rk, list, 10_000) {
                    context.logger.info("kafka seek failed", metadata: ["kafka.error": "\(KafkaError(consuming: error, operation: "seek"))"])
                }
                for index in 0..<Int(list.pointee.cnt) where list.pointee.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    // _STATE: no longer assigned; its next owner starts from the committed offset.
                    context.logger.debug(
                        "kafka partition not repositioned",
                        metadata: [
                            "kafka.topic": "\(String(cString: list.pointee.elems[index].topic))",
                            "kafka.partition": "\(list.pointee.elems[index].partition)",
                            "kafka.error": "\(String(cString: rd_kafka_err2name(list.pointee.elems[index].err)))",
                        ]
                    )
                }
            }
        }
    }

    /// Pauses or resumes fetchers (synchronous, waits for the partition's broker thread).
    /// Only ever resume what was paused here: a resume bumps the partition's version, and on a
    /// running fetcher librdkafka would then refetch from a stale position (duplicates).
    func setPaused(_ paused: Bool, _ partitions: [TopicPartition], on rdHandle: RdKafkaHandle) {
        guard !partitions.isEmpty else { return }
        rdHandle.withPointer { rk in pausePartitions(rk, paused, partitions, logger: context.logger) }
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
extension RecordFilter {
    /// Reads only the topic name and the filter's header (the last one of that name).
    func wants(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Bool {
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        var list: OpaquePointer?
        var value: UnsafeRawPointer?
        var size = 0
        var text: String?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list,
           rd_kafka_header_get_last(list, header, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let value {
            text = String(decoding: UnsafeRawBufferPointer(start: value, count: size), as: UTF8.self)
        }
        return keep(topic, text)
    }
}

/// A record the filter did not want: its position only.
func makePositionRecord(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaRecord {
    let m = message.pointee
    var record = KafkaRecord(
        topic: m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "", partition: m.partition, offset: m.offset,
        key: nil, value: [], headers: [], timestampMs: nil)
    record.isFilteredOut = true
    return record
}

func makeRecord(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaRecord {
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
