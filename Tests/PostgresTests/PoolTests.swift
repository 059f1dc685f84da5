import DatabaseTestSupport
import Dispatch
import Foundation
import Postgres
import Testing

@Suite("Pool", .timeLimit(.minutes(1)))
struct PoolTests {
    @Test("50 concurrent queries over 4 connections all succeed")
    func concurrency() async throws {
        try await TestDB.withPool(size: 4) { pool in
            let results = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let rows = try await pool.query("SELECT \(i) AS i, pg_backend_pid() AS pid, pg_sleep(0.01)")
                        return (try rows[0].decode("i", as: Int.self), try rows[0].decode("pid", as: Int32.self))
                    }
                }
                var all: [(Int, Int32)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(results.map(\.0).sorted() == Array(0..<50))
            #expect(Set(results.map(\.1)).count <= 4)
        }
    }

    @Test("a connection killed while idle is replaced transparently")
    func recoversFromIdleTermination() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let pid = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            try await TestDB.withPool(size: 1) { admin in
                // The timeout form waits until the backend has really exited.
                let killed = try await admin.query("SELECT pg_terminate_backend(\(pid), 5000) AS ok")
                #expect(try killed[0].decode("ok", as: Bool.self))
            }
            let newPid = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            #expect(newPid != pid)
        }
    }

    @Test("a connection killed mid-query fails that query as retriable, then the pool recovers")
    func recoversFromTerminationDuringQuery() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let pid = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT pg_terminate_backend(pg_backend_pid())")
            }
            #expect(error?.code == .connectionFailed)
            #expect(error?.isRetriable == true)
            let rows = try await pool.query("SELECT pg_backend_pid() AS pid")
            #expect(try rows[0].decode("pid", as: Int32.self) != pid)
        }
    }

    @Test("close waits for in-flight work, then rejects new calls with poolClosed")
    func closeDrains() async throws {
        let pool = try TestDB.makePool(size: 1)
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let inFlight = Task {
            try await pool.withConnection { connection in
                startedContinuation.yield()
                return try connection.query("SELECT pg_sleep(0.2), 42 AS answer")[0].decode("answer", as: Int.self)
            }
        }
        var iterator = started.makeAsyncIterator()
        await iterator.next()
        await pool.close()
        #expect(try await inFlight.value == 42)
        let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(error?.code == .poolClosed)
        await pool.close()  // idempotent
    }

    @Test("waiting longer than acquireTimeout throws a retriable timeout")
    func acquireTimeout() async throws {
        let pool = try TestDB.makePool(size: 1, acquireTimeout: .milliseconds(50))
        let gate = DispatchSemaphore(value: 0)
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await pool.withConnection { _ in
                startedContinuation.yield()
                gate.wait()  // holds the only connection (on the pool's own thread)
                return 1
            }
        }
        var iterator = started.makeAsyncIterator()
        await iterator.next()
        let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(error?.code == .timeout)
        #expect(error?.isRetriable == true)
        gate.signal()
        #expect(try await holder.value == 1)
        try await pool.ping()
        await pool.close()
    }

    @Test("cancelling a waiting caller throws CancellationError and leaks no connection")
    func cancelWhileWaiting() async throws {
        let pool = try TestDB.makePool(size: 1)
        let gate = DispatchSemaphore(value: 0)
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await pool.withConnection { _ in
                startedContinuation.yield()
                gate.wait()
                return 1
            }
        }
        var iterator = started.makeAsyncIterator()
        await iterator.next()
        let waiter = Task { try await pool.query("SELECT 1") }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        gate.signal()
        #expect(try await holder.value == 1)
        // The only connection is free again.
        let rows = try await pool.query("SELECT 5 AS n")
        #expect(try rows[0].decode("n", as: Int.self) == 5)
        await pool.close()
    }

    @Test("cancelling a caller whose statement runs cancels it on the server")
    func cancelWhileRunning() async throws {
        let appName = TestDB.uniqueName("cancel")
        let pool = try TestDB.makePool(size: 1, applicationName: appName)
        let running = Task { try await pool.query("SELECT pg_sleep(30)") }
        try await TestDB.withPool(size: 1) { admin in
            // The server's state is the only signal that the statement started: poll it (bounded).
            var active = false
            for _ in 0..<500 where !active {
                let rows = try await admin.query(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = \(appName) AND wait_event = 'PgSleep'")
                active = try rows[0].decode("n", as: Int.self) == 1
                if !active { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(active)
        }
        running.cancel()
        let error = await #expect(throws: PostgresError.self) { try await running.value }
        #expect(error?.isQueryCanceled == true)
        try await pool.ping()
        await pool.close()
    }
}
