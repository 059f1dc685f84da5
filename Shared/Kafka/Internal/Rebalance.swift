internal import CRdKafka
import Logging

/// What the consumer does when the group coordinator assigns or revokes partitions. Runs inside
/// `rd_kafka_consumer_poll`/`rd_kafka_consumer_close` on the consumer's client thread, possibly
/// while handlers of other records run; `PartitionFlow.revoke` makes sure that only offsets of
/// records handled before the revoke are stored, and so committed. It never waits for a handler
/// (a handler may need the client thread, e.g. to `close()`).
final class RebalanceHandler: Sendable {
    enum Mode: Sendable {
        /// Commit stored offsets on revoke; start from committed offsets on assign.
        case group
        /// Start from offsets supplied by the caller; never commit.
        case external(startAt: StartPosition, startOffsets: @Sendable ([TopicPartition]) throws -> [TopicPartition: Int64])
    }

    let mode: Mode
    let flow: PartitionFlow

    init(mode: Mode, flow: PartitionFlow) {
        self.mode = mode
        self.flow = flow
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
            // First drop buffered records and disown in-flight ones: from here on no offset of
            // these partitions is stored, so the commit below covers exactly what was handled.
            let paused = flow.revoke(cooperative ? topicPartitions : flow.knownPartitions(plus: topicPartitions))
            pausePartitions(rk, false, paused, logger: logger)
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
            pausePartitions(rk, false, flow.revoke(flow.knownPartitions(plus: topicPartitions)), logger: logger)
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

/// Builds a partition list (with offsets when given) for the duration of `body`.
func withPartitionList<R>(
    _ partitions: [(TopicPartition, Int64)], _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> R
) -> R? {
    guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: partitions.count)) else { return nil }
    defer { rd_kafka_topic_partition_list_destroy(list) }
    for (tp, offset) in partitions {
        rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)?.pointee.offset = offset
    }
    return body(list)
}

/// `rd_kafka_pause_partitions` / `rd_kafka_resume_partitions`; both wait for the partitions'
/// broker threads (never for the poll thread), so they are safe inside the rebalance callback.
func pausePartitions(_ rk: OpaquePointer, _ pause: Bool, _ partitions: [TopicPartition], logger: Logger) {
    guard !partitions.isEmpty else { return }
    _ = withPartitionList(partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }) { list in
        let err = pause ? rd_kafka_pause_partitions(rk, list) : rd_kafka_resume_partitions(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.info("kafka pause/resume failed", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
        }
    }
    logger.trace("kafka fetchers \(pause ? "paused" : "resumed")", metadata: ["kafka.partitions": "\(partitions)"])
}
