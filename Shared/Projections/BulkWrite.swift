public import Postgres

/// Set-based building blocks for `applyBatch`: read the current rows of the keys a batch
/// touches, fold the batch in memory in log order, write the changed rows back in one statement.
public enum BulkWrite {
    /// Rows of `sql` (which must end in `IN` and take the keys as `$1…$n`), for `keys` in
    /// chunks of 1,000.
    public static func rows(_ sql: String, keys: [String], in connection: PostgresConnection) throws -> [PostgresRow] {
        var result: [PostgresRow] = []
        var start = 0
        while start < keys.count {
            let chunk = keys[start..<min(start + 1000, keys.count)]
            let placeholders = chunk.indices.map { "$\($0 - start + 1)" }.joined(separator: ",")
            result += try connection.query(PostgresQuery(unsafeSQL: "\(sql) (\(placeholders))", binds: chunk.map { PostgresValue($0) }))
            start += 1000
        }
        return result
    }

    /// COPY `rows` into a session temp table shaped like `schema.table`, then
    /// `INSERT … ON CONFLICT (conflict)` either updating every other listed column or doing
    /// nothing. Returns the conflict-key values of the rows inserted or updated, first column
    /// only (`RETURNING`).
    @discardableResult
    public static func upsert(
        schema: String, table: String, columns: [String], conflict: [String], update: Bool,
        rows: [[String?]], in connection: PostgresConnection
    ) throws -> [String] {
        guard !rows.isEmpty else { return [] }
        let target = "\(try PostgresQuery.quotedIdentifier(schema)).\(try PostgresQuery.quotedIdentifier(table))"
        let staging = try PostgresQuery.quotedIdentifier("batch_\(schema)_\(table)")
        let columnList = try columns.map(PostgresQuery.quotedIdentifier).joined(separator: ", ")
        try connection.execute(simple: "CREATE TEMP TABLE IF NOT EXISTS \(staging) (LIKE \(target)) ON COMMIT DELETE ROWS")
        _ = try connection.copyIn("COPY \(staging) (\(columnList)) FROM STDIN", rows: rows)
        let conflictList = try conflict.map(PostgresQuery.quotedIdentifier).joined(separator: ", ")
        let action: String
        if update {
            let sets = try columns.filter { !conflict.contains($0) }.map { "\(try PostgresQuery.quotedIdentifier($0)) = EXCLUDED.\(try PostgresQuery.quotedIdentifier($0))" }
            action = "DO UPDATE SET \(sets.joined(separator: ", "))"
        } else {
            action = "DO NOTHING"
        }
        let returned = try connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO \(target) (\(columnList)) SELECT \(columnList) FROM \(staging)
            ON CONFLICT (\(conflictList)) \(action) RETURNING \(try PostgresQuery.quotedIdentifier(conflict[0]))::text AS key
            """))
        return try returned.map { try $0.decode("key", as: String.self) }
    }
}
