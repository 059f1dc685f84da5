import Synchronization

/// Bounds of one `run`: how many records may be taken out of librdkafka before they are handled.
struct FlowLimits: Sendable {
    /// Buffered + in-flight records of all partitions; the pump stops polling at this total.
    var total: Int
    /// Buffered + in-flight records of one partition; reaching it pauses the partition's fetcher.
    var perPartition: Int
    /// A paused partition is resumed once it is down to this many records, so the refetch overlaps
    /// with handling the rest.
    var resumeAt: Int

    /// Records handled by one partition's handler in a row before its fetch is refilled.
    static let recordsPerPartition = 4

    init(maxConcurrentPartitions n: Int) {
        if n == 1 {
            // Exactly the sequential consumer: poll one record, handle it, store it, poll again.
            (total, perPartition, resumeAt) = (1, 1, 0)
        } else {
            let (product, overflow) = n.multipliedReportingOverflow(by: Self.recordsPerPartition)
            total = overflow ? Int.max : product
            perPartition = Self.recordsPerPartition
            resumeAt = Self.recordsPerPartition / 2
        }
    }

    /// With one global slot there is nothing to balance, and pausing would only cost refetches.
    var pausesPartitions: Bool { perPartition < total }
}

/// Per-partition queues between the poll thread and the handler tasks of `KafkaConsumer.run`.
///
/// Everything that decides which record may be handled or stored happens under one lock, shared
/// with the rebalance callback, so that a revoke is atomic with respect to hand-outs and offset
/// stores: a store either happens before the revoke (and is committed by it) or is suppressed.
final class PartitionFlow: Sendable {
    struct Item: Sendable {
        let record: KafkaRecord
        /// The partition's generation when the record was handed out; a revoke bumps it, which
        /// disowns the record (its offset is not stored).
        let generation: UInt64
    }

    /// What the poll thread must do after the flow accepted a record.
    enum Accepted {
        case keepFetching
        /// The partition reached its bound: pause its fetcher (librdkafka drops what it prefetched
        /// and resumes from the position after the last record it returned).
        case pause
    }

    /// What `finish` leaves for the poll thread, so a later `run` starts where this one stopped.
    struct Leftovers {
        /// Partitions this run paused and never resumed.
        var paused: [TopicPartition] = []
        /// Where fetching must continue: the first unhandled offset of partitions whose records
        /// were taken but not handled, and the next offset of paused ones.
        var seek: [TopicPartition: Int64] = [:]
    }

    struct Statistics: Sendable {
        var buffered = 0
        var inFlight = 0
        var peakTotal = 0
        var peakPerPartition = 0
    }

    private struct Slot {
        var queue: [KafkaRecord] = []
        var busy = false
        var paused = false
        var resumeRequested = false
        /// Offset after the last record accepted: where a resumed fetcher must continue.
        var nextOffset: Int64 = 0
        var count: Int { queue.count + (busy ? 1 : 0) }
        var isIdle: Bool { queue.isEmpty && !busy && !paused }
    }

    private struct State {
        var limits = FlowLimits(maxConcurrentPartitions: 1)
        var slots: [TopicPartition: Slot] = [:]
        /// Bumped on every revoke of the partition; survives runs (assignments do).
        var generations: [TopicPartition: UInt64] = [:]
        /// Partitions with queued records and no handler running, oldest first (fairness).
        var ready: [TopicPartition] = []
        var stopping = true
        var firstError: (any Error)?
        var failedAt: [TopicPartition: Int64] = [:]
        var pendingResumes: [TopicPartition] = []
        var workers: [CheckedContinuation<Item?, Never>] = []
        var pump: CheckedContinuation<Int?, Never>?
        var statistics = Statistics()

        var room: Int { limits.total - statistics.buffered - statistics.inFlight }

        mutating func take(_ partition: TopicPartition) -> Item {
            let record = slots[partition]!.queue.removeFirst()
            slots[partition]!.busy = true
            statistics.buffered -= 1
            statistics.inFlight += 1
            return Item(record: record, generation: generations[partition] ?? 0)
        }

        /// Pairs waiting handler tasks with ready partitions and the pump with free room; the
        /// continuations are resumed by the caller after unlocking.
        mutating func wakeups() -> Wakeups {
            var wakeups = Wakeups()
            if stopping {
                wakeups.workers = workers.map { ($0, nil) }
                workers.removeAll()
                wakeups.pump = pump.map { ($0, nil) }
                pump = nil
                return wakeups
            }
            while !workers.isEmpty, !ready.isEmpty {
                wakeups.workers.append((workers.removeFirst(), take(ready.removeFirst())))
            }
            if let waiting = pump, room > 0 {
                wakeups.pump = (waiting, room)
                pump = nil
            }
            return wakeups
        }

        mutating func release(_ item: Item) -> Bool {
            let partition = item.record.topicPartition
            statistics.inFlight -= 1
            guard var slot = slots[partition] else { return false }
            slot.busy = false
            if !slot.queue.isEmpty { ready.append(partition) }
            var requestResume = false
            if slot.paused, !slot.resumeRequested, slot.count <= limits.resumeAt {
                slot.resumeRequested = true
                pendingResumes.append(partition)
                requestResume = true
            }
            slots[partition] = slot.isIdle ? nil : slot
            return requestResume
        }
    }

    private struct Wakeups {
        var workers: [(CheckedContinuation<Item?, Never>, Item?)] = []
        var pump: (CheckedContinuation<Int?, Never>, Int?)?

        func resume() {
            for (continuation, item) in workers { continuation.resume(returning: item) }
            if let (continuation, room) = pump { continuation.resume(returning: room) }
        }
    }

    private let state = Mutex(State())

    // MARK: Run lifecycle

    func begin(_ limits: FlowLimits) {
        state.withLock { state in
            let generations = state.generations
            state = State()
            state.generations = generations
            state.limits = limits
            state.stopping = false
        }
    }

    /// No new hand-outs; waiting tasks get nil. In-flight handlers still complete.
    func stop() {
        state.withLock { state in
            state.stopping = true
            return state.wakeups()
        }.resume()
    }

    /// Records the first error of the run and stops it.
    func fail(_ error: any Error) {
        state.withLock { state in
            if state.firstError == nil { state.firstError = error }
            state.stopping = true
            return state.wakeups()
        }.resume()
    }

    var firstError: (any Error)? { state.withLock { $0.firstError } }

    var statistics: Statistics { state.withLock { $0.statistics } }

    /// After all handlers returned: what must be resumed / rewound; empties the buffers.
    func finish() -> Leftovers {
        state.withLock { state in
            var leftovers = Leftovers()
            for (partition, slot) in state.slots {
                if slot.paused {
                    leftovers.paused.append(partition)
                    leftovers.seek[partition] = slot.nextOffset
                }
                if let first = slot.queue.first { leftovers.seek[partition] = first.offset }
            }
            for (partition, offset) in state.failedAt {
                leftovers.seek[partition] = min(offset, leftovers.seek[partition] ?? offset)
            }
            state.stopping = true
            state.slots.removeAll()
            state.ready.removeAll()
            state.failedAt.removeAll()
            state.pendingResumes.removeAll()
            state.statistics.buffered = 0
            return leftovers
        }
    }

    // MARK: Poll thread

    /// Free room, waiting until there is some; nil once the run stops.
    func waitForRoom() async -> Int? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
            let immediate: Int?? = state.withLock { state in
                if state.stopping { return .some(nil) }
                if state.room > 0 { return .some(state.room) }
                state.pump = continuation
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    func accept(_ record: KafkaRecord) -> Accepted {
        let partition = record.topicPartition
        let (accepted, wakeups) = state.withLock { state -> (Accepted, Wakeups) in
            var slot = state.slots[partition] ?? Slot()
            slot.queue.append(record)
            slot.nextOffset = record.offset + 1
            if slot.queue.count == 1 && !slot.busy { state.ready.append(partition) }
            state.statistics.buffered += 1
            state.statistics.peakTotal = max(state.statistics.peakTotal, state.statistics.buffered + state.statistics.inFlight)
            state.statistics.peakPerPartition = max(state.statistics.peakPerPartition, slot.count)
            var accepted = Accepted.keepFetching
            if state.limits.pausesPartitions, !slot.paused, slot.count >= state.limits.perPartition {
                slot.paused = true
                accepted = .pause
            }
            state.slots[partition] = slot
            return (accepted, state.wakeups())
        }
        wakeups.resume()
        return accepted
    }

    /// Paused partitions that drained enough, with the offset their fetchers continue at; the
    /// caller resumes them.
    func takeResumes() -> [(TopicPartition, Int64)] {
        state.withLock { state in
            var resumed: [(TopicPartition, Int64)] = []
            for partition in state.pendingResumes {
                guard var slot = state.slots[partition], slot.paused, slot.resumeRequested else { continue }
                slot.paused = false
                slot.resumeRequested = false
                state.slots[partition] = slot.isIdle ? nil : slot
                resumed.append((partition, slot.nextOffset))
            }
            state.pendingResumes.removeAll()
            return resumed
        }
    }

    /// Rebalance callback (poll thread): drops the buffered records of `partitions` and disowns
    /// their in-flight ones, whose offsets will then not be stored. Returns the partitions this flow
    /// had paused; the caller resumes them, because librdkafka keeps an application pause across
    /// unassign and a later assign.
    func revoke(_ partitions: [TopicPartition]) -> [TopicPartition] {
        let (paused, wakeups) = state.withLock { state -> ([TopicPartition], Wakeups) in
            var paused: [TopicPartition] = []
            for partition in partitions {
                state.generations[partition, default: 0] &+= 1
                state.failedAt[partition] = nil
                guard var slot = state.slots[partition] else { continue }
                state.statistics.buffered -= slot.queue.count
                slot.queue.removeAll()
                state.ready.removeAll { $0 == partition }
                if slot.paused { paused.append(partition) }
                slot.paused = false
                slot.resumeRequested = false
                // A busy slot stays until its handler returns: the partition may come back to this
                // consumer, and its records must not overlap with the running one.
                state.slots[partition] = slot.isIdle ? nil : slot
            }
            state.pendingResumes.removeAll { partitions.contains($0) }
            return (paused, state.wakeups())
        }
        wakeups.resume()
        return paused
    }

    /// The partition's revoke count: a record taken while it was `g` is disowned once it differs.
    func generation(_ partition: TopicPartition) -> UInt64 {
        state.withLock { $0.generations[partition] ?? 0 }
    }

    /// For an eager revoke (which unassigns everything, whatever the list says): every partition
    /// with records or a generation here, plus `partitions`.
    func knownPartitions(plus partitions: [TopicPartition]) -> [TopicPartition] {
        state.withLock { Array(Set($0.slots.keys).union($0.generations.keys).union(partitions)) }
    }

    // MARK: Handler tasks

    /// The next record to handle, waiting for one; nil once the run stops.
    func next() async -> Item? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
            let immediate: Item?? = state.withLock { state in
                if state.stopping { return .some(nil) }
                if !state.ready.isEmpty { return .some(state.take(state.ready.removeFirst())) }
                state.workers.append(continuation)
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// The handler returned: `store` runs under the lock unless a revoke disowned the record.
    /// Returns true when a paused partition wants its fetcher resumed (interrupt the poll).
    func complete(_ item: Item, store: (KafkaRecord) -> Void) -> Bool {
        let (requestResume, wakeups) = state.withLock { state -> (Bool, Wakeups) in
            let partition = item.record.topicPartition
            if (state.generations[partition] ?? 0) == item.generation { store(item.record) }
            let requestResume = state.release(item)
            return (requestResume, state.wakeups())
        }
        wakeups.resume()
        return requestResume
    }

    /// The handler threw: the run stops and the record is not stored (and is rewound for a later run).
    func fail(_ item: Item, error: any Error) {
        state.withLock { state in
            let partition = item.record.topicPartition
            if (state.generations[partition] ?? 0) == item.generation {
                state.failedAt[partition] = min(item.record.offset, state.failedAt[partition] ?? .max)
            }
            _ = state.release(item)
            if state.firstError == nil { state.firstError = error }
            state.stopping = true
            return state.wakeups()
        }.resume()
    }
}
