internal import CRdKafka
import Synchronization

/// Continuations of in-flight `send`s, keyed by the id passed to librdkafka as the message opaque.
/// Each one is resumed exactly once: by its delivery report, by a failed enqueue, or by `close`.
final class DeliveryRegistry: Sendable {
    typealias Continuation = CheckedContinuation<(partition: Int32, offset: Int64), any Error>

    private struct State {
        var nextID: UInt = 1  // 0 would be a null opaque
        var pending: [UInt: Continuation] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// Returns nil once closed (the caller must then resume the continuation itself).
    func register(_ continuation: Continuation) -> UInt? {
        state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextID
            state.nextID &+= 1
            state.pending[id] = continuation
            return id
        }
    }

    func take(_ id: UInt) -> Continuation? {
        state.withLock { $0.pending.removeValue(forKey: id) }
    }

    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Rejects new sends and fails those still waiting.
    func close(with error: KafkaError) {
        let pending = state.withLock { state in
            state.closed = true
            let pending = state.pending
            state.pending.removeAll()
            return pending
        }
        for continuation in pending.values { continuation.resume(throwing: error) }
    }
}

/// Runs on the thread that serves the main queue (the producer's client thread).
let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let id = UInt(bitPattern: message.pointee._private)
    guard id != 0, let continuation = context.deliveries?.take(id) else { return }
    let err = message.pointee.err
    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
        continuation.resume(returning: (message.pointee.partition, message.pointee.offset))
    } else {
        continuation.resume(throwing: KafkaError(rdKafka: err, operation: "delivery"))
    }
}
