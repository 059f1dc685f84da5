import DatabaseTestSupport
import Foundation
import Postgres
import Testing

@Suite("Migrations", .timeLimit(.minutes(1)))
struct MigrationTests {
    // Neither migration is idempotent on its own: applying one twice would throw.
    static let base = [
        Migration(
            version: 1, name: "create_items",
            sql: "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); CREATE TABLE applied_log (version int);"),
        Migration(
            version: 2, name: "seed_items",
            sql: "INSERT INTO items VALUES (1, 'first'); INSERT INTO applied_log VALUES (2);"),
    ]

    static func versions(_ pool: PostgresPool, _ schema: String) async throws -> [Int] {
        try await pool.query("SELECT version FROM \(identifier: schema).schema_migrations ORDER BY version")
            .map { try $0.decode("version", as: Int.self) }
    }

    static func dropSchema(_ pool: PostgresPool, _ schema: String) async {
        _ = try? await pool.query("DROP SCHEMA IF EXISTS \(identifier: schema) CASCADE")
    }

    @Test("applies once, re-runs are no-ops, later migrations apply alone")
    func appliesOnce() async throws {
        try await TestDB.withPool { pool in
            let schema = TestDB.uniqueName("mig")
            try await migrate(pool, schema: schema, migrations: Self.base, logger: TestDB.logger)
            #expect(try await Self.versions(pool, schema) == [1, 2])
            try await migrate(pool, schema: schema, migrations: Self.base, logger: TestDB.logger)
            #expect(try await Self.versions(pool, schema) == [1, 2])
            let third = Migration(version: 3, name: "add_column", sql: "ALTER TABLE items ADD COLUMN note text;")
            try await migrate(pool, schema: schema, migrations: Self.base + [third], logger: TestDB.logger)
            #expect(try await Self.versions(pool, schema) == [1, 2, 3])
            let rows = try await pool.query("SELECT name, note FROM \(identifier: schema).items")
            #expect(rows.count == 1)
            #expect(try rows[0].decode("note", as: String?.self) == nil)
            await Self.dropSchema(pool, schema)
        }
    }

    @Test("two replicas migrating at once apply each migration exactly once")
    func concurrentMigrations() async throws {
        let schema = TestDB.uniqueName("mig")
        let a = try TestDB.makePool(size: 1)
        let b = try TestDB.makePool(size: 1)
        async let first: Void = migrate(a, schema: schema, migrations: Self.base, logger: TestDB.logger)
        async let second: Void = migrate(b, schema: schema, migrations: Self.base, logger: TestDB.logger)
        _ = try await (first, second)
        #expect(try await Self.versions(a, schema) == [1, 2])
        let log = try await a.query("SELECT count(*) AS n FROM \(identifier: schema).applied_log")
        #expect(try log[0].decode("n", as: Int.self) == 1)
        await Self.dropSchema(a, schema)
        await a.close()
        await b.close()
    }

    @Test("edited history is refused and nothing else is applied")
    func editedHistory() async throws {
        try await TestDB.withPool { pool in
            let schema = TestDB.uniqueName("mig")
            try await migrate(pool, schema: schema, migrations: Self.base, logger: TestDB.logger)
            var edited = Self.base
            edited[1].name = "seed_items_v2"
            edited.append(Migration(version: 3, name: "more", sql: "CREATE TABLE more (id int);"))
            let error = await #expect(throws: PostgresError.self) {
                try await migrate(pool, schema: schema, migrations: edited, logger: TestDB.logger)
            }
            #expect(error?.code == .migrationFailed)
            #expect(error?.message.contains("seed_items") == true)
            #expect(try await Self.versions(pool, schema) == [1, 2])
            await Self.dropSchema(pool, schema)
        }
    }

    @Test("a failing migration rolls back completely and is not recorded")
    func failingMigration() async throws {
        try await TestDB.withPool { pool in
            let schema = TestDB.uniqueName("mig")
            let broken = Self.base + [
                Migration(version: 3, name: "broken", sql: "CREATE TABLE half (id int); SELECT * FROM does_not_exist;")
            ]
            let error = await #expect(throws: PostgresError.self) {
                try await migrate(pool, schema: schema, migrations: broken, logger: TestDB.logger)
            }
            #expect(error?.sqlState == "42P01")
            #expect(try await Self.versions(pool, schema) == [1, 2])
            let half = try await pool.query("SELECT to_regclass(\(schema + ".half")) IS NULL AS absent")
            #expect(try half[0].decode("absent", as: Bool.self))
            await Self.dropSchema(pool, schema)
        }
    }

    @Test("invalid input is rejected before touching the database")
    func invalidInput() async throws {
        try await TestDB.withPool(size: 1) { pool in
            let badSchema = await #expect(throws: PostgresError.self) {
                try await migrate(pool, schema: "x; DROP SCHEMA public", migrations: Self.base, logger: TestDB.logger)
            }
            #expect(badSchema?.code == .invalidQuery)
            let duplicate = await #expect(throws: PostgresError.self) {
                try await migrate(
                    pool, schema: TestDB.uniqueName("mig"), migrations: Self.base + [Self.base[0]], logger: TestDB.logger)
            }
            #expect(duplicate?.code == .migrationFailed)
        }
    }
}
