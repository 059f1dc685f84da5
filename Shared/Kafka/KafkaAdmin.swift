internal import CRdKafka
import Logging

/// Metadata and admin helpers used by services' `/ready`, the development broker and analyst tools.
///
/// Uses its own client (`allow.auto.create.topics=false`, so asking about a topic never creates
/// it); every call runs on the admin's client thread.
public final class KafkaAdmin: Sendable {
    private let handle: HandleSlot
    private let thread: ClientThread

    public init(config: KafkaConfig, logger: Logger) throws {
        var properties: [(String, String)] = [
            ("bootstrap.servers", config.bootstrapServers),
            ("client.id", config.clientID),
            ("socket.nagle.disable", "true"),
            ("allow.auto.create.topics", "false"),
        ]
        properties += config.extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let rdHandle = try RdKafkaHandle(kind: .producer, properties: properties, context: ClientContext(logger: logger))
        self.handle = HandleSlot(rdHandle)
        self.thread = makePollingThread(name: "kafka-admin", handle: rdHandle)
    }

    deinit {
        let handle = self.handle
        let thread = self.thread
        thread.enqueue { Self.release(handle) }
        thread.stop()
    }

    /// Throws `.unknownTopicOrPartition` if the topic does not exist (on the 2.0.2 mock cluster,
    /// asking creates it, see `KafkaMockCluster`).
    public func partitionCount(topic: String, timeout: Duration) async throws -> Int {
        let ms = timeout.milliseconds
        return try await run("partitionCount") { try $0.partitions(of: topic, timeoutMs: ms).count }
    }

    /// Log-start and high-watermark offsets (`high` is the offset the next record will get).
    public func watermarks(_ tp: TopicPartition, timeout: Duration) async throws -> (low: Int64, high: Int64) {
        let ms = timeout.milliseconds
        let result = try await run("watermarks") { handle -> Watermarks in
            let (low, high) = try handle.watermarks(tp, timeoutMs: ms)
            return Watermarks(low: low, high: high)
        }
        return (result.low, result.high)
    }

    /// Succeeds when a broker answers a metadata request.
    public func ping(timeout: Duration) async throws {
        let ms = timeout.milliseconds
        try await run("ping") { try $0.ping(timeoutMs: ms) }
    }

    /// CreateTopics admin API; "already exists" is not an error (the existing topic is not
    /// checked against `partitions`). On the 2.0.2 mock cluster this times out (it has no controller);
    /// use `KafkaMockCluster.createTopic` there.
    public func createTopic(
        _ name: String, partitions: Int, replicationFactor: Int, config: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) async throws {
        guard let partitions = Int32(exactly: partitions), partitions > 0,
              let replicationFactor = Int32(exactly: replicationFactor), replicationFactor > 0
        else {
            throw KafkaError(code: .invalidArgument, message: "createTopic: partitions and replication factor must be positive")
        }
        let ms = timeout.milliseconds
        try await run("createTopic") {
            try $0.createTopic(name, partitions: partitions, replicationFactor: replicationFactor, config: config, timeoutMs: ms)
        }
    }

    /// Stops the client thread and destroys the handle. Idempotent; later calls throw `.closed`.
    public func close() async {
        let handle = self.handle
        let thread = self.thread
        _ = try? await thread.submit("close") {
            Self.release(handle)
            thread.stop()
        }
    }

    private func run<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (RdKafkaHandle) throws -> T) async throws -> T {
        try await thread.submit(operation) { [handle] in
            guard let rdHandle = handle.current else { throw KafkaError.closed(operation) }
            return try body(rdHandle)
        }
    }

    /// On the client thread: the handle is destroyed here when the taken reference goes away.
    private static func release(_ handle: HandleSlot) {
        _ = handle.take()
    }
}

private struct Watermarks: Sendable {
    var low: Int64
    var high: Int64
}
