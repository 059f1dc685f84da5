internal import CRdKafka
import Foundation
import Logging
import Synchronization

/// librdkafka's in-process mock cluster (`rdkafka_mock.h`): real Kafka protocol on loopback ports,
/// in memory. The development broker and the integration tests' broker.
///
/// Differences from Kafka that matter (librdkafka 2.0.2): each partition keeps at most 5 MiB or
/// 100,000 message sets and silently drops the oldest; nothing survives `close()`; ports are
/// ephemeral (read `bootstrapServers`); any metadata request for an unknown topic creates it with 4
/// partitions (the mock speaks Metadata v2, which cannot say "don't create"); CreateTopics waits for a
/// controller that does not exist and times out (use `createTopic` here); an empty fetch is
/// held for the consumer's full `fetch.wait.max.ms`; group rebalances wait `session.timeout.ms - 1s`
/// (see `KafkaConfig.mockClusterGroupSettings`); commits during a join-triggered rebalance are
/// rejected, so a revoked consumer's last records may be redelivered.
public final class KafkaMockCluster: Sendable {
    /// The mock needs an `rd_kafka_t` to host it; `rk` is an idle producer that never connects.
    private struct Pointers: @unchecked Sendable {
        // Handed from the owner to the destroying thread exactly once (taken out of `state`).
        let rk: OpaquePointer
        let cluster: OpaquePointer
    }

    private let state: Mutex<Pointers?>
    private let context: ClientContext
    public let bootstrapServers: String

    public init(brokers: Int = 1, logger: Logger) throws {
        guard let brokerCount = Int32(exactly: brokers), brokerCount > 0 else {
            throw KafkaError(code: .invalidArgument, message: "mock cluster: broker count must be positive")
        }
        let context = ClientContext(logger: logger)
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .invalidConfiguration, message: "rd_kafka_conf_new failed")
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, mockLogCallback)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: .invalidConfiguration, message: "mock cluster: \(cString(errstr))")
        }
        guard let cluster = rd_kafka_mock_cluster_new(rk, brokerCount) else {
            rd_kafka_destroy(rk)
            throw KafkaError(code: .other, message: "mock cluster: rd_kafka_mock_cluster_new failed")
        }
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        self.context = context
        self.state = Mutex(Pointers(rk: rk, cluster: cluster))
        let ports = Set(bootstrapServers.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } })
        let patched = Self.disableNagle(onListenersAt: ports)
        if patched < ports.count {
            logger.warning("kafka mock cluster: TCP_NODELAY not set on every listener; small responses may wait for delayed ACKs (about 40 ms)",
                           metadata: ["kafka.bootstrap": "\(bootstrapServers)", "listeners.patched": "\(patched)"])
        }
        logger.info("kafka mock cluster started", metadata: ["kafka.bootstrap": "\(bootstrapServers)"])
    }

    /// The mock broker accepts connections without TCP_NODELAY (rdkafka_mock.c) and writes
    /// each response with its own send. With Nagle on, a response queued behind an
    /// unacknowledged one waits for the client's delayed ACK, about 40 ms on Linux: measured as
    /// a p90 of 43 ms per acknowledged produce against a p50 of 1–3 ms. Accepted sockets inherit
    /// TCP_NODELAY from their listener on Linux, so setting it on this process's listening
    /// sockets at the cluster's ports, before any client connects, fixes every connection.
    /// Returns how many listeners were set.
    static func disableNagle(onListenersAt ports: Set<UInt16>) -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        var patched = 0
        for entry in entries {
            guard let fd = Int32(entry) else { continue }
            var listening: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1 else { continue }
            var address = sockaddr_in()
            var addressLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &addressLength) }
            }
            guard named == 0, address.sin_family == sa_family_t(AF_INET), ports.contains(UInt16(bigEndian: address.sin_port)) else { continue }
            var on: Int32 = 1
            if setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 { patched += 1 }
        }
        return patched
    }

    deinit {
        // Not closed explicitly: destroy without blocking the releasing thread.
        if let pointers = takePointers() {
            let context = self.context
            Thread.detachNewThread { Self.destroy(pointers, keepingAlive: context) }
        }
    }

    /// Creates a topic (replication factor 1). "Already exists" is not an error (partition count
    /// is not compared). Blocks only for a round trip to the mock's own thread.
    public func createTopic(_ name: String, partitions: Int) throws {
        guard let count = Int32(exactly: partitions), count > 0 else {
            throw KafkaError(code: .invalidArgument, message: "mock createTopic: partitions must be positive")
        }
        let err = try state.withLock { pointers -> rd_kafka_resp_err_t in
            guard let pointers else { throw KafkaError.closed("mock createTopic") }
            return rd_kafka_mock_topic_create(pointers.cluster, name, count, 1)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
            throw KafkaError(rdKafka: err, operation: "mock createTopic")
        }
    }

    /// Fault injection: makes metadata and requests for `topic` fail with `code` (nil clears it).
    /// Supported: `.unknownTopicOrPartition`, `.brokerUnavailable` (leader not available),
    /// `.authorization`. Creates the topic if needed.
    public func setTopicError(_ topic: String, _ code: KafkaError.Code?) throws {
        let err: rd_kafka_resp_err_t
        switch code {
        case nil: err = RD_KAFKA_RESP_ERR_NO_ERROR
        case .unknownTopicOrPartition: err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
        case .brokerUnavailable: err = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE
        case .authorization: err = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
        case .some(let other):
            throw KafkaError(code: .invalidArgument, message: "mock setTopicError: \(other.rawValue) cannot be injected")
        }
        try state.withLock { pointers in
            guard let pointers else { throw KafkaError.closed("mock setTopicError") }
            rd_kafka_mock_topic_set_error(pointers.cluster, topic, err)
        }
    }

    /// Stops the brokers (clients see disconnects) and frees everything. Idempotent.
    /// Destroying the mock can block for up to a second (its thread sleeps in 1 s polls), so it
    /// runs on a thread of its own.
    public func close() async {
        guard let pointers = takePointers() else { return }
        let context = self.context
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                Self.destroy(pointers, keepingAlive: context)
                continuation.resume()
            }
        }
        context.logger.debug("kafka mock cluster closed")
    }

    private func takePointers() -> Pointers? {
        state.withLock { state in
            let taken = state
            state = nil
            return taken
        }
    }

    /// `context` is the log callback's opaque; it must outlive the `rd_kafka_t`.
    private static func destroy(_ pointers: Pointers, keepingAlive context: ClientContext) {
        rd_kafka_mock_cluster_destroy(pointers.cluster)
        rd_kafka_destroy(pointers.rk)
        withExtendedLifetime(context) {}
    }
}

private let mockLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, _, message in
    guard let rk, let opaque = rd_kafka_opaque(rk), let message else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    context.logger.log(level: level <= 4 ? .info : .debug, "\(String(cString: message))", metadata: ["kafka.facility": "mock"])
}
