import Foundation
import Kafka
import Synchronization
import Testing

@Suite("KafkaConsumer.run with per-partition concurrency", .timeLimit(.minutes(1)))
struct ConcurrentConsumerTests {
    @Test("per-partition order holds while partitions are handled concurrently", .timeLimit(.minutes(1)))
    func orderUnderConcurrency() async throws {
        let broker = try Broker("concurrent-order", topics: ["turns": 8])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let keys = (0..<40).map { "conversation-\($0)" }
        let perKey = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in keys {
                group.addTask {
                    for sequence in 0..<perKey {
                        _ = try await producer.send(topic: "turns", key: bytes(key), value: bytes("\(sequence)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        await producer.close()

        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("concurrent-order"),
            subscription: .group(id: "concurrent-order", topics: ["turns"]), logger: broker.logger
        )
        let probe = ConcurrencyProbe()
        let collector = Collector()
        let running = Task {
            try await consumer.run(maxConcurrentPartitions: 8) { record in
                try await probe.measure(record) {
                    try await Task.sleep(for: .microseconds(Int.random(in: 0...2_000)))  // simulated work
                    collector.append(record)
                }
            }
        }
        try await collector.wait(forCount: keys.count * perKey)
        await consumer.close()
        try await running.value

        var sequences: [String: [Int]] = [:]
        for record in collector.records {
            sequences[text(record.key ?? []), default: []].append(Int(text(record.value))!)
        }
        for key in keys {
            #expect(sequences[key] == Array(0..<perKey), "\(key) out of order, duplicated or incomplete")
        }
        #expect(probe.overlaps == 0, "two records of one partition were handled at the same time")
        #expect(probe.peak > 1, "partitions were not handled concurrently")
        #expect(probe.peak <= 8)
    }

    @Test("throughput at 1 vs 8 concurrent partitions (printed, not asserted)", .timeLimit(.minutes(1)))
    func speedUp() async throws {
        let broker = try Broker("speed-up", topics: ["work": 8])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let perPartition = 100
        try await withThrowingTaskGroup(of: Void.self) { group in
            for partition in Int32(0)..<8 {
                group.addTask {
                    for index in 0..<perPartition {
                        _ = try await producer.send(topic: "work", partition: partition, key: nil, value: bytes("\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        await producer.close()

        var peaks: [Int: Int] = [:]
        for concurrency in [1, 8] {
            let consumer = try KafkaConsumer(
                config: broker.consumerConfig("speed-\(concurrency)"),
                subscription: .group(id: "speed-\(concurrency)", topics: ["work"]), logger: broker.logger
            )
            let probe = ConcurrencyProbe()
            let collector = Collector()
            let running = Task {
                try await consumer.run(maxConcurrentPartitions: concurrency) { record in
                    try await probe.measure(record) {
                        try await Task.sleep(for: .milliseconds(2))  // a handler doing a few round trips
                        collector.append(record)
                    }
                }
            }
            // Rate between the first and the last record: the group join is not the handler's cost.
            try await collector.wait(forCount: 1)
            let start = ContinuousClock.now
            let startCount = collector.records.count
            try await collector.wait(forCount: 8 * perPartition)
            let elapsed = ContinuousClock.now - start
            await consumer.close()
            try await running.value

            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(8 * perPartition - startCount) / seconds
            print("kafka consumer maxConcurrentPartitions=\(concurrency): \(Int(rate)) records/s (2 ms handler, 8 partitions)")
            peaks[concurrency] = probe.peak
            #expect(probe.overlaps == 0)
            #expect(Set(collector.records.map(\.position)).count == 8 * perPartition)
        }
        #expect(peaks[1] == 1)
        #expect((peaks[8] ?? 0) > 1)
    }

    struct HandlerFailed: Error {}

    @Test("a failing partition stops the run; other partitions' handled offsets are stored", .timeLimit(.minutes(1)))
    func failureOnOnePartition() async throws {
        let broker = try Broker("concurrent-failure", topics: ["jobs": 4])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let perPartition = 20
        for partition in Int32(0)..<4 {
            for index in 0..<perPartition {
                _ = try await producer.send(topic: "jobs", partition: partition, key: nil, value: bytes("\(partition)-\(index)"))
            }
        }

        let first = try KafkaConsumer(
            config: broker.consumerConfig("first"), subscription: .group(id: "workers", topics: ["jobs"]), logger: broker.logger
        )
        let attempted = Mutex<[Int32: [Int64]]>([:])
        let completed = Mutex<[Int32: [Int64]]>([:])
        let slowStarted = Gate()
        let error = await #expect(throws: HandlerFailed.self) {
            try await first.run(maxConcurrentPartitions: 4) { record in
                attempted.withLock { $0[record.partition, default: []].append(record.offset) }
                if record.partition == 0 && record.offset == 3 {
                    slowStarted.open()
                    try? await Task.sleep(for: .milliseconds(50))  // still in flight when 2@5 fails
                }
                if record.partition == 2 && record.offset == 5 {
                    await slowStarted.wait()
                    throw HandlerFailed()
                }
                completed.withLock { $0[record.partition, default: []].append(record.offset) }
            }
        }
        #expect(error != nil)
        await first.close()

        let handled = completed.withLock { $0 }
        #expect(attempted.withLock { $0[2] } == [0, 1, 2, 3, 4, 5], "nothing after the failed record was started")
        #expect(handled[0]?.contains(3) == true, "the in-flight handler of partition 0 finished")
        for (partition, offsets) in handled {
            #expect(offsets == (0..<Int64(offsets.count)).map { $0 }, "partition \(partition) handled in order")
        }

        // One more record everywhere, so every partition has something after its stored offset.
        for partition in Int32(0)..<4 {
            _ = try await producer.send(topic: "jobs", partition: partition, key: nil, value: bytes("\(partition)-late"))
        }
        await producer.close()
        let second = try KafkaConsumer(
            config: broker.consumerConfig("second"), subscription: .group(id: "workers", topics: ["jobs"]), logger: broker.logger
        )
        let resumed = Collector()
        let running = Task { try await second.run(maxConcurrentPartitions: 4) { resumed.append($0) } }
        try await resumed.wait("a record of every partition") { records in Set(records.map(\.partition)).count == 4 }
        await second.close()
        try await running.value

        let firstOffsets = Dictionary(grouping: resumed.records, by: \.partition).mapValues { $0.map(\.offset).min()! }
        #expect(firstOffsets[2] == 5, "the failed record is redelivered")
        for partition in Int32(0)..<4 where partition != 2 {
            let next = Int64(handled[partition]?.count ?? 0)
            #expect(firstOffsets[partition] == next, "partition \(partition) resumes after its handled records")
        }
    }

    @Test("rebalance under concurrency: nothing lost, per-key order and no overlap per consumer", .timeLimit(.minutes(1)))
    func rebalanceUnderConcurrency() async throws {
        let broker = try Broker("concurrent-rebalance", topics: ["events": 8])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let produced = Mutex<Set<Position>>([])
        let sequenceOfKey = Mutex<[Int]>(Array(repeating: 0, count: 32))
        @Sendable func produce(_ index: Int) async throws {
            let key = index % 32
            let sequence = sequenceOfKey.withLock { counters in
                defer { counters[key] += 1 }
                return counters[key]
            }
            let (partition, offset) = try await producer.send(topic: "events", key: bytes("key-\(key)"), value: bytes("\(sequence)"))
            produced.withLock { _ = $0.insert(Position(partition: partition, offset: offset)) }
        }
        for index in 0..<200 { try await produce(index) }

        let all = Collector()
        let byA = Collector()
        let byB = Collector()
        let probeA = ConcurrencyProbe()
        let probeB = ConcurrencyProbe()
        @Sendable func start(_ consumer: KafkaConsumer, _ probe: ConcurrencyProbe, _ mine: Collector) -> Task<Void, any Error> {
            Task {
                try await consumer.run(maxConcurrentPartitions: 4) { record in
                    try await probe.measure(record) {
                        mine.append(record)  // at start: the order handlers were started in
                        try await Task.sleep(for: .microseconds(Int.random(in: 0...3_000)))  // simulated work
                        all.append(record)
                    }
                }
            }
        }
        let consumerA = try KafkaConsumer(
            config: broker.consumerConfig("consumer-a"), subscription: .group(id: "split", topics: ["events"]), logger: broker.logger
        )
        let runningA = start(consumerA, probeA, byA)
        try await byA.wait(forCount: 40)

        let stop = Mutex(false)
        let background = Task {
            var index = 200
            while !stop.withLock({ $0 }) {
                try await produce(index)
                index += 1
                try await Task.sleep(for: .milliseconds(2))  // pacing, not synchronisation
            }
        }

        let consumerB = try KafkaConsumer(
            config: broker.consumerConfig("consumer-b"), subscription: .group(id: "split", topics: ["events"]), logger: broker.logger
        )
        let runningB = start(consumerB, probeB, byB)
        try await byB.wait(forCount: 1)
        let sharedAssignment = try await consumerB.assignment()
        #expect(!sharedAssignment.isEmpty && sharedAssignment.count < 8, "B shares the partitions with A: \(sharedAssignment)")

        await consumerA.close()
        try await runningA.value
        let bInitial = Set(sharedAssignment.map(\.partition))
        try await byB.wait("B handling a former partition of A") { records in
            records.contains { !bInitial.contains($0.partition) }
        }
        stop.withLock { $0 = true }
        try await background.value
        await producer.close()

        let expected = produced.withLock { $0 }
        try await all.wait("every produced record handled") { records in
            expected.isSubset(of: Set(records.map(\.position)))
        }
        await consumerB.close()
        try await runningB.value

        #expect(expected.count > 200)
        #expect(expected.isSubset(of: Set(all.records.map(\.position))))
        for (name, collector, probe) in [("A", byA, probeA), ("B", byB, probeB)] {
            #expect(probe.overlaps == 0, "\(name) handled two records of one partition at once")
            #expect(probe.peak <= 4)
            // Redeliveries repeat earlier records; the first time each record is seen must follow
            // the key's order.
            var seen = Set<Position>()
            var lastFirstSeen: [String: Int] = [:]
            for record in collector.records where seen.insert(record.position).inserted {
                let key = text(record.key ?? [])
                let sequence = Int(text(record.value))!
                #expect(sequence > lastFirstSeen[key, default: -1], "\(name): \(key) out of order at \(sequence)")
                lastFirstSeen[key] = sequence
            }
        }
        #expect(probeA.peak > 1 || probeB.peak > 1, "no concurrency observed")
    }

    @Test(
        "records taken from librdkafka stay within the documented bound",
        .timeLimit(.minutes(1)),
        arguments: [(partitions: 8, concurrency: 2), (partitions: 2, concurrency: 4), (partitions: 4, concurrency: 1)]
    )
    func boundedBuffering(partitions: Int, concurrency: Int) async throws {
        let broker = try Broker("bounded", topics: ["backlog": partitions])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        let total = 200
        for index in 0..<total {
            _ = try await producer.send(topic: "backlog", partition: Int32(index % partitions), key: nil, value: bytes("\(index)"))
        }
        await producer.close()

        // Documented: 4 per partition and 4 × maxConcurrentPartitions in total; 1 when sequential.
        let perPartitionBound = concurrency == 1 ? 1 : 4
        let totalBound = concurrency == 1 ? 1 : 4 * concurrency
        let reachable = min(totalBound, perPartitionBound * partitions)

        let consumer = try KafkaConsumer(
            config: broker.consumerConfig("bounded"), subscription: .allPartitions(topics: ["backlog"], startAt: .earliest),
            logger: broker.logger
        )
        let release = Gate()
        let probe = ConcurrencyProbe()
        let collector = Collector()
        let running = Task {
            try await consumer.run(maxConcurrentPartitions: concurrency) { record in
                try await probe.measure(record) {
                    await release.wait()
                    collector.append(record)
                }
            }
        }
        // Handlers are blocked: the consumer reads ahead until the bound and must stop there.
        try await eventually("read-ahead to fill up to \(reachable)") {
            let statistics = consumer.flowStatistics
            return statistics.buffered + statistics.inFlight >= reachable
        }
        let filled = consumer.flowStatistics
        #expect(filled.inFlight == min(concurrency, partitions))
        release.open()
        try await collector.wait(forCount: total)
        await consumer.close()
        try await running.value

        let statistics = consumer.flowStatistics
        #expect(statistics.peakTotal == reachable, "bound \(totalBound), per partition \(perPartitionBound)")
        #expect(statistics.peakPerPartition <= perPartitionBound)
        #expect(probe.overlaps == 0)
        #expect(collector.records.count == total, "each record handled exactly once")
        for partition in Int32(0)..<Int32(partitions) {
            let offsets = collector.records.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == offsets.sorted(), "partition \(partition) in order")
        }
    }

    @Test("stopping finishes in-flight handlers and stores them; buffered records come back", .timeLimit(.minutes(1)))
    func stopWithInFlightAndBuffered() async throws {
        let broker = try Broker("concurrent-stop", topics: ["steps": 4])
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        for index in 0..<40 {
            _ = try await producer.send(topic: "steps", partition: Int32(index % 4), key: nil, value: bytes("\(index)"))
        }

        /// Runs until one record per partition is in flight and more are buffered, then cancels.
        func runAndStop(_ consumer: KafkaConsumer) async throws -> [KafkaRecord] {
            let release = Gate()
            let handled = Collector()
            let running = Task {
                try await consumer.run(maxConcurrentPartitions: 4) { record in
                    await release.wait()
                    handled.append(record)
                }
            }
            try await eventually("4 in flight and the rest of the bound buffered") {
                let statistics = consumer.flowStatistics
                return statistics.inFlight == 4 && statistics.buffered == 12
            }
            running.cancel()  // stops hand-outs synchronously (same path as close())
            release.open()
            try await running.value  // in-flight handlers finished; returns normally
            return handled.records
        }

        // Group: the in-flight records' offsets are stored; a new member resumes right after them.
        let grouped = try KafkaConsumer(
            config: broker.consumerConfig("stop-a"), subscription: .group(id: "stopping", topics: ["steps"]), logger: broker.logger
        )
        let first = try await runAndStop(grouped)
        #expect(first.map(\.offset) == [0, 0, 0, 0], "only the in-flight records were handled")
        await grouped.close()
        let successor = try KafkaConsumer(
            config: broker.consumerConfig("stop-b"), subscription: .group(id: "stopping", topics: ["steps"]), logger: broker.logger
        )
        let resumed = Collector()
        let runningSuccessor = Task { try await successor.run(maxConcurrentPartitions: 4) { resumed.append($0) } }
        try await resumed.wait(forCount: 36)
        await successor.close()
        try await runningSuccessor.value
        for partition in Int32(0)..<4 {
            #expect(resumed.records.filter { $0.partition == partition }.map(\.offset) == Array(1...9))
        }

        // Same consumer, next run: continues at the first record it took but did not handle.
        let tail = try KafkaConsumer(
            config: broker.consumerConfig("stop-tail"), subscription: .allPartitions(topics: ["steps"], startAt: .earliest),
            logger: broker.logger
        )
        #expect(try await runAndStop(tail).count == 4)
        let again = Collector()
        let rerun = Task { try await tail.run(maxConcurrentPartitions: 4) { again.append($0) } }
        try await again.wait(forCount: 36)
        await tail.close()
        try await rerun.value
        await producer.close()
        for partition in Int32(0)..<4 {
            #expect(again.records.filter { $0.partition == partition }.map(\.offset) == Array(1...9))
        }
    }

    @Test("maxConcurrentPartitions below 1 is rejected", .timeLimit(.minutes(1)))
    func invalidConcurrency() async throws {
        let consumer = try KafkaConsumer(
            config: KafkaConfig(bootstrapServers: "127.0.0.1:1", clientID: "c"),
            subscription: .group(id: "g", topics: ["t"]), logger: testLogger("invalid")
        )
        let error = await #expect(throws: KafkaError.self) { try await consumer.run(maxConcurrentPartitions: 0) { _ in } }
        #expect(error?.code == .invalidArgument)
        await consumer.close()
    }
}

/// Measures handler concurrency: the peak number of handlers running at once and whether two
/// records of one partition were ever handled at the same time.
final class ConcurrencyProbe: Sendable {
    private let current = Atomic<Int>(0)
    private let peakValue = Atomic<Int>(0)
    private let overlapCount = Atomic<Int>(0)
    private let busy = Mutex<Set<Int32>>([])

    var peak: Int { peakValue.load(ordering: .relaxed) }
    var overlaps: Int { overlapCount.load(ordering: .relaxed) }

    func measure(_ record: KafkaRecord, _ body: () async throws -> Void) async throws {
        if !busy.withLock({ $0.insert(record.partition).inserted }) { overlapCount.add(1, ordering: .relaxed) }
        let now = current.add(1, ordering: .relaxed).newValue
        var seen = peakValue.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = peakValue.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
        defer {
            current.subtract(1, ordering: .relaxed)
            busy.withLock { _ = $0.remove(record.partition) }
        }
        try await body()
    }
}

/// A one-shot latch: `wait` returns once `open` was called (before or after).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// For conditions that have no event to await (consumer statistics): checks every few ms.
func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(5))
    }
}
