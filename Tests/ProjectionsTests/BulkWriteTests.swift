import DatabaseTestSupport
import Foundation
import Postgres
import Projections
import Testing

@Suite("BulkWrite against Postgres", .timeLimit(.minutes(1)))
struct BulkWriteTests {
    /// Texts that need escaping in an array literal or in COPY, and look-alikes of NULL.
    static let awkward: [String?] = [
        "plain", "with \"quotes\"", "back\\slash", "\\\"", "comma, {braces}", "ünï 👋", "", "NULL", nil, "tab\tnew\nline",
    ]

    @Test("upsert writes and updates the same rows below and at the COPY threshold", arguments: [BulkWrite.copyThreshold - 1, BulkWrite.copyThreshold])
    func upsertRoundTrip(count: Int) async throws {
        try await TestDB.withPool(size: 1) { pool in
            let schema = TestDB.uniqueName("bulk")
            try await pool.withConnection { connection in
                try connection.execute(simple: "CREATE SCHEMA \"\(schema)\"; CREATE TABLE \"\(schema)\".t (id uuid PRIMARY KEY, n int8, v text)")
            }
            let ids = (0..<count).map { _ in UUID().uuidString.lowercased() }
            func rows(_ suffix: String) -> [[String?]] {
                ids.enumerated().map { index, id in [id, String(index), Self.awkward[index % Self.awkward.count].map { $0 + suffix }] }
            }
            for suffix in ["", " (updated)"] {
                let batch = rows(suffix)
                let written = try await pool.transaction { connection in
                    try BulkWrite.upsert(schema: schema, table: "t", columns: ["id uuid", "n int8", "v text"], conflict: ["id"], update: true, rows: batch, in: connection)
                }
                #expect(Set(written) == Set(ids))
                let stored = try await pool.withConnection { connection in
                    try BulkWrite.rows("SELECT id::text AS id, n, v FROM \(try PostgresQuery.quotedIdentifier(schema)).t WHERE id", keys: ids, in: connection)
                        .map { [try $0.decode("id", as: String.self), String(try $0.decode("n", as: Int.self)), try $0.decode("v", as: String?.self)] }
                }
                #expect(stored.sorted { Int($0[1]!)! < Int($1[1]!)! } == batch)
            }
            try await TestDB.dropSchema(schema, pool)
        }
    }

    @Test("rows finds text keys that need escaping and nothing for no keys")
    func rowsByTextKey() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("keys")
            try await pool.query("CREATE TABLE \(identifier: table) (k text PRIMARY KEY)")
            let keys = Self.awkward.compactMap { $0 }
            for key in keys { try await pool.query("INSERT INTO \(identifier: table) (k) VALUES (\(key))") }
            let found = try await pool.withConnection { connection in
                try BulkWrite.rows("SELECT k FROM \"\(table)\" WHERE k", keys: keys + ["absent"], in: connection).map { try $0.decode("k", as: String.self) }
            }
            #expect(Set(found) == Set(keys))
            let none = try await pool.withConnection { try BulkWrite.rows("SELECT k FROM \"\(table)\" WHERE k", keys: [], in: $0) }
            #expect(none.isEmpty)
        }
    }

    @Test("arrayLiteral quotes every element and escapes quotes and backslashes")
    func arrayLiteral() {
        #expect(BulkWrite.arrayLiteral(["a", nil, "b\"c", "d\\e", ""]) == #"{"a",NULL,"b\"c","d\\e",""}"#)
        #expect(BulkWrite.arrayLiteral([]) == "{}")
    }
}
