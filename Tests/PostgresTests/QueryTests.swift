import DatabaseTestSupport
import Foundation
import Postgres
import Testing

@Suite("Queries and types", .timeLimit(.minutes(1)))
struct QueryTests {
    @Test("SQL-injection attempts are bound as data and the table survives")
    func injectionAttemptsAreData() async throws {
        try await TestDB.withPool { pool in
            let table = TestDB.uniqueName("students")
            try await pool.query("CREATE TABLE \(identifier: table) (name text NOT NULL)")
            let attacks = ["'; DROP TABLE \(table); --", "Robert'); DROP TABLE \(table);--", "x' OR '1'='1", "$1 \\ \" ;"]
            for attack in attacks {
                let inserted = try await pool.query("INSERT INTO \(identifier: table) (name) VALUES (\(attack))")
                #expect(inserted.affectedRows == 1)
                let echoed = try await pool.query("SELECT \(attack) AS v")
                #expect(try echoed[0].decode("v", as: String.self) == attack)
            }
            let rows = try await pool.query("SELECT name FROM \(identifier: table) ORDER BY name")
            #expect(Set(try rows.map { try $0.decode("name", as: String.self) }) == Set(attacks))
            let exists = try await pool.query("SELECT to_regclass(\(table)) IS NOT NULL AS present")
            #expect(try exists[0].decode("present", as: Bool.self))
            let matched = try await pool.query("SELECT count(*) AS n FROM \(identifier: table) WHERE name = \("x' OR '1'='1")")
            #expect(try matched[0].decode("n", as: Int.self) == 1)
        }
    }

    struct Doc: Codable, Equatable {
        var a: [Int]
        var s: String
    }

    @Test("every supported type round-trips, including NULLs and extremes")
    func typesRoundTrip() async throws {
        try await TestDB.withPool { pool in
            let table = TestDB.uniqueName("types")
            try await pool.query(
                """
                CREATE TABLE \(identifier: table) (
                    id int PRIMARY KEY, t text, i int8, i64 int8, i32 int4, d float8, b bool,
                    u uuid, ts timestamptz, by bytea, j jsonb)
                """)
            struct Sample: Sendable {
                var t: String?, i: Int?, i64: Int64?, i32: Int32?, d: Double?, b: Bool?
                var u: UUID?, ts: Date?, by: [UInt8]?, j: PostgresJSON?
            }
            let doc = Doc(a: [1, 2, 3], s: "ü\"\\")
            let samples: [Sample] = [
                Sample(
                    t: "Grüße 👋 日本語 e\u{301} tab\there \"quoted\" back\\slash", i: Int.max, i64: Int64.max,
                    i32: Int32.max, d: Double.pi, b: true, u: UUID(),
                    ts: Date(timeIntervalSince1970: 1_709_210_096.789_012), by: [0, 1, 0, 255, 0, 0x5c, 0x78],
                    j: try PostgresJSON(encoding: doc)),
                Sample(
                    t: "", i: Int.min, i64: Int64.min, i32: Int32.min, d: -1e-300, b: false, u: UUID(),
                    ts: Date(timeIntervalSince1970: -14_182_939.5), by: [], j: PostgresJSON("[]")),
                Sample(
                    t: nil, i: nil, i64: nil, i32: nil, d: nil, b: nil, u: nil, ts: nil, by: nil, j: nil),
            ]
            for (id, s) in samples.enumerated() {
                try await pool.query(
                    """
                    INSERT INTO \(identifier: table) (id, t, i, i64, i32, d, b, u, ts, by, j)
                    VALUES (\(Int32(id)), \(s.t), \(s.i), \(s.i64), \(s.i32), \(s.d), \(s.b), \(s.u), \(s.ts), \(s.by), \(s.j))
                    """)
            }
            let rows = try await pool.query("SELECT * FROM \(identifier: table) ORDER BY id")
            #expect(rows.count == 3)
            #expect(rows.columns == ["id", "t", "i", "i64", "i32", "d", "b", "u", "ts", "by", "j"])
            for (row, s) in zip(rows, samples) {
                #expect(try row.decode("t", as: String?.self) == s.t)
                #expect(try row.decode("i", as: Int?.self) == s.i)
                #expect(try row.decode("i64", as: Int64?.self) == s.i64)
                #expect(try row.decode("i32", as: Int32?.self) == s.i32)
                #expect(try row.decode("d", as: Double?.self) == s.d)
                #expect(try row.decode("b", as: Bool?.self) == s.b)
                #expect(try row.decode("u", as: UUID?.self) == s.u)
                #expect(try row.decode("by", as: [UInt8]?.self) == s.by)
                let ts = try row.decode("ts", as: Date?.self)
                #expect((ts == nil) == (s.ts == nil))
                if let ts, let expected = s.ts {
                    #expect(abs(ts.timeIntervalSince(expected)) < 0.000_001)
                }
                #expect(try row.isNull("j") == (s.j == nil))
            }
            #expect(try rows[0].decode("j", as: PostgresJSON.self).decode(as: Doc.self) == doc)
            #expect(try rows[1].decode("j", as: PostgresJSON.self).text == "[]")
            // Decoding by index works too.
            #expect(try rows[1].decode(1, as: String.self) == "")
        }
    }

    @Test("binds carry the intended Postgres types")
    func bindTypes() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let id = UUID()
            let rows = try await pool.query(
                """
                SELECT pg_typeof(\(1))::text AS int, pg_typeof(\(Int32(1)))::text AS int32,
                       pg_typeof(\(1.5))::text AS double, pg_typeof(\(true))::text AS bool,
                       pg_typeof(\(UUID()))::text AS uuid, pg_typeof(\(Date()))::text AS date,
                       pg_typeof(\([UInt8]([1])))::text AS bytes, pg_typeof(\(PostgresJSON("{}")))::text AS json,
                       pg_typeof(\(Int?.none))::text AS null_int,
                       \(id) = \(id.uuidString.lowercased()) AS string_as_uuid,
                       \("2024-02-29 12:00:00+00") < \(Date()) AS string_as_timestamptz
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("int", as: String.self) == "bigint")
            #expect(try row.decode("int32", as: String.self) == "integer")
            #expect(try row.decode("double", as: String.self) == "double precision")
            #expect(try row.decode("bool", as: String.self) == "boolean")
            #expect(try row.decode("uuid", as: String.self) == "uuid")
            #expect(try row.decode("date", as: String.self) == "timestamp with time zone")
            #expect(try row.decode("bytes", as: String.self) == "bytea")
            #expect(try row.decode("json", as: String.self) == "jsonb")
            // Strings are sent untyped, so the server infers uuid/timestamptz from context.
            #expect(try row.decode("string_as_uuid", as: Bool.self))
            #expect(try row.decode("string_as_timestamptz", as: Bool.self))
            #expect(try row.decode("null_int", as: String.self) == "bigint")
        }
    }

    @Test("special doubles and 64-bit extremes survive server-side arithmetic")
    func numericEdges() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let rows = try await pool.query(
                """
                SELECT \(Double.infinity) AS inf, \(-Double.infinity) AS ninf, \(Double.nan) AS nan,
                       \(0.1) + \(0.2) AS sum, \(Int64.max) AS max, \(Int64.min) AS min,
                       \(Int64.max) - 1 AS max_minus_one
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("inf", as: Double.self) == .infinity)
            #expect(try row.decode("ninf", as: Double.self) == -.infinity)
            #expect(try row.decode("nan", as: Double.self).isNaN)
            #expect(try row.decode("sum", as: Double.self) == 0.1 + 0.2)
            #expect(try row.decode("max", as: Int64.self) == .max)
            #expect(try row.decode("min", as: Int.self) == .min)
            #expect(try row.decode("max_minus_one", as: Int64.self) == .max - 1)
        }
    }

    @Test("timestamps: encoding matches the server, offsets and BC years decode")
    func timestamps() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let date = Date(timeIntervalSince1970: 1_709_210_096.789_012)
            let rows = try await pool.query(
                """
                SELECT \(date) = '2024-02-29 12:34:56.789012+00'::timestamptz AS same,
                       '2024-02-29 12:34:56.789012+00'::timestamptz AS server,
                       '2024-02-29 12:34:56.789012'::timestamp AS naive,
                       '2024-02-29'::date AS day,
                       '0044-03-15 12:00:00+00 BC'::timestamptz AS ides,
                       extract(epoch FROM '0044-03-15 12:00:00+00 BC'::timestamptz)::float8 AS ides_epoch,
                       'infinity'::timestamptz AS forever
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("same", as: Bool.self))
            #expect(abs(try row.decode("server", as: Date.self).timeIntervalSince(date)) < 0.000_001)
            #expect(abs(try row.decode("naive", as: Date.self).timeIntervalSince(date)) < 0.000_001)
            #expect(try row.decode("day", as: Date.self) == Date(timeIntervalSince1970: 1_709_164_800))
            let ides = try row.decode("ides", as: Date.self)
            #expect(ides.timeIntervalSince1970 == (try row.decode("ides_epoch", as: Double.self)))
            #expect(try row.decode("forever", as: Date.self) == .distantFuture)
            let back = try await pool.query("SELECT \(ides) = '0044-03-15 12:00:00+00 BC'::timestamptz AS same")
            #expect(try back[0].decode("same", as: Bool.self))

            // A session that changed its TimeZone still decodes correctly (non-hour offset).
            let shifted = try await pool.withConnection { connection in
                try connection.execute(simple: "SET TIME ZONE 'Asia/Kathmandu'")
                defer { try? connection.execute(simple: "RESET TIME ZONE") }
                let rows = try connection.query("SELECT \(date)::timestamptz AS ts, \(date)::text AS txt")
                return (try rows[0].decode("ts", as: Date.self), try rows[0].decode("txt", as: String.self))
            }
            #expect(shifted.1.hasSuffix("+05:45"))
            #expect(abs(shifted.0.timeIntervalSince(date)) < 0.000_001)
        }
    }

    @Test("decode errors are typed: NULL, overflow, wrong type, unknown column")
    func decodeErrors() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let rows = try await pool.query(
                """
                SELECT NULL::int8 AS nothing, 3000000000::int8 AS big, '9223372036854775808'::numeric AS huge,
                       'abc'::text AS word, 'maybe'::text AS notbool, '\\x00'::bytea AS blob
                """)
            let row = try #require(rows.first)
            #expect(try row.decode("nothing", as: Int?.self) == nil)
            let cases: [(String, @Sendable (PostgresRow) throws -> Void)] = [
                ("nothing", { _ = try $0.decode("nothing", as: Int.self) }),
                ("big", { _ = try $0.decode("big", as: Int32.self) }),
                ("huge", { _ = try $0.decode("huge", as: Int.self) }),
                ("word", { _ = try $0.decode("word", as: Int.self) }),
                ("notbool", { _ = try $0.decode("notbool", as: Bool.self) }),
                ("word", { _ = try $0.decode("word", as: [UInt8].self) }),
                ("missing", { _ = try $0.decode("missing", as: String.self) }),
                ("index", { _ = try $0.decode(99, as: String.self) }),
            ]
            for (name, decode) in cases {
                let error = #expect(throws: PostgresError.self, "\(name)") { try decode(row) }
                #expect(error?.code == .decodeFailed, "\(name)")
                #expect(error?.isRetriable == false)
            }
            #expect(try row.decode("big", as: Int.self) == 3_000_000_000)
            #expect(try row.decode("blob", as: [UInt8].self) == [0])
        }
    }

    @Test("identifiers are validated and quoted; bad ones never reach the server")
    func identifiers() async throws {
        #expect(try PostgresQuery.quotedIdentifier("Read_Model_1") == "\"Read_Model_1\"")
        for bad in ["", "1abc", "a-b", "a b", "x\"; DROP TABLE y; --", "ümlaut", String(repeating: "a", count: 64)] {
            #expect(throws: PostgresError.self) { try PostgresQuery.quotedIdentifier(bad) }
        }
        try await TestDB.withPool(size: 1) { pool in
            let evil = "t\"; DROP TABLE pg_class; --"
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT * FROM \(identifier: evil)")
            }
            #expect(error?.code == .invalidQuery)
            // Mixed case survives thanks to quoting.
            let table = "Mixed_" + TestDB.uniqueName("Case")
            try await pool.query("CREATE TABLE \(identifier: table) (id int)")
            let found = try await pool.query("SELECT count(*) AS n FROM pg_class WHERE relname = \(table)")
            #expect(try found[0].decode("n", as: Int.self) == 1)
            try await pool.query("DROP TABLE \(identifier: table)")
        }
    }

    @Test("rows expose columns, counts and affected rows; unsafeSQL binds work")
    func rowsMetadata() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let table = TestDB.uniqueName("meta")
            try await pool.query("CREATE TABLE \(identifier: table) (id int8, v text)")
            let insert = try await pool.query(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(table) SELECT g, $1 FROM generate_series(1, $2::int) g",
                    binds: [PostgresValue("x"), PostgresValue(5)]))
            #expect(insert.affectedRows == 5)
            #expect(insert.commandTag == "INSERT 0 5")
            #expect(insert.isEmpty)
            let update = try await pool.query("UPDATE \(identifier: table) SET v = \("y") WHERE id > \(2)")
            #expect(update.affectedRows == 3)
            let select = try await pool.query("SELECT id, v FROM \(identifier: table) WHERE v = \("y") ORDER BY id")
            #expect(select.columns == ["id", "v"])
            #expect(select.count == 3)
            #expect(try select.map { try $0.decode("id", as: Int.self) } == [3, 4, 5])
            let nothing = try await pool.query("SELECT id FROM \(identifier: table) WHERE false")
            #expect(nothing.count == 0 && nothing.columns == ["id"])
            let nul = await #expect(throws: PostgresError.self) { try await pool.query("SELECT \("a\u{0}b")") }
            #expect(nul?.code == .invalidQuery)
        }
    }

    @Test("execute(simple:) runs multi-statement SQL and stops at the first error")
    func simpleExecution() async throws {
        try await TestDB.withPool(size: 1) { pool in
            try await TestDB.withSchema(pool) { schema in
                try await pool.withConnection { connection in
                    try connection.execute(
                        simple: """
                            CREATE TABLE "\(schema)".a (id int);
                            INSERT INTO "\(schema)".a VALUES (1), (2);
                            CREATE TABLE "\(schema)".b (id int);
                            """)
                    let error = #expect(throws: PostgresError.self) {
                        try connection.execute(
                            simple: """
                                INSERT INTO "\(schema)".a VALUES (3); SELECT * FROM "\(schema)".nope; INSERT INTO "\(schema)".a VALUES (4);
                                """)
                    }
                    #expect(error?.sqlState == "42P01")
                    // Implicit transaction of the failed batch rolled back; connection still usable.
                    let rows = try connection.query("SELECT count(*) AS n FROM \(identifier: schema).a")
                    #expect(try rows[0].decode("n", as: Int.self) == 2)
                    #expect(connection.isHealthy)
                }
            }
        }
    }
}
