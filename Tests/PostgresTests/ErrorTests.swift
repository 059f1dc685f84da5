import DatabaseTestSupport
import Foundation
import Postgres
import Testing

@Suite("Error mapping", .timeLimit(.minutes(1)))
struct ErrorTests {
    @Test("unique violation maps to 23505 with constraint and detail, and is not printed")
    func uniqueViolation() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("users")
            try await pool.query("CREATE TABLE \(identifier: table) (email text UNIQUE)")
            try await pool.query("INSERT INTO \(identifier: table) VALUES (\("secret@example.com"))")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("INSERT INTO \(identifier: table) VALUES (\("secret@example.com"))")
            }
            let e = try #require(error)
            #expect(e.code == .queryFailed)
            #expect(e.sqlState == "23505")
            #expect(e.isUniqueViolation)
            #expect(!e.isRetriable)
            #expect(e.constraint == "\(table)_email_key")
            #expect(e.table == table)
            #expect(e.detail?.contains("already exists") == true)
            #expect(!e.description.contains("secret@example.com"))
        }
    }

    @Test("syntax error → 42601, undefined table → 42P01; the connection is kept")
    func statementErrors() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let pid = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            let syntax = await #expect(throws: PostgresError.self) { try await pool.query("SELEC 1") }
            #expect(syntax?.sqlState == "42601")
            #expect(syntax?.isSyntaxError == true)
            #expect(syntax?.code == .queryFailed)
            let missing = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT * FROM \(identifier: TestDB.uniqueName("missing"))")
            }
            #expect(missing?.sqlState == "42P01")
            #expect(missing?.isUndefinedTable == true)
            #expect(missing?.isRetriable == false)
            let after = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            #expect(after == pid)
        }
    }

    @Test("connecting to a closed port fails with a retriable connectionFailed")
    func connectionRefused() async throws {
        _ = try TestDB.url()  // the suite needs the test server configured either way
        let pool = PostgresPool(url: "postgres://nobody:s3cret@127.0.0.1:1/nothing", size: 1, logger: TestDB.logger)
        let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isRetriable == true)
        #expect(error?.description.contains("s3cret") == false)
        // The failed attempt did not poison the slot: the next attempt fails the same way.
        let again = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(again?.code == .connectionFailed)
        await pool.close()
    }

    @Test("a malformed URL is a non-retriable connectionFailed that does not echo the URL")
    func malformedURL() async throws {
        _ = try TestDB.url()
        let pool = PostgresPool(url: "postgres://u:p%zzsecret@127.0.0.1:notaport/db", size: 1, logger: TestDB.logger)
        let error = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isRetriable == false)
        #expect(error?.description.contains("secret") == false)
        await pool.close()
    }

    @Test("statement timeout is 57014 and leaves the connection usable")
    func statementTimeout() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let result = try await pool.withConnection { connection -> (PostgresError?, Int) in
                try connection.execute(simple: "SET statement_timeout = '50ms'")
                defer { try? connection.execute(simple: "RESET statement_timeout") }
                var caught: PostgresError?
                do { try connection.query("SELECT pg_sleep(5)") } catch let error as PostgresError { caught = error }
                return (caught, try connection.query("SELECT 7 AS n")[0].decode("n", as: Int.self))
            }
            #expect(result.0?.isQueryCanceled == true)
            #expect(result.1 == 7)
        }
    }
}
