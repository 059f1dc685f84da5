internal import CRdKafka
import Logging
import Synchronization

/// State shared with librdkafka's C callbacks through the instance opaque. It outlives the
/// `rd_kafka_t` because `RdKafkaHandle` holds it and destroys the handle first.
final class ClientContext: Sendable {
    let logger: Logger
    /// Producer only: continuations waiting for their delivery report.
    let deliveries: DeliveryRegistry?
    /// Consumer only: what to do on rebalance.
    let rebalance: RebalanceHandler?
    /// First unrecoverable error (fatal error event, failed external start offsets, …).
    let failure = Mutex<(any Error)?>(nil)

    init(logger: Logger, deliveries: DeliveryRegistry? = nil, rebalance: RebalanceHandler? = nil) {
        self.logger = logger
        self.deliveries = deliveries
        self.rebalance = rebalance
    }

    func recordFailure(_ error: any Error) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    var currentFailure: (any Error)? { failure.withLock { $0 } }
}

/// Owns one `rd_kafka_t` (and the queue handle used to interrupt blocking polls) and destroys them
/// in `deinit`; everything else borrows the pointer through `withPointer`.
///
/// `@unchecked Sendable`: the pointers are immutable, librdkafka documents `rd_kafka_t` and queue
/// handles as thread-safe, and they are freed only in `deinit`, when no other reference exists.
/// Owners arrange for the last reference to be dropped on their client thread, because
/// `rd_kafka_destroy` blocks.
final class RdKafkaHandle: @unchecked Sendable {
    enum Kind {
        case producer
        case consumer
    }

    private let pointer: OpaquePointer
    /// Main queue (producer) or consumer queue: `rd_kafka_queue_yield` on it ends a blocking poll.
    private let pollQueue: OpaquePointer?
    let context: ClientContext

    init(kind: Kind, properties: [(String, String)], context: ClientContext) throws {
        let conf = try makeConf(properties, context: context)
        if context.deliveries != nil {
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        if context.rebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        rd_kafka_conf_set_error_cb(conf, errorCallback)

        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)  // rd_kafka_new only takes ownership on success
            throw KafkaError(
                code: .invalidConfiguration,
                message: "rd_kafka_new: \(cString(errstr))"
            )
        }
        self.pointer = rk
        self.context = context
        switch kind {
        case .producer:
            self.pollQueue = rd_kafka_queue_get_main(rk)
        case .consumer:
            // Serve rebalance and error events from rd_kafka_consumer_poll (on our client thread).
            rd_kafka_poll_set_consumer(rk)
            self.pollQueue = rd_kafka_queue_get_consumer(rk)
        }
    }

    deinit {
        if let pollQueue { rd_kafka_queue_destroy(pollQueue) }
        rd_kafka_destroy(pointer)
    }

    func withPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(pointer)
    }

    /// Makes a blocking `rd_kafka_poll`/`rd_kafka_consumer_poll` on another thread return now.
    func interruptPoll() {
        if let pollQueue { rd_kafka_queue_yield(pollQueue) }
    }

    /// The stored fatal error, if librdkafka raised one.
    func fatalError(operation: String) -> KafkaError? {
        var buf = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(pointer, &buf, buf.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var error = KafkaError(rdKafka: err, operation: operation, retriable: false, detail: cString(buf))
        error.code = .fatal
        return error
    }
}

func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Configuration

private let sensitiveKeyFragments = ["password", "secret", "sasl", "ssl.key", "token", "credential"]

/// Builds an `rd_kafka_conf_t` with logging routed to the context's `Logger`.
private func makeConf(_ properties: [(String, String)], context: ClientContext) throws -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else {
        throw KafkaError(code: .invalidConfiguration, message: "rd_kafka_conf_new failed")
    }
    var errstr = [CChar](repeating: 0, count: 512)
    for (key, value) in properties {
        let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        if result != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            let lowered = key.lowercased()
            // librdkafka's message may echo the value; never for something that can be a secret.
            let detail = sensitiveKeyFragments.contains { lowered.contains($0) } ? "" : ": \(cString(errstr))"
            throw KafkaError(
                code: .invalidConfiguration,
                rdKafkaCode: nil,
                message: "invalid configuration property \(key)\(detail)"
            )
        }
    }
    rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
    rd_kafka_conf_set_log_cb(conf, logCallback)
    return conf
}

// MARK: - C callbacks (no captures; state comes from the instance opaque)

private func context(of rk: OpaquePointer?) -> ClientContext? {
    guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
    return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
}

/// librdkafka logs from its own threads. Its errors and warnings are mostly transient broker
/// conditions that it retries; as a library we log them at info and below, and surface real
/// failures as thrown errors.
private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let context = context(of: rk), let message else { return }
    let logLevel: Logger.Level =
        switch level {
        case ...4: .info
        case 5, 6: .debug
        default: .trace
        }
    context.logger.log(
        level: logLevel, "\(String(cString: message))",
        metadata: [
            "kafka.facility": "\(facility.map { String(cString: $0) } ?? "")",
            "kafka.syslog_level": "\(level)",
        ]
    )
}

private let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, reason, opaque in
    guard let rk, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let code = rd_kafka_resp_err_t(rawValue: err)
    if code == RD_KAFKA_RESP_ERR__FATAL {
        var buf = [CChar](repeating: 0, count: 512)
        let underlying = rd_kafka_fatal_error(rk, &buf, buf.count)
        var error = KafkaError(rdKafka: underlying, operation: "fatal error", retriable: false, detail: cString(buf))
        error.code = .fatal
        context.logger.info("librdkafka fatal error", metadata: ["kafka.error": "\(error)"])
        context.recordFailure(error)
        return
    }
    context.logger.debug(
        "librdkafka error event",
        metadata: [
            "kafka.error": "\(String(cString: rd_kafka_err2name(code)))",
            "kafka.reason": "\(reason.map { String(cString: $0) } ?? "")",
        ]
    )
}

/// The owner's reference to its handle. Jobs borrow it with `current`; the shutdown job `take`s
/// it so that the handle is destroyed on the client thread.
final class HandleSlot: Sendable {
    private let slot: Mutex<RdKafkaHandle?>

    init(_ handle: RdKafkaHandle) {
        self.slot = Mutex(handle)
    }

    var current: RdKafkaHandle? { slot.withLock { $0 } }

    /// Runs `body` with the handle while holding the slot, for callers off the client thread: the
    /// reference never outlives the lock, so the last one is still dropped by `take`'s caller.
    /// `body` must not block.
    func withCurrent(_ body: (RdKafkaHandle) -> Void) {
        slot.withLock { handle in
            if let handle { body(handle) }
        }
    }

    func take() -> RdKafkaHandle? {
        slot.withLock { state in
            let taken = state
            state = nil
            return taken
        }
    }
}
