public import EventBus
public import Events
import EventContracts
import Foundation
public import Kafka
public import Logging
import Metrics
public import Postgres

/// What a service does about events of some types: append follow-up events, run a tool. Runs
/// at least once per event, so it must be idempotent (derived ids, recorded step ids).
public struct Reaction: Sendable {
    public var name: String
    public var interestedIn: Set<String>
    public var handle: @Sendable (EventEnvelope) async throws -> Void

    public init(name: String, interestedIn: Set<String>, handle: @escaping @Sendable (EventEnvelope) async throws -> Void) {
        self.name = name
        self.interestedIn = interestedIn
        self.handle = handle
    }
}

/// A projection and the topic it reads.
public struct ProjectionFeed: Sendable {
    public var projection: any Projection
    public var topic: String
    public init(_ projection: any Projection, topic: String) {
        self.projection = projection
        self.topic = topic
    }
}

/// The one consumer of a service process (DESIGN §3): one consumer group, one fetch and one
/// decode per event for everything the process does with the log. Each poll's records are
/// handled as a batch:
///
/// 1. every record is decoded once, if any reaction or projection takes its type (a record that
///    cannot be decoded is dead-lettered once);
/// 2. reactions run, each partition's events in log order, partitions concurrently — first,
///    because they are the turn's critical path;
/// 3. one Postgres transaction applies the batch to every projection (`Projection.apply`, the
///    code rebuilds run too) and moves every participant's offsets past the batch.
///
/// Offsets: with `.postgres`, projections keep theirs in their schemas and the reactions theirs
/// in `reactionSchema`, all written in that one transaction; the consumer starts each partition
/// at the earliest offset any participant still needs, and each skips what it already did. A
/// service without Postgres (`.broker`) has reactions only and commits to the broker after each
/// batch. Either way delivery is at least once, and a crash repeats at most the batch in hand.
public struct ServiceLogConsumer: Sendable {
    public enum OffsetStore: Sendable {
        /// The group's committed offsets (reactions only).
        case broker
        /// Every participant's offsets in Postgres, with the projections' rows.
        case postgres(PostgresPool, databaseURL: String, reactionSchema: String)
    }

    public let group: String
    public let kafka: KafkaConfig
    /// The topic reactions read; projections name theirs.
    public let reactionTopic: String
    public let reactions: [Reaction]
    public let feeds: [ProjectionFeed]
    public let offsets: OffsetStore
    public let deadLetters: DeadLetterPublisher
    public let logger: Logger
    /// Partitions whose reactions run at once (one partition's events always in order).
    public var concurrency = 4
    /// Records per batch at most.
    public var maxBatch = 500
    /// How long offsets may stay unwritten when a batch gave no projection anything to apply:
    /// most batches of a service without busy read models write nothing at all. A crash in
    /// that window repeats those reactions (at least once, as always); nothing is lost.
    public var offsetWriteInterval: Duration = .seconds(1)
    public var retry = RetryPolicy()

    public init(
        group: String, kafka: KafkaConfig, reactionTopic: String, reactions: [Reaction], projections: [ProjectionFeed],
        offsets: OffsetStore, deadLetters: DeadLetterPublisher, logger: Logger
    ) {
        precondition(projections.isEmpty || { if case .postgres = offsets { true } else { false } }(), "projections keep their offsets in Postgres")
        self.group = group
        self.kafka = kafka
        self.reactionTopic = reactionTopic
        self.reactions = reactions
        self.feeds = projections
        self.offsets = offsets
        self.deadLetters = deadLetters
        self.logger = logger
    }

    /// Where the reactions' offsets are kept (`.postgres`).
    public var reactionOwner: OffsetOwner? {
        guard case .postgres(_, _, let schema) = offsets, !reactions.isEmpty else { return nil }
        return OffsetOwner(schema: schema, name: group)
    }

    var topics: [String] {
        var topics: [String] = reactions.isEmpty ? [] : [reactionTopic]
        for feed in feeds where !topics.contains(feed.topic) { topics.append(feed.topic) }
        return topics
    }

    /// Offset owners reading `topic`: the projections' (by feed index) and the reactions'.
    func owners(of topic: String) -> [OffsetOwner] {
        var owners = feeds.filter { $0.topic == topic }.map { OffsetOwner($0.projection) }
        if topic == reactionTopic, let reactionOwner { owners.append(reactionOwner) }
        return owners
    }

    /// Runs until the task is cancelled (a normal stop) or a failure. Projections whose code
    /// version changed are emptied first, so they refill from offset 0 through this consumer.
    public func run() async throws {
        if case .postgres(let pool, _, _) = offsets {
            do {
                for feed in feeds { try await ProjectionStore.ensureVersion(feed.projection, pool: pool, logger: logger) }
            } catch is CancellationError {
                return
            }
        }
        while !Task.isCancelled {
            do {
                try await runOnce()
                return
            } catch let moved as OffsetsMoved {
                logger.warning("stored offsets moved, re-reading them", metadata: ["consumer.group": "\(group)", "offsets.owner": "\(moved.owner)"])
            }
        }
    }

    func runOnce() async throws {
        let ledger = OffsetLedger()
        let subscription: ConsumerSubscription
        switch offsets {
        case .broker:
            subscription = .group(id: group, topics: topics, startAt: .earliest)
        case .postgres(_, let databaseURL, _):
            let owners = Dictionary(uniqueKeysWithValues: topics.map { ($0, self.owners(of: $0)) })
            subscription = .groupWithExternalOffsets(id: group, topics: topics, startAt: .earliest, startOffsets: { partitions in
                let loaded = try Self.loadOffsets(databaseURL: databaseURL, owners: Array(Set(owners.values.joined())))
                ledger.set(loaded, for: partitions)
                // Each partition starts at the earliest offset a participant still needs; one
                // that has none yet reads it from the beginning.
                var start: [TopicPartition: Int64] = [:]
                for partition in partitions {
                    let stored = (owners[partition.topic] ?? []).map { loaded[$0]?[partition] }
                    if !stored.isEmpty, !stored.contains(nil) { start[partition] = stored.compactMap { $0 }.min() }
                }
                return start
            })
        }
        let consumer = try KafkaConsumer(config: kafka, subscription: subscription, logger: logger)
        let metrics = Metrics(group: group)
        do {
            // Records no participant takes are not copied out of librdkafka (their header says
            // so); a record without the header is copied and parsed, so it is never ignored.
            let filter = RecordFilter(header: EventHeaders.type) { [self] topic, type in type.map { takes($0, from: topic) } ?? true }
            try await consumer.runBatches(maxRecords: maxBatch, idleBatches: true, filter: filter) { records in
                try await self.handle(records, ledger: ledger, metrics: metrics)
            }
        } catch is CancellationError {
            // Stopping mid-batch: its transaction did not commit, so it is handled again after
            // the restart. Not a failure.
        } catch {
            await consumer.close()
            throw error
        }
        await flushOnStop(ledger: ledger, metrics: metrics)
        await consumer.close()
    }

    /// A stop writes the progress of batches no projection took anything from, so a restart
    /// does not repeat their reactions. The run's task is cancelled by then, and a cancelled
    /// task's queries are cancelled too: the write runs in a task of its own, awaited here.
    func flushOnStop(ledger: OffsetLedger, metrics: Metrics) async {
        guard case .postgres(let pool, _, _) = offsets, ledger.hasPending else { return }
        let flush = Task.detached { [self] in
            try await commit([], [], ledger: ledger, pool: pool, metrics: metrics, force: true)
        }
        do {
            try await flush.value
        } catch {
            logger.info("offsets not written at stop; the reactions since the last write run again after the restart", metadata: ["error": "\(error)"])
        }
    }

    static func loadOffsets(databaseURL: String, owners: [OffsetOwner]) throws -> [OffsetOwner: [TopicPartition: Int64]] {
        // On the consumer's poll thread, during a rebalance: a short-lived blocking connection
        // rather than the async pool.
        let connection = try PostgresConnection.connect(url: databaseURL)
        var loaded: [OffsetOwner: [TopicPartition: Int64]] = [:]
        for owner in owners {
            loaded[owner] = try ProjectionStore.offsets(schema: owner.schema, projection: owner.name, in: connection)
        }
        return loaded
    }

    struct Metrics: Sendable {
        let handled: Counter
        /// Log append (the record's timestamp) to the batch's rows committed, for the oldest
        /// event of each batch some projection applied.
        let projectionDelay: Timer
        let deadLettered: Counter
        let retries: Counter
        let batches: Counter
        init(group: String) {
            handled = Counter(label: "switchboard_events_handled_total", dimensions: [("group", group)])
            projectionDelay = Timer(label: "switchboard_projection_delay_seconds", dimensions: [("group", group)])
            deadLettered = Counter(label: "switchboard_events_dead_lettered_total", dimensions: [("group", group)])
            retries = Counter(label: "switchboard_event_handler_retries_total", dimensions: [("group", group)])
            batches = Counter(label: "switchboard_log_batches_total", dimensions: [("group", group)])
        }
    }

    // MARK: One batch

    func handle(_ records: [KafkaRecord], ledger: OffsetLedger, metrics: Metrics) async throws {
        if records.isEmpty {
            // The log is quiet: write offsets that were deferred, once they are due.
            if case .postgres(let pool, _, _) = offsets, ledger.hasPending {
                try await commit([], [], ledger: ledger, pool: pool, metrics: metrics)
            }
            return
        }
        metrics.batches.increment()
        let events = try await decode(records, metrics: metrics)
        let reactionOwner = self.reactionOwner
        if !reactions.isEmpty {
            let mine = events.filter { event in
                guard event.record.topic == reactionTopic else { return false }
                guard let reactionOwner, let done = ledger.expected(reactionOwner, event.record.topicPartition) else { return true }
                return event.record.offset >= done
            }
            try await react(to: mine, metrics: metrics)
        }
        if case .postgres(let pool, _, _) = offsets {
            try await commit(records, events, ledger: ledger, pool: pool, metrics: metrics)
        }
    }

    /// Decodes what some participant takes and checks it against the published contract
    /// (docs/events) before any handler sees it; dead-letters what cannot be decoded or breaks
    /// the contract.
    func decode(_ records: [KafkaRecord], metrics: Metrics) async throws -> [LoggedEvent] {
        var events: [LoggedEvent] = []
        events.reserveCapacity(records.count)
        for record in records where !record.isFilteredOut {
            // Skip what nobody here takes without parsing it; a record lacking the header is
            // parsed so that a malformed event is never silently ignored.
            if let type = record.header(EventHeaders.type), !takes(type, from: record.topic) { continue }
            do {
                let event = try EventCodec.decode(record.value)
                guard takes(event.type, from: record.topic) else { continue }
                try EventContracts.published.check(event)
                events.append(LoggedEvent(event: event, record: record))
            } catch {
                try await deadLetters.send(record, error: String(describing: error), logger: logger)
                metrics.deadLettered.increment()
            }
        }
        return events
    }

    func takes(_ type: String, from topic: String) -> Bool {
        if type == EventHeaders.logGapType { return false }
        if topic == reactionTopic, reactions.contains(where: { $0.interestedIn.contains(type) }) { return true }
        return feeds.contains { $0.topic == topic && ($0.projection.interestedIn?.contains(type) ?? true) }
    }

    /// Each partition's events in order; up to `concurrency` partitions at once.
    func react(to events: [LoggedEvent], metrics: Metrics) async throws {
        var byPartition: [Int32: [LoggedEvent]] = [:]
        var order: [Int32] = []
        for event in events where reactions.contains(where: { $0.interestedIn.contains(event.event.type) }) {
            if byPartition[event.record.partition] == nil { order.append(event.record.partition) }
            byPartition[event.record.partition, default: []].append(event)
        }
        guard !order.isEmpty else { return }
        if order.count == 1 {
            for event in byPartition[order[0]]! { try await react(to: event, metrics: metrics) }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func start() {
                guard next < order.count, let events = byPartition[order[next]] else { return }
                next += 1
                group.addTask {
                    for event in events { try await self.react(to: event, metrics: metrics) }
                }
            }
            for _ in 0..<min(concurrency, order.count) { start() }
            while try await group.next() != nil { start() }
        }
    }

    /// Every reaction that takes the event, with the retry policy: transient failures are retried
    /// without limit (an outage stalls, never drops), others a few times, then dead-lettered.
    func react(to logged: LoggedEvent, metrics: Metrics) async throws {
        for reaction in reactions where reaction.interestedIn.contains(logged.event.type) {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await EventTracing.consume("\(reaction.name) \(logged.event.type)", logged.event, record: logged.record) {
                        try await reaction.handle(logged.event)
                    }
                    metrics.handled.increment()
                    break
                } catch let error as PermanentEventError {
                    try await deadLetter(logged, error: error.description, metrics: metrics)
                    break
                } catch let error as EventPayloadError {
                    try await deadLetter(logged, error: error.description, metrics: metrics)
                    break
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    guard retry.shouldRetry(error, attempt: attempt) else {
                        try await deadLetter(logged, error: "\(reaction.name) failed \(attempt) times: \(error)", metrics: metrics)
                        break
                    }
                    metrics.retries.increment()
                    logger.error("event handler failed, retrying", metadata: [
                        "event.id": "\(logged.event.id)", "event.type": "\(logged.event.type)", "reaction": "\(reaction.name)",
                        "error": "\(error)", "attempt": "\(attempt)",
                    ])
                    try await Task.sleep(for: retry.backoff(after: attempt))
                }
            }
        }
    }

    func deadLetter(_ logged: LoggedEvent, error: String, metrics: Metrics) async throws {
        try await deadLetters.send(logged.record, error: error, logger: logger)
        metrics.deadLettered.increment()
    }

    /// One transaction: the batch applied to every projection, and every participant's offsets
    /// moved past the batch (also past records nobody took, so a restart does not read them
    /// again). Retried while Postgres is away; a failure that is not transient is redone
    /// carefully, which skips and dead-letters the events a projection cannot apply.
    func commit(_ records: [KafkaRecord], _ events: [LoggedEvent], ledger: OffsetLedger, pool: PostgresPool, metrics: Metrics, force: Bool = false) async throws {
        var next: [String: [TopicPartition: Int64]] = [:]
        for record in records {
            next[record.topic, default: [:]][record.topicPartition] = max(next[record.topic]?[record.topicPartition] ?? 0, record.offset + 1)
        }
        let batchMoves: [(OffsetOwner, [TopicPartition: Int64])] = next.flatMap { topic, offsets in owners(of: topic).map { ($0, offsets) } }
        let projections = feeds.map(\.projection)
        let feedTopics = feeds.map(\.topic)
        // A batch that gives no projection anything writes nothing: its progress stays in
        // memory until the next write, at most `offsetWriteInterval` later (or at a stop).
        // Any write carries every owner's progress in its one offsets statement.
        let applies = feeds.contains { feed in
            let owner = OffsetOwner(feed.projection)
            return events.contains { event in
                feed.topic == event.record.topic && (feed.projection.interestedIn?.contains(event.event.type) ?? true)
                    && event.record.offset >= (ledger.expected(owner, event.record.topicPartition) ?? 0)
            }
        }
        if !applies {
            ledger.addPending(batchMoves)
            guard force || ledger.isDue(offsetWriteInterval) else { return }
        }
        let moves = ledger.pending(adding: applies ? batchMoves : [])
        var careful = false
        var attempt = 0
        while true {
            attempt += 1
            // What each participant had stored before this batch: events before it are done.
            let expected = Dictionary(uniqueKeysWithValues: moves.map { owner, offsets in
                (owner, offsets.keys.reduce(into: [TopicPartition: Int64]()) { $0[$1] = ledger.expected(owner, $1) })
            })
            // Every projection skips what it already applied, whether it writes now or not.
            let partitions = Set(records.map(\.topicPartition))
            let done = Dictionary(uniqueKeysWithValues: projections.map { projection in
                let owner = OffsetOwner(projection)
                return (owner, partitions.reduce(into: [TopicPartition: Int64]()) { $0[$1] = ledger.expected(owner, $1) })
            })
            let isCareful = careful
            do {
                let failures = try await pool.transaction { connection in
                    let failures = try ProjectionApplier.apply(events, to: projections, careful: isCareful, wants: { index, event in
                        guard event.record.topic == feedTopics[index] else { return false }
                        guard let stored = done[OffsetOwner(projections[index])]?[event.record.topicPartition] else { return true }
                        return event.record.offset >= stored
                    }, in: connection)
                    try ProjectionStore.advance(moves.map { owner, offsets in (owner, expected[owner] ?? [:], offsets) }, in: connection)
                    return failures
                }
                ledger.recordWritten(moves)
                if applies, let oldest = events.compactMap(\.record.timestampMs).min() {
                    metrics.projectionDelay.recordMilliseconds(max(0, EventEnvelope.nowMillis() - oldest))
                }
                for failure in failures {
                    try await deadLetter(failure.event, error: "projection \(failure.projection): \(failure.error)", metrics: metrics)
                }
                return
            } catch let moved as OffsetsMoved {
                throw moved
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if !ProjectionApplier.isTransient(error) {
                    if !careful {
                        careful = true
                        continue
                    }
                    guard retry.shouldRetry(error, attempt: attempt) else { throw error }
                }
                metrics.retries.increment()
                logger.error("projection batch failed, retrying", metadata: ["consumer.group": "\(group)", "error": "\(error)", "attempt": "\(attempt)"])
                try await Task.sleep(for: retry.backoff(after: attempt))
            }
        }
    }
}

/// Offsets each participant last wrote (or loaded), per partition, and those it reached
/// without writing them yet. Set on the consumer's poll thread at assignment and by the batch
/// handler.
final class OffsetLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [OffsetOwner: [TopicPartition: Int64]] = [:]
    private var pending: [OffsetOwner: [TopicPartition: Int64]] = [:]
    private var lastWrite = ContinuousClock.now

    func set(_ loaded: [OffsetOwner: [TopicPartition: Int64]], for partitions: [TopicPartition]) {
        lock.withLock {
            for (owner, offsets) in loaded {
                for partition in partitions {
                    stored[owner, default: [:]][partition] = offsets[partition]
                    pending[owner]?[partition] = nil
                }
            }
        }
    }

    /// Progress handled but not written yet.
    func addPending(_ moves: [(OffsetOwner, [TopicPartition: Int64])]) {
        lock.withLock {
            for (owner, offsets) in moves { pending[owner, default: [:]].merge(offsets) { max($0, $1) } }
        }
    }

    /// The last write is `interval` old and progress waits to be written.
    func isDue(_ interval: Duration) -> Bool {
        lock.withLock { ContinuousClock.now - lastWrite >= interval && pending.values.contains { !$0.isEmpty } }
    }

    var hasPending: Bool { lock.withLock { pending.values.contains { !$0.isEmpty } } }

    /// The pending progress with `moves` added (not stored: only a commit makes it written).
    func pending(adding moves: [(OffsetOwner, [TopicPartition: Int64])]) -> [(OffsetOwner, [TopicPartition: Int64])] {
        lock.withLock {
            var merged = pending
            for (owner, offsets) in moves { merged[owner, default: [:]].merge(offsets) { max($0, $1) } }
            return merged.filter { !$0.value.isEmpty }.map { ($0.key, $0.value) }
        }
    }

    /// `moves` (all pending progress included) were committed.
    func recordWritten(_ moves: [(OffsetOwner, [TopicPartition: Int64])]) {
        lock.withLock {
            for (owner, offsets) in moves { stored[owner, default: [:]].merge(offsets) { max($0, $1) } }
            pending.removeAll()
            lastWrite = ContinuousClock.now
        }
    }

    func expected(_ owner: OffsetOwner, _ partition: TopicPartition) -> Int64? {
        lock.withLock { stored[owner]?[partition] }
    }

}
