import DatabaseTestSupport
import Foundation
import Postgres
import Testing

@Suite("COPY FROM STDIN", .timeLimit(.minutes(1)))
struct CopyTests {
    @Test("copyIn escapes tabs, newlines, CR, backslashes and keeps NULL distinct from \"\\N\"")
    func escaping() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("copy")
            try await pool.query("CREATE TABLE \(identifier: table) (id int PRIMARY KEY, a text, b text)")
            let rows: [[String?]] = [
                ["1", "tab\there", "new\nline"],
                ["2", "back\\slash \\t", nil],
                ["3", "", "cr\r\nend"],
                ["4", "\\.", "ünï 👋"],
                ["5", "\\N", "\t\n\\"],
            ]
            let loaded = try await pool.withConnection { try $0.copyIn("COPY \(table) (id, a, b) FROM STDIN", rows: rows) }
            #expect(loaded == rows.count)
            let back = try await pool.query("SELECT id, a, b FROM \(identifier: table) ORDER BY id")
            let decoded = try back.map { row -> [String?] in
                [String(try row.decode("id", as: Int.self)), try row.decode("a", as: String?.self), try row.decode("b", as: String?.self)]
            }
            #expect(decoded == rows)
        }
    }

    @Test("copyIn streams many rows in chunks")
    func bulk() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("bulk")
            try await pool.query("CREATE TABLE \(identifier: table) (id int8, payload text)")
            let count = 20_000
            let loaded = try await pool.withConnection { connection in
                try connection.copyIn(
                    "COPY \(table) FROM STDIN",
                    rows: (1...count).lazy.map { [String($0), String(repeating: "x\t", count: $0 % 7)] })
            }
            #expect(loaded == count)
            let stats = try await pool.query("SELECT count(*) AS n, sum(id) AS s FROM \(identifier: table)")
            #expect(try stats[0].decode("n", as: Int.self) == count)
            #expect(try stats[0].decode("s", as: Int.self) == count * (count + 1) / 2)
        }
    }

    @Test("bad rows abort the whole COPY and leave the connection usable")
    func failures() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("copyerr")
            try await pool.query("CREATE TABLE \(identifier: table) (id int, v text)")
            let outcome = try await pool.withConnection { connection -> [PostgresError?] in
                func attempt(_ body: () throws -> Void) -> PostgresError? {
                    do { try body(); return nil } catch { return error as? PostgresError }
                }
                return [
                    attempt { try connection.copyIn("COPY \(table) FROM STDIN", rows: [["1", "ok"], ["2"]]) },
                    attempt { try connection.copyIn("COPY \(table) FROM STDIN", rows: [["1", "ok"], ["nope", "x"]]) },
                    attempt { try connection.copyIn("COPY \(table) FROM STDIN", rows: [["1", "a\u{0}b"]]) },
                    attempt { try connection.copyIn("SELECT 1", rows: [[String?]]()) },
                    attempt { try connection.query("COPY \(identifier: table) FROM STDIN") },
                    attempt { try connection.query("COPY \(identifier: table) TO STDOUT") },
                ]
            }
            #expect(outcome[0]?.code == .invalidQuery)
            #expect(outcome[1]?.sqlState == "22P02")
            #expect(outcome[2]?.code == .invalidQuery)
            #expect(outcome[3]?.code == .invalidQuery)
            #expect(outcome[4]?.code == .invalidQuery)
            #expect(outcome[5]?.code == .invalidQuery)
            let count = try await pool.query("SELECT count(*) AS n FROM \(identifier: table)")
            #expect(try count[0].decode("n", as: Int.self) == 0)
            let healthy = try await pool.withConnection { $0.isHealthy }
            #expect(healthy)
        }
    }
}
