import Logging

/// One forward-only schema change. `version` orders and identifies it; `name` is recorded so
/// that editing history (renumbering/renaming an applied migration) is detected.
public struct Migration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies the pending `migrations` for `schema`, oldest first, each in its own transaction
/// (so the SQL must not contain statements that refuse to run in one, e.g. CREATE INDEX
/// CONCURRENTLY). Every step holds `pg_advisory_xact_lock` keyed by the schema name, so
/// replicas starting together apply each migration exactly once. Applied versions are
/// recorded in `<schema>.schema_migrations`; the schema and that table are created if missing.
/// Inside a migration `search_path` is `<schema>, public`, so unqualified names land in the
/// schema. Throws `.migrationFailed` if an applied version's recorded name differs.
public func migrate(_ pool: PostgresPool, schema: String, migrations: [Migration], logger: Logger) async throws {
    _ = try PostgresQuery.quotedIdentifier(schema)
    var versions = Set<Int>()
    for migration in migrations {
        guard migration.version > 0 else {
            throw PostgresError(code: .migrationFailed, message: "migration versions must be positive (got \(migration.version))")
        }
        guard versions.insert(migration.version).inserted else {
            throw PostgresError(code: .migrationFailed, message: "duplicate migration version \(migration.version)")
        }
    }
    let ordered = migrations.sorted { $0.version < $1.version }
    let lockKey = migrationLockKey(schema: schema)

    let applied = try await pool.transaction { connection in
        try connection.query("SELECT pg_advisory_xact_lock(\(lockKey))")
        let schemaExists = try connection.query("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)").count > 0
        if !schemaExists {
            // Only when missing: CREATE SCHEMA IF NOT EXISTS would still need CREATE privilege.
            try connection.query("CREATE SCHEMA \(identifier: schema)")
        }
        try connection.query(
            """
            CREATE TABLE IF NOT EXISTS \(identifier: schema).schema_migrations (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        return try appliedMigrations(connection, schema: schema)
    }
    try checkHistory(applied: applied, against: ordered)
    let known = Set(ordered.map(\.version))
    let unknown = applied.keys.filter { !known.contains($0) }.sorted()
    if !unknown.isEmpty {
        logger.warning(
            "database has migrations this build does not know (newer deployment?)",
            metadata: ["schema": "\(schema)", "versions": "\(unknown)"])
    }

    for migration in ordered where applied[migration.version] == nil {
        let didApply = try await pool.transaction { connection -> Bool in
            try connection.query("SELECT pg_advisory_xact_lock(\(lockKey))")
            // Re-read under the lock: another replica may have applied it meanwhile.
            let current = try appliedMigrations(connection, schema: schema)
            try checkHistory(applied: current, against: [migration])
            if current[migration.version] != nil { return false }
            try connection.query("SELECT set_config('search_path', \(schemaSearchPath(schema)), true)")
            try connection.execute(simple: migration.sql)
            try connection.query(
                """
                INSERT INTO \(identifier: schema).schema_migrations (version, name)
                VALUES (\(migration.version), \(migration.name))
                """)
            return true
        }
        if didApply {
            logger.info(
                "applied migration",
                metadata: ["schema": "\(schema)", "version": "\(migration.version)", "name": "\(migration.name)"])
        }
    }
}

private func appliedMigrations(_ connection: PostgresConnection, schema: String) throws -> [Int: String] {
    var applied: [Int: String] = [:]
    for row in try connection.query("SELECT version, name FROM \(identifier: schema).schema_migrations") {
        applied[try row.decode("version", as: Int.self)] = try row.decode("name", as: String.self)
    }
    return applied
}

private func checkHistory(applied: [Int: String], against migrations: [Migration]) throws {
    for migration in migrations {
        if let recorded = applied[migration.version], recorded != migration.name {
            throw PostgresError(
                code: .migrationFailed,
                message: "migration \(migration.version) was applied as \"\(recorded)\" but is now \"\(migration.name)\"; "
                    + "applied migrations must not be edited, add a new one instead")
        }
    }
}

private func schemaSearchPath(_ schema: String) -> String {
    // Validated identifier, so quoting cannot be broken out of.
    "\"\(schema)\", public"
}

/// Stable across processes and builds (unlike Hasher): FNV-1a over a namespaced schema name.
private func migrationLockKey(schema: String) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in "switchboard.migrate:\(schema)".utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return Int64(bitPattern: hash)
}
