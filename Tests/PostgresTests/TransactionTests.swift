import DatabaseTestSupport
import Foundation
import Postgres
import Testing

@Suite("Transactions", .timeLimit(.minutes(1)))
struct TransactionTests {
    struct Boom: Error, Equatable {}

    @Test("commit makes rows visible; a throwing body rolls back and rethrows")
    func commitAndRollback() async throws {
        try await TestDB.withPool(size: 2) { pool in
            let table = TestDB.uniqueName("tx")
            try await pool.query("CREATE TABLE \(identifier: table) (id int PRIMARY KEY)")
            let returned = try await pool.transaction { connection in
                try connection.query("INSERT INTO \(identifier: table) VALUES (\(Int32(1)))")
                return "done"
            }
            #expect(returned == "done")
            await #expect(throws: Boom.self) {
                try await pool.transaction { connection in
                    try connection.query("INSERT INTO \(identifier: table) VALUES (\(Int32(2)))")
                    throw Boom()
                }
            }
            let ids = try await pool.query("SELECT id FROM \(identifier: table) ORDER BY id")
            #expect(try ids.map { try $0.decode("id", as: Int32.self) } == [1])
        }
    }

    @Test("a swallowed statement error aborts the transaction instead of committing silently")
    func swallowedErrorIsReported() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("tx")
            try await pool.query("CREATE TABLE \(identifier: table) (id int PRIMARY KEY)")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try connection.query("INSERT INTO \(identifier: table) VALUES (\(Int32(1)))")
                    _ = try? connection.query("INSERT INTO \(identifier: table) VALUES (\(Int32(1)))")
                }
            }
            #expect(error?.sqlState == "25P02")
            let count = try await pool.query("SELECT count(*) AS n FROM \(identifier: table)")
            #expect(try count[0].decode("n", as: Int.self) == 0)
        }
    }

    @Test("isolation level is applied; serializable conflicts surface as retriable 40001")
    func serializable() async throws {
        let url = try TestDB.url()
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("ssi")
            try await pool.query("CREATE TABLE \(identifier: table) (v int)")
            let level = try await pool.transaction(isolation: .serializable) { connection in
                try connection.query("SHOW transaction_isolation")[0].decode(0, as: String.self)
            }
            #expect(level == "serializable")

            // Classic write skew, interleaved deterministically on one thread with two sessions.
            let error = try await pool.withConnection { a -> PostgresError? in
                let b = try PostgresConnection.connect(url: url)
                defer { b.close() }
                try a.execute(simple: "BEGIN ISOLATION LEVEL SERIALIZABLE")
                try b.execute(simple: "BEGIN ISOLATION LEVEL SERIALIZABLE")
                do {
                    // SSI may report the conflict at the second INSERT or at a COMMIT.
                    try a.query("SELECT count(*) FROM \(identifier: table)")
                    try b.query("SELECT count(*) FROM \(identifier: table)")
                    try a.query("INSERT INTO \(identifier: table) VALUES (1)")
                    try b.query("INSERT INTO \(identifier: table) VALUES (2)")
                    try a.execute(simple: "COMMIT")
                    try b.execute(simple: "COMMIT")
                    return nil
                } catch let error as PostgresError {
                    return error
                }
            }
            let e = try #require(error)
            #expect(e.isSerializationFailure)
            #expect(e.isRetriable)
        }
    }

    @Test("a transaction left open by withConnection is rolled back before reuse")
    func leakedTransactionIsRolledBack() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("leak")
            try await pool.query("CREATE TABLE \(identifier: table) (id int)")
            try await pool.withConnection { connection in
                try connection.execute(simple: "BEGIN")
                try connection.query("INSERT INTO \(identifier: table) VALUES (1)")
            }
            let state = try await pool.withConnection { connection in
                (connection.isInTransaction, try connection.query("SELECT count(*) AS n FROM \(identifier: table)")[0].decode("n", as: Int.self))
            }
            #expect(state.0 == false)
            #expect(state.1 == 0)
        }
    }
}
