import Dispatch
import Foundation
import Synchronization

/// A dedicated OS thread that runs blocking librdkafka calls in FIFO order, so they never occupy
/// Swift's cooperative pool. Results travel back through continuations (`submit`).
///
/// When there is no job, the thread either runs `idle` (a blocking call such as `rd_kafka_poll`
/// that `interrupt` can cut short) or sleeps on a semaphore. After `stop()` no job is accepted; jobs
/// accepted before are still run, then the thread exits and drops `idle`/`interrupt` (and whatever
/// they captured) on itself.
final class ClientThread: Sendable {
    typealias Job = @Sendable () -> Void

    private struct State {
        var jobs: [Job] = []
        var stopping = false
        /// Returns false when it had nothing to block on (the thread then sleeps on the semaphore).
        var idle: (@Sendable () -> Bool)?
        var interrupt: (@Sendable () -> Void)?
    }

    private let state: Mutex<State>
    private let wakeup = DispatchSemaphore(value: 0)

    init(name: String, idle: (@Sendable () -> Bool)? = nil, interrupt: (@Sendable () -> Void)? = nil) {
        self.state = Mutex(State(idle: idle, interrupt: interrupt))
        let thread = Thread { [self] in
            Thread.current.name = name  // set from the thread itself so the OS thread is named too
            self.loop()
        }
        thread.start()
    }

    /// Queues `job`; returns false (and does not run it) once the thread is stopping.
    /// `interrupting` cuts short a blocking call in progress on the thread (idle poll or a job).
    @discardableResult
    func enqueue(interrupting: Bool = true, _ job: @escaping Job) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            // Called under the lock so the thread cannot drop what `interrupt` captured meanwhile.
            if interrupting { state.interrupt?() }
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    /// Runs `body` on the thread and returns its result; throws `.closed` if the thread stopped.
    func submit<T: Sendable>(
        _ operation: String, interrupting: Bool = true, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = enqueue(interrupting: interrupting) {
                continuation.resume(with: Result { try body() })
            }
            if !accepted { continuation.resume(throwing: KafkaError.closed(operation)) }
        }
    }

    /// Cuts short a blocking call in progress on the thread, if any.
    func interrupt() {
        state.withLock { $0.interrupt?() }
    }

    /// Idempotent; may be called from a job running on the thread itself.
    func stop() {
        state.withLock { state in
            state.stopping = true
            state.interrupt?()
        }
        wakeup.signal()
    }

    private func loop() {
        while true {
            let (batch, stopping, idle) = state.withLock { state in
                let batch = state.jobs
                state.jobs.removeAll(keepingCapacity: true)
                return (batch, state.stopping, state.idle)
            }
            if !batch.isEmpty {
                for job in batch { job() }
                continue
            }
            if stopping { break }
            if let idle, idle() { continue }
            wakeup.wait()
        }
        state.withLock { state in
            state.idle = nil
            state.interrupt = nil
        }
    }
}
