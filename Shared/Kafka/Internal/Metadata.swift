internal import CRdKafka

/// Blocking metadata queries; call only from a client thread.
extension RdKafkaHandle {
    /// Partition ids of `topic`; throws `.unknownTopicOrPartition` if the cluster does not know it.
    func partitions(of topic: String, timeoutMs: Int32) throws -> [Int32] {
        try withPointer { rk in
            guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
                throw KafkaError(rdKafka: rd_kafka_last_error(), operation: "metadata")
            }
            defer { rd_kafka_topic_destroy(rkt) }
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let err = rd_kafka_metadata(rk, 0, rkt, &metadata, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError(rdKafka: err, operation: "metadata")
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
            guard let entry = topics.first(where: { String(cString: $0.topic) == topic }) else {
                throw KafkaError(rdKafka: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, operation: "metadata")
            }
            if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(rdKafka: entry.err, operation: "metadata")
            }
            let partitions = UnsafeBufferPointer(start: entry.partitions, count: Int(entry.partition_cnt))
            return partitions.map(\.id).sorted()
        }
    }

    func watermarks(_ tp: TopicPartition, timeoutMs: Int32) throws -> (low: Int64, high: Int64) {
        try withPointer { rk in
            var low: Int64 = -1
            var high: Int64 = -1
            let err = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &low, &high, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdKafka: err, operation: "watermarks") }
            return (low, high)
        }
    }

    /// High watermarks of many partitions with one ListOffsets request per leader
    /// (`rd_kafka_offsets_for_times` with the "latest" timestamp, -1).
    func highWatermarks(_ partitions: [TopicPartition], timeoutMs: Int32) throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        return try withPointer { rk in
            guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: partitions.count)) else {
                throw KafkaError(code: .other, message: "watermarks: allocation failed")
            }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for tp in partitions {
                rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)?.pointee.offset = Int64(RD_KAFKA_OFFSET_END)
            }
            let err = rd_kafka_offsets_for_times(rk, list, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdKafka: err, operation: "watermarks") }
            var result: [TopicPartition: Int64] = [:]
            for index in 0..<Int(list.pointee.cnt) {
                let element = list.pointee.elems[index]
                let tp = TopicPartition(topic: String(cString: element.topic), partition: element.partition)
                guard element.err == RD_KAFKA_RESP_ERR_NO_ERROR, element.offset >= 0 else {
                    throw KafkaError(rdKafka: element.err, operation: "watermarks \(tp)")
                }
                result[tp] = element.offset
            }
            return result
        }
    }

    /// A metadata request for no topic in particular: succeeds iff a broker answers.
    func ping(timeoutMs: Int32) throws {
        try withPointer { rk in
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let err = rd_kafka_metadata(rk, 0, nil, &metadata, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError(rdKafka: err, operation: "ping")
            }
            rd_kafka_metadata_destroy(metadata)
        }
    }

    /// CreateTopics admin request. "Already exists" counts as success.
    func createTopic(
        _ name: String, partitions: Int32, replicationFactor: Int32, config: [String: String], timeoutMs: Int32
    ) throws {
        try withPointer { rk in
            var errstr = [CChar](repeating: 0, count: 512)
            guard let newTopic = rd_kafka_NewTopic_new(name, partitions, replicationFactor, &errstr, errstr.count) else {
                throw KafkaError(code: .invalidArgument, message: "createTopic: \(cString(errstr))")
            }
            defer { rd_kafka_NewTopic_destroy(newTopic) }
            for (key, value) in config.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(newTopic, key, value)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError(rdKafka: err, operation: "createTopic config \(key)")
                }
            }
            guard let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS) else {
                throw KafkaError(code: .other, message: "createTopic: rd_kafka_AdminOptions_new failed")
            }
            defer { rd_kafka_AdminOptions_destroy(options) }
            _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)

            guard let queue = rd_kafka_queue_new(rk) else {
                throw KafkaError(code: .other, message: "createTopic: rd_kafka_queue_new failed")
            }
            defer { rd_kafka_queue_destroy(queue) }
            var topics: [OpaquePointer?] = [newTopic]
            rd_kafka_CreateTopics(rk, &topics, 1, options, queue)

            // The admin request has its own timeout; wait a little longer so we get its answer.
            guard let event = rd_kafka_queue_poll(queue, timeoutMs &+ 5000) else {
                throw KafkaError(rdKafka: RD_KAFKA_RESP_ERR__TIMED_OUT, operation: "createTopic")
            }
            defer { rd_kafka_event_destroy(event) }
            let eventErr = rd_kafka_event_error(event)
            if eventErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                let detail = rd_kafka_event_error_string(event).map { String(cString: $0) }
                throw KafkaError(rdKafka: eventErr, operation: "createTopic", detail: detail)
            }
            guard let result = rd_kafka_event_CreateTopics_result(event) else {
                throw KafkaError(code: .other, message: "createTopic: unexpected event")
            }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count), count > 0 else {
                throw KafkaError(code: .other, message: "createTopic: empty result")
            }
            for index in 0..<count {
                guard let topicResult = results[index] else { continue }
                let err = rd_kafka_topic_result_error(topicResult)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { continue }
                let detail = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                throw KafkaError(rdKafka: err, operation: "createTopic", detail: detail)
            }
        }
    }
}
