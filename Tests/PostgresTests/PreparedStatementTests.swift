import DatabaseTestSupport
import Foundation
import Postgres
import Testing

@Suite("Prepared statements", .timeLimit(.minutes(1)))
struct PreparedStatementTests {
    /// The statements this session has prepared, as Postgres lists them.
    private func preparedCount(_ connection: PostgresConnection, matching text: String) throws -> Int {
        let rows = try connection.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = \(text)")
        return try rows[0].decode("n", as: Int.self)
    }

    @Test("a statement is prepared on its second use and gives the same results by name")
    func preparedOnSecondUse() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("prep")
            try await pool.query("CREATE TABLE \(identifier: table) (id int PRIMARY KEY, name text)")
            let sql = "INSERT INTO \"\(table)\" (id, name) VALUES ($1, $2) RETURNING name"
            try await pool.withConnection { connection throws in
                var names: [String] = []
                for id in 1...3 {
                    let rows = try connection.query(PostgresQuery(unsafeSQL: sql, binds: [PostgresValue(id), PostgresValue("n\(id)")]))
                    names.append(try rows[0].decode("name", as: String.self))
                    #expect(try preparedCount(connection, matching: sql) == (id == 1 ? 0 : 1))
                }
                #expect(names == ["n1", "n2", "n3"])
                // Same text, other parameter types: another statement, still correct.
                let rows = try connection.query(PostgresQuery(unsafeSQL: sql, binds: [PostgresValue(Int64(4)), PostgresValue("n4")]))
                #expect(try rows[0].decode("name", as: String.self) == "n4")
            }
        }
    }

    @Test("after a schema swap (the rebuild's RENAME) a prepared statement reads the new table")
    func schemaSwap() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let live = TestDB.uniqueName("live")
            let rebuilt = TestDB.uniqueName("rebuilt")
            let replaced = TestDB.uniqueName("replaced")
            for (schema, value) in [(live, "old"), (rebuilt, "new")] {
                try await pool.withConnection { connection throws in
                    try connection.execute(simple: "CREATE SCHEMA \"\(schema)\"; CREATE TABLE \"\(schema)\".t (v text)")
                    try connection.query("INSERT INTO \(identifier: schema).t (v) VALUES (\(value))")
                }
            }
            let read = PostgresQuery(unsafeSQL: "SELECT v FROM \"\(live)\".t WHERE v IS NOT NULL")
            try await pool.withConnection { connection throws in
                for _ in 0..<3 { #expect(try connection.query(read)[0].decode("v", as: String.self) == "old") }
                #expect(try preparedCount(connection, matching: read.sql) == 1)
            }
            try await pool.transaction { connection in
                try connection.query("ALTER SCHEMA \(identifier: live) RENAME TO \(identifier: replaced)")
                try connection.query("ALTER SCHEMA \(identifier: rebuilt) RENAME TO \(identifier: live)")
            }
            try await pool.withConnection { connection throws in
                #expect(try connection.query(read)[0].decode("v", as: String.self) == "new")
                try connection.execute(simple: "DROP SCHEMA \"\(live)\" CASCADE; DROP SCHEMA \"\(replaced)\" CASCADE")
            }
        }
    }

    @Test("a statement whose result columns changed fails once, then is prepared again")
    func resultTypeChanged() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("shape")
            try await pool.query("CREATE TABLE \(identifier: table) (a int)")
            try await pool.query("INSERT INTO \(identifier: table) (a) VALUES (1)")
            let read = PostgresQuery(unsafeSQL: "SELECT * FROM \"\(table)\"")
            try await pool.withConnection { connection throws in
                for _ in 0..<2 { #expect(try connection.query(read).count == 1) }
                try connection.query("ALTER TABLE \(identifier: table) ADD COLUMN b text")
                var failed = false
                do { _ = try connection.query(read) } catch let error as PostgresError { failed = error.sqlState == "0A000" }
                #expect(failed, "Postgres refuses a cached plan whose result type changed")
                let rows = try connection.query(read)
                #expect(rows.count == 1)
                #expect(try rows[0].decode("b", as: String?.self) == nil)
            }
        }
    }

    @Test("a query that plans each call is never prepared")
    func plansEachCall() async throws {
        try await TestDB.withPool(size: 1) { pool in
            try await pool.withConnection { connection throws in
                var query = PostgresQuery(unsafeSQL: "SELECT 1 AS one WHERE $1::int = ANY('{1,2}')", binds: [PostgresValue(2)])
                query.plansEachCall = true
                for _ in 0..<3 { #expect(try connection.query(query).count == 1) }
                #expect(try preparedCount(connection, matching: query.sql) == 0)
            }
        }
    }

    @Test("with preparing turned off nothing is prepared")
    func off() async throws {
        let connection = try PostgresConnection.connect(url: try TestDB.url(), preparesStatements: false)
        defer { connection.close() }
        let sql = "SELECT 1 AS one WHERE $1::int > 0"
        for _ in 0..<3 { _ = try connection.query(PostgresQuery(unsafeSQL: sql, binds: [PostgresValue(1)])) }
        #expect(try preparedCount(connection, matching: sql) == 0)
    }
}
