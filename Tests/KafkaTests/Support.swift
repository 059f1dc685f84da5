import Foundation
import Kafka
import Logging
import Synchronization

/// Test logger: quiet unless KAFKA_TEST_LOG=debug|info|trace.
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    let level = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .notice
    return logger
}

/// A mock cluster plus the configs the tests use against it.
struct Broker {
    let cluster: KafkaMockCluster
    let logger: Logger

    init(_ name: String, topics: [String: Int]) throws {
        logger = testLogger(name)
        cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        for (topic, partitions) in topics.sorted(by: { $0.key < $1.key }) {
            try cluster.createTopic(topic, partitions: partitions)
        }
    }

    var producerConfig: KafkaConfig {
        KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "test-producer")
    }

    func consumerConfig(_ clientID: String, fetchWaitMaxMs: Int = 5) -> KafkaConfig {
        KafkaConfig(
            bootstrapServers: cluster.bootstrapServers, clientID: clientID, fetchWaitMaxMs: fetchWaitMaxMs,
            extra: KafkaConfig.mockClusterGroupSettings.merging(
                ProcessInfo.processInfo.environment["KAFKA_RDDEBUG"].map { ["debug": $0] } ?? [:]
            ) { $1 }
        )
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Records handled by a consumer; tests await conditions on them instead of sleeping.
final class Collector: Sendable {
    private struct Waiter {
        let id: Int
        let predicate: @Sendable ([KafkaRecord]) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var records: [KafkaRecord] = []
        var waiters: [Waiter] = []
        var nextID = 0
    }

    private let state = Mutex(State())

    var records: [KafkaRecord] { state.withLock { $0.records } }

    func append(_ record: KafkaRecord) {
        let ready = state.withLock { state -> [Waiter] in
            state.records.append(record)
            let records = state.records
            let ready = state.waiters.filter { $0.predicate(records) }
            state.waiters.removeAll { waiter in ready.contains { $0.id == waiter.id } }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Waits until `predicate` holds for the records so far; throws after `timeout`.
    func wait(
        _ what: String, timeout: Duration = .seconds(30), until predicate: @escaping @Sendable ([KafkaRecord]) -> Bool
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.waitUntil(predicate) }
            group.addTask {
                try await Task.sleep(for: timeout)  // a deadline, not synchronisation
                throw TimedOut(what: what)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    func wait(forCount count: Int, timeout: Duration = .seconds(30)) async throws {
        try await wait("\(count) records", timeout: timeout) { $0.count >= count }
    }

    private func waitUntil(_ predicate: @escaping @Sendable ([KafkaRecord]) -> Bool) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let satisfied = state.withLock { state -> Bool in
                    if predicate(state.records) || Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, predicate: predicate, continuation: continuation))
                    return false
                }
                if satisfied { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}

/// Runs `consumer.run` in a task that appends to `collector`.
func startConsuming(_ consumer: KafkaConsumer, into collectors: Collector...) -> Task<Void, any Error> {
    Task {
        try await consumer.run { record in
            for collector in collectors { collector.append(record) }
        }
    }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

struct Position: Hashable, Sendable, CustomStringConvertible {
    var partition: Int32
    var offset: Int64
    var description: String { "\(partition)@\(offset)" }
}

extension KafkaRecord {
    var position: Position { Position(partition: partition, offset: offset) }
}
