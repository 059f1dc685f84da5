internal import CRdKafka
import Logging

/// What the consumer does when the group coordinator assigns or revokes partitions. Runs inside
/// `rd_kafka_consumer_poll`/`rd_kafka_consumer_close` on the consumer's client thread, never while
/// the handler is running, so every handled record's offset has been stored before a revoke.
final class RebalanceHandler: Sendable {
    enum Mode: Sendable {
        /// Commit stored offsets on revoke; start from committed offsets on assign.
        case group
        /// Start from offsets supplied by the caller; never commit.
        case external(startAt: StartPosition, startOffsets: @Sendable ([TopicPartition]) throws -> [TopicPartition: Int64])
    }

    let mode: Mode

    init(mode: Mode) {
        self.mode = mode
    }

    func handle(
        rk: OpaquePointer, err: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        context: ClientContext
    ) {
        let logger = context.logger
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
        let topicPartitions = partitions.map(topicPartitionList) ?? []

        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("kafka partitions assigned", metadata: ["kafka.partitions": "\(topicPartitions.count)"])
            logger.debug("kafka assignment", metadata: ["kafka.assigned": "\(topicPartitions)"])
            switch mode {
            case .group:
                // Offsets are RD_KAFKA_OFFSET_INVALID: librdkafka fetches the committed ones
                // (or applies auto.offset.reset).
                assign(rk, partitions, cooperative: cooperative, logger: logger)
            case .external(let startAt, let startOffsets):
                guard let partitions else { return }
                do {
                    let offsets = try startOffsets(topicPartitions)
                    guard let copy = rd_kafka_topic_partition_list_copy(partitions) else { return }
                    defer { rd_kafka_topic_partition_list_destroy(copy) }
                    let fallback = startAt == .earliest ? Int64(RD_KAFKA_OFFSET_BEGINNING) : Int64(RD_KAFKA_OFFSET_END)
                    for index in 0..<Int(copy.pointee.cnt) {
                        let element = copy.pointee.elems + index
                        let tp = TopicPartition(topic: String(cString: element.pointee.topic), partition: element.pointee.partition)
                        if let offset = offsets[tp] {
                            guard offset >= 0 else {
                                throw KafkaError(code: .invalidArgument, message: "startOffsets returned a negative offset for \(tp)")
                            }
                            element.pointee.offset = offset
                        } else {
                            element.pointee.offset = fallback
                        }
                    }
                    assign(rk, copy, cooperative: cooperative, logger: logger)
                } catch {
                    // Consuming from a guessed position would break the caller's exactly-once
                    // bookkeeping: take nothing and let `run` rethrow.
                    logger.info("kafka external start offsets failed", metadata: ["kafka.error": "\(error)"])
                    context.recordFailure(error)
                    if cooperative { return }  // nothing was incrementally assigned
                    _ = rd_kafka_assign(rk, nil)
                }
            }

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            logger.info("kafka partitions revoked", metadata: ["kafka.partitions": "\(topicPartitions.count)"])
            if case .group = mode, rd_kafka_assignment_lost(rk) == 0 {
                // Synchronous: the next owner must start after everything this member handled.
                let commitErr = rd_kafka_commit(rk, nil, 0)
                if commitErr != RD_KAFKA_RESP_ERR_NO_ERROR && commitErr != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    logger.info(
                        "kafka commit on revoke failed; uncommitted records will be redelivered",
                        metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(commitErr)))"]
                    )
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    logger.info("kafka incremental unassign failed", metadata: ["kafka.error": "\(KafkaError(consuming: error, operation: "unassign"))"])
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }

        default:
            logger.info("kafka rebalance error", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            _ = rd_kafka_assign(rk, nil)
        }
    }

    private func assign(
        _ rk: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, cooperative: Bool, logger: Logger
    ) {
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, list) {
                logger.info("kafka incremental assign failed", metadata: ["kafka.error": "\(KafkaError(consuming: error, operation: "assign"))"])
            }
        } else {
            let err = rd_kafka_assign(rk, list)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.info("kafka assign failed", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            }
        }
    }
}

func topicPartitionList(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
    (0..<Int(list.pointee.cnt)).map { index in
        let element = list.pointee.elems[index]
        return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
    }
}

let rebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { rk, err, partitions, opaque in
    guard let rk, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    guard let handler = context.rebalance else {
        _ = rd_kafka_assign(rk, nil)
        return
    }
    handler.handle(rk: rk, err: err, partitions: partitions, context: context)
}
