import Foundation
import Logging
import Tracing
import Synchronization

/// A fixed number of connections, each owned by its own dedicated thread, so blocking libpq
/// calls never occupy Swift's cooperative pool. Callers wait for a free connection without
/// blocking a thread (continuations), in FIFO order. Connections are opened lazily and
/// replaced when found broken (checked with a non-blocking poll before each use). A
/// transaction left open by a body is rolled back before the connection is reused.
///
/// Cancelling the calling task while it waits throws `CancellationError`; cancelling it while
/// its body runs sends a Postgres cancel request, so the running statement fails with
/// SQLSTATE 57014 (`isQueryCanceled`).
public final class PostgresPool: Sendable {
    private let slots: [Slot]
    private let state = Mutex(PoolState())
    private let nextID = Atomic<UInt64>(1)
    private let acquireTimeout: Duration?
    private let logger: Logger

    /// - Parameters:
    ///   - url: libpq URI or key=value string (never logged).
    ///   - size: number of connections and threads (≥ 1).
    ///   - applicationName: shown in pg_stat_activity unless the URL sets one.
    ///   - acquireTimeout: how long a caller may wait for a free connection before `.timeout`;
    ///     nil waits indefinitely (until cancelled or the pool closes).
    ///   - preparesStatements: connections prepare repeated statements (`StatementCache`);
    ///     off behind a pooler that does not keep them.
    public init(
        url: String, size: Int, applicationName: String? = nil, acquireTimeout: Duration? = nil,
        preparesStatements: Bool = true, logger: Logger
    ) {
        precondition(size >= 1, "PostgresPool size must be at least 1")
        self.acquireTimeout = acquireTimeout
        self.logger = logger
        let connector = Connector(url: url, applicationName: applicationName, preparesStatements: preparesStatements, logger: logger)
        self.slots = (0..<size).map { Slot(index: $0, connector: connector) }
        state.withLock { $0.idle = Array((0..<size).reversed()) }
    }

    deinit {
        // Not closed explicitly: still let the threads exit (no job can be in flight, since
        // every in-flight call holds a reference to the pool).
        let needsStop = state.withLock { state -> Bool in
            if case .closed = state.lifecycle { return false }
            return true
        }
        if needsStop { for slot in slots { slot.queue.submit(.stop({})) } }
    }

    public var size: Int { slots.count }

    /// Runs `body` with exclusive use of one connection, on that connection's thread, in a
    /// client span (a no-op unless a tracer is installed).
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withSpan("postgres", ofKind: .client) { span in
            span.attributes["db.system.name"] = "postgresql"
            return try await perform(body)
        }
    }

    func perform<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let index = try await acquire()
        let slot = slots[index]
        let jobID = nextID.add(1, ordering: .relaxed).newValue
        let logger = self.logger
        let result: Result<T, any Error> = await withoutActuallyEscaping(body) { body in
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
                    slot.queue.submit(
                        .run { connection in
                            let result = slot.perform(jobID: jobID, connection: &connection, logger: logger, body)
                            // Resumed only after the worker dropped this job (and so `body`),
                            // which withoutActuallyEscaping verifies.
                            return { continuation.resume(returning: result) }
                        })
                }
            } onCancel: {
                // PQcancel opens a connection: keep that off the cancelling thread.
                DispatchQueue.global().async { slot.cancel(jobID: jobID) }
            }
        }
        release(index)
        return try result.get()
    }

    /// One statement, in a span that names it (the SQL text with `$n` placeholders, never the
    /// values bound to them).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withSpan("postgres query", ofKind: .client) { span in
            span.attributes["db.system.name"] = "postgresql"
            span.attributes["db.query.text"] = String(query.sql.prefix(300))
            return try await perform { try $0.query(query) }
        }
    }

    /// BEGIN … COMMIT on one connection; ROLLBACK and rethrow when `body` throws. Retrying on
    /// `isSerializationFailure`/`isDeadlock` is left to the caller (the body must be re-run).
    public func transaction<T: Sendable>(
        isolation: PostgresIsolationLevel = .readCommitted, _ body: @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withSpan("postgres transaction", ofKind: .client) { span in
            span.attributes["db.system.name"] = "postgresql"
            return try await perform { connection in
                try connection.transaction(isolation: isolation, body)
            }
        }
    }

    /// `SELECT 1` on a pooled connection (opens one if none is open yet).
    public func ping() async throws {
        _ = try await query("SELECT 1")
    }

    /// Stops handing out connections (waiters and later calls get `.poolClosed`), waits for
    /// bodies already running, then closes every connection and stops the threads.
    /// Concurrent calls all return once shutdown is complete.
    public func close() async {
        enum Role {
            case driver(waiters: [Waiter], mustDrain: Bool)
            case follower
            case done
        }
        let role = state.withLock { state -> Role in
            switch state.lifecycle {
            case .open:
                state.lifecycle = .closing(drained: nil, followers: [])
                return .driver(waiters: state.waiters.removeAll(), mustDrain: state.checkedOut > 0)
            case .closing: return .follower
            case .closed: return .done
            }
        }
        switch role {
        case .done:
            return
        case .follower:
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let finished = state.withLock { state -> Bool in
                    guard case .closing(let drained, var followers) = state.lifecycle else { return true }
                    followers.append(continuation)
                    state.lifecycle = .closing(drained: drained, followers: followers)
                    return false
                }
                if finished { continuation.resume() }
            }
        case .driver(let waiters, let mustDrain):
            for waiter in waiters {
                waiter.timeoutTask?.cancel()
                waiter.continuation.resume(throwing: Self.closedError)
            }
            if mustDrain {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let drainedAlready = state.withLock { state -> Bool in
                        guard state.checkedOut > 0, case .closing(_, let followers) = state.lifecycle else { return true }
                        state.lifecycle = .closing(drained: continuation, followers: followers)
                        return false
                    }
                    if drainedAlready { continuation.resume() }
                }
            }
            for slot in slots {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    slot.queue.submit(.stop({ continuation.resume() }))
                }
            }
            let followers = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                defer { state.lifecycle = .closed }
                if case .closing(_, let followers) = state.lifecycle { return followers }
                return []
            }
            followers.forEach { $0.resume() }
            logger.debug("postgres pool closed")
        }
    }

    // MARK: - Checkout

    private static let closedError = PostgresError(code: .poolClosed, message: "the connection pool is closed")

    private func acquire() async throws -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                enum Decision {
                    case ready(Int)
                    case fail(any Error)
                    case wait
                }
                let decision = state.withLock { state -> Decision in
                    guard case .open = state.lifecycle else { return .fail(Self.closedError) }
                    // Checked under the lock: onCancel (which takes it too) may already have run.
                    if Task.isCancelled { return .fail(CancellationError()) }
                    if let index = state.idle.popLast() {
                        state.checkedOut += 1
                        return .ready(index)
                    }
                    state.waiters.append(id: id, Waiter(continuation: continuation, timeoutTask: nil))
                    return .wait
                }
                switch decision {
                case .ready(let index): continuation.resume(returning: index)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: if let acquireTimeout { scheduleTimeout(id: id, after: acquireTimeout) }
                }
            }
        } onCancel: {
            if let waiter = state.withLock({ $0.waiters.remove(id: id) }) {
                waiter.timeoutTask?.cancel()
                waiter.continuation.resume(throwing: CancellationError())
            }
        }
    }

    private func scheduleTimeout(id: UInt64, after timeout: Duration) {
        let task = Task { [weak self] in
            do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: served in time
            guard let self, let waiter = self.state.withLock({ $0.waiters.remove(id: id) }) else { return }
            waiter.continuation.resume(
                throwing: PostgresError(code: .timeout, message: "no pooled connection became free within \(timeout)"))
        }
        let attached = state.withLock { $0.waiters.attach(task, to: id) }
        if !attached { task.cancel() }
    }

    private func release(_ index: Int) {
        enum Action {
            case handOff(Waiter)
            case drained(CheckedContinuation<Void, Never>)
            case none
        }
        let action = state.withLock { state -> Action in
            if case .open = state.lifecycle, let waiter = state.waiters.popFirst() {
                return .handOff(waiter)  // stays checked out, now by the waiter
            }
            state.checkedOut -= 1
            state.idle.append(index)
            if state.checkedOut == 0, case .closing(let drained?, let followers) = state.lifecycle {
                state.lifecycle = .closing(drained: nil, followers: followers)
                return .drained(drained)
            }
            return .none
        }
        switch action {
        case .handOff(let waiter):
            waiter.timeoutTask?.cancel()
            waiter.continuation.resume(returning: index)
        case .drained(let continuation):
            continuation.resume()
        case .none:
            break
        }
    }
}

// MARK: - Internals

private struct Waiter: Sendable {
    let continuation: CheckedContinuation<Int, any Error>
    var timeoutTask: Task<Void, Never>?
}

private struct PoolState {
    enum Lifecycle {
        case open
        /// `drained` is resumed when the last checked-out connection comes back.
        case closing(drained: CheckedContinuation<Void, Never>?, followers: [CheckedContinuation<Void, Never>])
        case closed
    }

    var idle: [Int] = []
    var checkedOut = 0
    var waiters = WaiterQueue()
    var lifecycle = Lifecycle.open
}

/// FIFO of waiters with O(1) removal by id (cancellation/timeout leave holes that are skipped).
private struct WaiterQueue {
    private var order: [UInt64] = []
    private var head = 0
    private var entries: [UInt64: Waiter] = [:]

    mutating func append(id: UInt64, _ waiter: Waiter) {
        entries[id] = waiter
        order.append(id)
    }

    mutating func remove(id: UInt64) -> Waiter? {
        let waiter = entries.removeValue(forKey: id)
        if entries.isEmpty { compact() }
        return waiter
    }

    mutating func attach(_ task: Task<Void, Never>, to id: UInt64) -> Bool {
        guard entries[id] != nil else { return false }
        entries[id]!.timeoutTask = task
        return true
    }

    mutating func popFirst() -> Waiter? {
        while head < order.count {
            let id = order[head]
            head += 1
            if let waiter = entries.removeValue(forKey: id) {
                if head > 1024 { compact() }
                return waiter
            }
        }
        compact()
        return nil
    }

    mutating func removeAll() -> [Waiter] {
        let all = order[head...].compactMap { entries[$0] }
        entries.removeAll()
        order.removeAll()
        head = 0
        return all
    }

    private mutating func compact() {
        order.removeFirst(head)
        head = 0
        if entries.isEmpty { order.removeAll(keepingCapacity: true) }
    }
}

/// What a worker needs to open its connection.
private struct Connector: Sendable {
    let url: String
    let applicationName: String?
    let preparesStatements: Bool
    let logger: Logger

    func connect() throws(PostgresError) -> PostgresConnection {
        try PostgresConnection.connect(url: url, applicationName: applicationName, logger: logger, preparesStatements: preparesStatements)
    }
}

/// One connection's thread, its job queue, and the state needed to cancel its running job.
private final class Slot: Sendable {
    let index: Int
    let queue = JobQueue()
    private let connector: Connector
    private let activity = Mutex(Activity())

    private struct Activity {
        var runningJob: UInt64?
        var cancelHandle: CancelHandle?
        var cancelRequested: UInt64?
    }

    init(index: Int, connector: Connector) {
        self.index = index
        self.connector = connector
        let queue = self.queue
        let thread = Thread { Slot.runLoop(queue) }
        thread.name = "postgres-pool-\(index)"
        thread.start()
    }

    private static func runLoop(_ queue: JobQueue) {
        // The connection lives only on this thread's stack: nothing else can touch it.
        var connection: PostgresConnection? = nil
        while true {
            switch step(queue.next(), &connection) {
            case .finished(let resume):
                resume()
            case .stop(let done):
                connection?.close()
                connection = nil
                done()
                return
            }
        }
    }

    private enum Step {
        case finished(@Sendable () -> Void)
        case stop(@Sendable () -> Void)
    }

    /// Separate function so the job (and the caller's body it captures) is released before
    /// the caller is resumed.
    private static func step(_ job: Job, _ connection: inout PostgresConnection?) -> Step {
        switch job {
        case .run(let work): return .finished(work(&connection))
        case .stop(let done): return .stop(done)
        }
    }

    /// Runs on the slot's thread.
    func perform<T>(
        jobID: UInt64, connection: inout PostgresConnection?, logger: Logger,
        _ body: (PostgresConnection) throws -> T
    ) -> Result<T, any Error> {
        if let existing = connection, !existing.isHealthy {
            logger.notice("postgres connection broken; replacing it", metadata: ["slot": "\(index)"])
            existing.close()
            connection = nil
        }
        if connection == nil {
            do {
                connection = try connector.connect()
                logger.debug("postgres connection opened", metadata: ["slot": "\(index)"])
            } catch {
                return .failure(error)
            }
        }
        let live = connection!
        let cancelledEarly = activity.withLock { activity -> Bool in
            if activity.cancelRequested == jobID { return true }
            activity.runningJob = jobID
            activity.cancelHandle = live.cancelHandle
            return false
        }
        if cancelledEarly { return .failure(CancellationError()) }
        let result = Result { try body(live) }
        activity.withLock { activity in
            activity.runningJob = nil
            activity.cancelHandle = nil
            activity.cancelRequested = nil
        }
        if live.isInTransaction {
            logger.warning("postgres connection returned inside a transaction; rolling back", metadata: ["slot": "\(index)"])
            live.rollbackIfNeeded()
        }
        if !live.isReusable {
            live.close()
            connection = nil
        }
        return result
    }

    /// Any thread. Cancels `jobID` if it is running, or marks it so it never starts.
    func cancel(jobID: UInt64) {
        activity.withLock { activity in
            if activity.runningJob == jobID {
                // Under the lock so the request cannot hit the next job's statement.
                activity.cancelHandle?.send()
            } else {
                activity.cancelRequested = jobID
            }
        }
    }
}

private enum Job: Sendable {
    /// Runs on the worker with its connection; returns what resumes the caller.
    case run(@Sendable (inout PostgresConnection?) -> (@Sendable () -> Void))
    case stop(@Sendable () -> Void)
}

/// Unbounded in type but holds at most one job per slot at a time (plus a stop), because a
/// slot is checked out exclusively.
private final class JobQueue: Sendable {
    private let jobs = Mutex<[Job]>([])
    private let available = DispatchSemaphore(value: 0)

    func submit(_ job: Job) {
        jobs.withLock { $0.append(job) }
        available.signal()
    }

    /// Blocks the worker thread until a job arrives.
    func next() -> Job {
        available.wait()
        return jobs.withLock { $0.removeFirst() }
    }
}
