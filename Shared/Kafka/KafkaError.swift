internal import CRdKafka

/// An error from the Kafka wrapper or librdkafka.
///
/// `code` is stable and meant for `switch`; `rdKafkaCode` is librdkafka's `rd_kafka_resp_err_t`
/// (negative values are client-side errors, positive ones come from the broker). Messages name the
/// operation and librdkafka's description, never payloads or configuration values.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case invalidConfiguration
        case invalidArgument
        /// The client was closed (or is closing) before the operation could run.
        case closed
        /// The producer's local queue is full (`queue.buffering.max.messages`); retry later.
        case queueFull
        case timedOut
        case messageTooLarge
        case unknownTopicOrPartition
        /// No broker reachable / connection failed.
        case brokerUnavailable
        case authentication
        case authorization
        /// The message was purged before delivery (producer closed before it was acknowledged).
        case purged
        /// The broker does not implement the request.
        case unsupportedFeature
        /// The client instance is unusable (e.g. idempotent producer fenced); recreate it.
        case fatal
        /// Any other librdkafka error; see `rdKafkaCode`.
        case other
    }

    public var code: Code
    /// librdkafka's `rd_kafka_resp_err_t`, when the error came from librdkafka.
    public var rdKafkaCode: Int32?
    public var message: String
    public var isRetriable: Bool

    public init(code: Code, rdKafkaCode: Int32? = nil, message: String, isRetriable: Bool = false) {
        self.code = code
        self.rdKafkaCode = rdKafkaCode
        self.message = message
        self.isRetriable = isRetriable
    }

    public var description: String {
        if let rdKafkaCode {
            return "KafkaError(\(code.rawValue), rdkafka \(rdKafkaCode)): \(message)"
        }
        return "KafkaError(\(code.rawValue)): \(message)"
    }
}

extension KafkaError {
    static func closed(_ operation: String) -> KafkaError {
        KafkaError(code: .closed, message: "\(operation): client is closed")
    }

    /// Maps an `rd_kafka_resp_err_t` to a stable code. `operation` says where it happened.
    init(rdKafka err: rd_kafka_resp_err_t, operation: String, retriable: Bool? = nil, detail: String? = nil) {
        let code: Code
        var retriableByCode = false
        switch err {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            code = .queueFull; retriableByCode = true
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
             RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
            code = .timedOut; retriableByCode = true
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
            code = .messageTooLarge
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
             RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            code = .unknownTopicOrPartition; retriableByCode = true
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__RESOLVE,
             RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
             RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
            code = .brokerUnavailable; retriableByCode = true
        case RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
             RD_KAFKA_RESP_ERR__SSL:
            code = .authentication
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
             RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
            code = .authorization
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
            code = .purged; retriableByCode = true
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE, RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
            code = .unsupportedFeature
        case RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
             RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
            code = .fatal
        case RD_KAFKA_RESP_ERR__INVALID_ARG, RD_KAFKA_RESP_ERR_INVALID_PARTITIONS,
             RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR, RD_KAFKA_RESP_ERR_INVALID_CONFIG,
             RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
            code = .invalidArgument
        case RD_KAFKA_RESP_ERR__DESTROY:
            code = .closed
        default:
            code = .other
        }
        var text = "\(operation): \(String(cString: rd_kafka_err2str(err)))"
        if let detail, !detail.isEmpty { text += " (\(detail))" }
        self.init(
            code: code,
            rdKafkaCode: err.rawValue,
            message: text,
            isRetriable: retriable ?? retriableByCode
        )
    }

    /// Takes ownership of `error` and destroys it.
    init(consuming error: OpaquePointer, operation: String) {
        let err = rd_kafka_error_code(error)
        let detail = String(cString: rd_kafka_error_string(error))
        let retriable = rd_kafka_error_is_retriable(error) != 0
        let fatal = rd_kafka_error_is_fatal(error) != 0
        rd_kafka_error_destroy(error)
        self.init(rdKafka: err, operation: operation, retriable: retriable, detail: detail)
        if fatal { self.code = .fatal; self.isRetriable = false }
    }
}
