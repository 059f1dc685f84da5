internal import CRdKafka
import Logging

/// Idempotent producer (`enable.idempotence=true`, `acks=all`, `linger.ms=0`,
/// `socket.nagle.disable=true`, Java-compatible `murmur2_random` partitioner; all overridable via
/// `extra`).
///
/// A dedicated thread serves delivery reports; `send` resumes from the delivery report of its
/// message, so awaiting it means the broker acknowledged the record. Records sent with the same key
/// (and not awaited concurrently) keep their order. `send` is not cancellable: once enqueued, the
/// record's fate is decided by librdkafka (`message.timeout.ms`).
public final class KafkaProducer: Sendable {
    private let handle: HandleSlot
    private let deliveries: DeliveryRegistry
    private let thread: ClientThread
    private let logger: Logger

    public init(config: KafkaConfig, logger: Logger) throws {
        var properties: [(String, String)] = [
            ("bootstrap.servers", config.bootstrapServers),
            ("client.id", config.clientID),
            ("socket.nagle.disable", "true"),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            // Latency first: under load librdkafka still batches what queues up while requests are in flight.
            ("linger.ms", "0"),
            ("partitioner", "murmur2_random"),
        ]
        properties += config.extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }

        let deliveries = DeliveryRegistry()
        let rdHandle = try RdKafkaHandle(
            kind: .producer, properties: properties,
            context: ClientContext(logger: logger, deliveries: deliveries)
        )
        self.handle = HandleSlot(rdHandle)
        self.deliveries = deliveries
        self.logger = logger
        self.thread = makePollingThread(name: "kafka-producer", handle: rdHandle)
    }

    deinit {
        // Not closed explicitly: no send can be pending (each holds `self`), so just tear down on
        // the client thread, without blocking the releasing thread.
        let handle = self.handle
        let deliveries = self.deliveries
        let thread = self.thread
        thread.enqueue {
            Self.shutdown(handle: handle, deliveries: deliveries, flushTimeoutMs: 1000)
            thread.stop()
        }
        thread.stop()
    }

    /// Sends one record and returns where it was stored once the broker acknowledged it.
    /// `partition` nil lets the partitioner choose (by key hash; random for a nil key);
    /// `timestampMs` nil stamps the record with the current time (CreateTime).
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [], timestampMs: Int64? = nil
    ) async throws -> (partition: Int32, offset: Int64) {
        // Produce is non-blocking (no RD_KAFKA_MSG_F_BLOCK), so it is fine on the cooperative pool.
        guard let rdHandle = handle.current else { throw KafkaError.closed("send") }
        return try await withCheckedThrowingContinuation { continuation in
            guard let id = deliveries.register(continuation) else {
                continuation.resume(throwing: KafkaError.closed("send"))
                return
            }
            if let error = rdHandle.produce(
                topic: topic, partition: partition, key: key, value: value, headers: headers, timestampMs: timestampMs, opaque: id
            ) {
                deliveries.take(id)?.resume(throwing: error)
            }
        }
    }

    /// Waits until every record sent so far was acknowledged (or failed).
    public func flush(timeout: Duration) async throws {
        let ms = timeout.milliseconds
        try await thread.submit("flush") { [handle] in
            guard let rdHandle = handle.current else { throw KafkaError.closed("flush") }
            let err = rdHandle.withPointer { rd_kafka_flush($0, ms) }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(rdKafka: err, operation: "flush") }
        }
    }

    /// Flushes (up to `flushTimeout`), fails what is still unacknowledged with `.purged`/`.closed`,
    /// stops the poll thread and destroys the handle. Idempotent.
    public func close(flushTimeout: Duration = .seconds(10)) async {
        let ms = flushTimeout.milliseconds
        let handle = self.handle
        let deliveries = self.deliveries
        let thread = self.thread
        do {
            try await thread.submit("close") {
                Self.shutdown(handle: handle, deliveries: deliveries, flushTimeoutMs: ms)
                thread.stop()
            }
        } catch {
            // Already closed: the thread accepted the first close and has stopped.
        }
        logger.debug("kafka producer closed")
    }

    /// Runs on the client thread. Takes the handle out so that it is destroyed here, on return.
    private static func shutdown(handle: HandleSlot, deliveries: DeliveryRegistry, flushTimeoutMs: Int32) {
        guard let rdHandle = handle.take() else { return }
        rdHandle.withPointer { rk in
            if rd_kafka_flush(rk, flushTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR {
                rdHandle.context.logger.info(
                    "kafka producer close: flush timed out, purging",
                    metadata: ["kafka.pending": "\(deliveries.pendingCount)"]
                )
                let flags = Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
                _ = rd_kafka_purge(rk, flags)
                // Serves the purged messages' delivery reports (they fail with .purged).
                _ = rd_kafka_flush(rk, 1000)
            }
        }
        // Anything a concurrent send enqueued after the flush will never get a report served.
        deliveries.close(with: KafkaError.closed("send"))
    }
}

/// A client thread that serves the main queue (delivery reports, error events) while idle.
func makePollingThread(name: String, handle: RdKafkaHandle) -> ClientThread {
    // Weak: the thread must not keep the handle alive after the owner's shutdown job dropped it.
    ClientThread(
        name: name,
        idle: { [weak handle] in
            guard let handle else { return false }
            handle.withPointer { _ = rd_kafka_poll($0, 1000) }
            return true
        },
        interrupt: { [weak handle] in handle?.interruptPoll() }
    )
}

extension Duration {
    /// Clamped to librdkafka's `int` millisecond timeouts.
    var milliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        if ms.overflow || seconds < 0 { return seconds < 0 ? 0 : Int32.max }
        let total = ms.partialValue + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, total))
    }
}

extension RdKafkaHandle {
    /// Enqueues one message with `rd_kafka_produceva` (Swift cannot call the variadic
    /// `rd_kafka_producev`). Payload, key and headers are copied by librdkafka.
    func produce(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], timestampMs: Int64? = nil, opaque: UInt
    ) -> KafkaError? {
        // Header names and values live in one scratch buffer for the duration of the call.
        var scratchSize = 0
        for header in headers { scratchSize += header.key.utf8.count + 1 + (header.value?.count ?? 0) }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(scratchSize, 1), alignment: 1)
        defer { scratch.deallocate() }

        var vus: [rd_kafka_vu_t] = []
        vus.reserveCapacity(6 + headers.count)
        var cursor = 0
        for header in headers {
            let name = scratch.baseAddress! + cursor
            for byte in header.key.utf8 { scratch[cursor] = byte; cursor += 1 }
            scratch[cursor] = 0; cursor += 1
            var vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_HEADER
            vu.u.header.name = UnsafePointer(name.assumingMemoryBound(to: CChar.self))
            if let headerValue = header.value {
                let start = scratch.baseAddress! + cursor
                for byte in headerValue { scratch[cursor] = byte; cursor += 1 }
                vu.u.header.val = UnsafeRawPointer(start)
                vu.u.header.size = headerValue.count
            } else {
                vu.u.header.val = nil  // a null header value
                vu.u.header.size = 0
            }
            vus.append(vu)
        }

        // A non-null pointer is what makes an empty key/value "empty" rather than null.
        var emptyMarker: UInt8 = 0
        return withUnsafeMutablePointer(to: &emptyMarker) { empty in
            value.withUnsafeBytes { valueBytes in
                withOptionalBytes(key) { keyBytes in
                    topic.withCString { topicName in
                        var vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_TOPIC
                        vu.u.cstr = topicName
                        vus.append(vu)

                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_VALUE
                        vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress) ?? UnsafeMutableRawPointer(empty)
                        vu.u.mem.size = valueBytes.count
                        vus.append(vu)

                        if let keyBytes {
                            vu = rd_kafka_vu_t()
                            vu.vtype = RD_KAFKA_VTYPE_KEY
                            vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress) ?? UnsafeMutableRawPointer(empty)
                            vu.u.mem.size = keyBytes.count
                            vus.append(vu)
                        }
                        if let partition {
                            vu = rd_kafka_vu_t()
                            vu.vtype = RD_KAFKA_VTYPE_PARTITION
                            vu.u.i32 = partition
                            vus.append(vu)
                        }
                        if let timestampMs {
                            vu = rd_kafka_vu_t()
                            vu.vtype = RD_KAFKA_VTYPE_TIMESTAMP
                            vu.u.i64 = timestampMs
                            vus.append(vu)
                        }
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                        vu.u.i = RD_KAFKA_MSG_F_COPY
                        vus.append(vu)

                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_OPAQUE
                        vu.u.ptr = UnsafeMutableRawPointer(bitPattern: opaque)
                        vus.append(vu)

                        let error = withPointer { rk in
                            vus.withUnsafeBufferPointer { rd_kafka_produceva(rk, $0.baseAddress, $0.count) }
                        }
                        guard let error else { return nil }
                        return KafkaError(consuming: error, operation: "produce")
                    }
                }
            }
        }
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
