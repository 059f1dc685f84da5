import Dispatch
import Foundation
import Synchronization

/// One request travelling from an async caller to a worker thread and back.
///
/// The continuation is resumed exactly once, by whoever takes it first: the
/// worker (result), the pool (dequeued while cancelled / shut down) or
/// `install` (task already cancelled).
final class TransferJob: Sendable {
    let request: HTTPRequest
    /// Polled lock-free by the curl progress callback on the worker thread.
    private let cancelFlag = Atomic<Bool>(false)
    private let state = Mutex(State())

    private struct State {
        var continuation: CheckedContinuation<HTTPResponse, any Error>?
        var finished = false
        var waker: MultiWaker?
    }

    init(request: HTTPRequest) {
        self.request = request
    }

    var isCancelled: Bool {
        cancelFlag.load(ordering: .acquiring)
    }

    /// Stores the continuation; returns false (after resuming it with
    /// `.cancelled`) when the task was cancelled before the job was submitted.
    func install(_ continuation: CheckedContinuation<HTTPResponse, any Error>) -> Bool {
        let proceed = state.withLock { state -> Bool in
            if isCancelled { return false }
            state.continuation = continuation
            return true
        }
        if !proceed {
            continuation.resume(throwing: HTTPClientError.cancelled())
        }
        return proceed
    }

    func finish(_ result: Result<HTTPResponse, HTTPClientError>) {
        let continuation = state.withLock { state -> CheckedContinuation<HTTPResponse, any Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    /// Flags the job; if its transfer is running, interrupts the worker's
    /// `curl_multi_poll` so the abort happens now rather than at the next poll timeout.
    func cancel() {
        cancelFlag.store(true, ordering: .releasing)
        state.withLock { state in
            state.waker?.wake()
        }
    }

    /// Called by the worker before starting the transfer. Returns false if the
    /// job was cancelled meanwhile (the transfer must not start).
    func attach(_ waker: MultiWaker) -> Bool {
        state.withLock { state -> Bool in
            if isCancelled { return false }
            state.waker = waker
            return true
        }
    }

    /// After this returns, `cancel()` no longer touches the worker's multi handle.
    func detach() {
        state.withLock { state in
            state.waker = nil
        }
    }
}

/// A bounded set of dedicated worker threads, spawned on demand up to
/// `maxThreads`, that run blocking libcurl transfers off the cooperative pool.
///
/// Each worker owns one easy + one multi handle for its whole life, so the
/// connection and DNS caches (kept in the multi handle) are reused across its
/// requests. Jobs beyond `maxThreads` wait in a FIFO queue.
final class TransferPool: Sendable {
    private struct State {
        var queue: [TransferJob] = []
        var active: [ObjectIdentifier: TransferJob] = [:]
        var threads = 0
        /// Workers not currently running a transfer (waiting or about to dequeue).
        var idle = 0
        var nextThreadID = 0
        var shuttingDown = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Signalled once per submitted job and once per thread at shutdown;
    /// extra signals (cancelled queued jobs) only cause a harmless re-check.
    private let wakeups = DispatchSemaphore(value: 0)
    private let maxThreads: Int
    private let userAgent: String

    init(maxThreads: Int, userAgent: String) {
        self.maxThreads = maxThreads
        self.userAgent = userAgent
    }

    func submit(_ job: TransferJob) {
        enum Action { case rejected, queued(spawnThreadID: Int?) }
        let action = state.withLock { state -> Action in
            if state.shuttingDown { return .rejected }
            state.queue.append(job)
            guard state.queue.count > state.idle, state.threads < maxThreads else {
                return .queued(spawnThreadID: nil)
            }
            state.threads += 1
            state.idle += 1
            state.nextThreadID += 1
            return .queued(spawnThreadID: state.nextThreadID)
        }
        switch action {
        case .rejected:
            job.finish(.failure(.cancelled("HTTPClient has been shut down")))
        case .queued(let threadID):
            if let threadID {
                let thread = Thread { [self] in self.runWorker() }
                thread.name = "switchboard.http.\(threadID)"
                thread.start()
            }
            wakeups.signal()
        }
    }

    /// Removes a cancelled job that no worker has picked up yet and fails it.
    func dequeueIfQueued(_ job: TransferJob) {
        let removed = state.withLock { state -> Bool in
            guard let index = state.queue.firstIndex(where: { $0 === job }) else { return false }
            state.queue.remove(at: index)
            return true
        }
        if removed {
            job.finish(.failure(.cancelled()))
        }
    }

    /// Fails queued jobs, aborts running transfers and tells workers to exit.
    /// Does not wait; `shutdown()` does.
    func beginShutdown() {
        let (queued, active, threads) = state.withLock { state -> ([TransferJob], [TransferJob], Int) in
            guard !state.shuttingDown else { return ([], [], 0) }
            state.shuttingDown = true
            let queued = state.queue
            state.queue = []
            return (queued, Array(state.active.values), state.threads)
        }
        for job in queued {
            job.finish(.failure(.cancelled("HTTPClient has been shut down")))
        }
        for job in active {
            job.cancel()
        }
        for _ in 0..<threads {
            wakeups.signal()
        }
    }

    /// Returns once every worker thread has freed its curl handles and exited.
    func shutdown() async {
        beginShutdown()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.threads == 0 { return true }
                state.shutdownWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func runWorker() {
        // Scoped so the curl handles are freed before the thread reports its exit.
        do {
            let worker = CurlWorker(userAgent: userAgent)
            while let job = nextJob() {
                let result: Result<HTTPResponse, HTTPClientError>
                if let worker {
                    result = worker.perform(job)
                } else {
                    result = .failure(HTTPClientError(
                        code: .other, message: "libcurl initialisation failed", isRetriable: false))
                }
                job.finish(result)
                state.withLock { state in
                    state.active[ObjectIdentifier(job)] = nil
                    state.idle += 1
                }
            }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.threads -= 1
            state.idle -= 1
            guard state.threads == 0 else { return [] }
            defer { state.shutdownWaiters = [] }
            return state.shutdownWaiters
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Blocks the worker thread until there is a job (returned) or the pool is
    /// shutting down with nothing left to do (nil).
    private func nextJob() -> TransferJob? {
        while true {
            wakeups.wait()
            enum Next { case job(TransferJob), exit, spurious }
            let next = state.withLock { state -> Next in
                if !state.queue.isEmpty {
                    let job = state.queue.removeFirst()
                    state.idle -= 1
                    state.active[ObjectIdentifier(job)] = job
                    return .job(job)
                }
                return state.shuttingDown ? .exit : .spurious
            }
            switch next {
            case .job(let job): return job
            case .exit: return nil
            case .spurious: continue
            }
        }
    }
}
