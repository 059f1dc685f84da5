public import Postgres

/// Set-based building blocks for `Projection.apply`: read the current rows of the keys a batch
/// touches, fold the batch in memory in log order, write the changed rows back in one statement.
///
/// The same calls serve a live batch of a few events and a rebuild batch of thousands; how the
/// rows travel is chosen here by size: a few as array parameters of one statement (one round
/// trip), many through `COPY` into a temporary table (fastest per row).
public enum BulkWrite {
    /// A column written by `upsert`, with the Postgres type its text converts to.
    public struct Column: Sendable, ExpressibleByStringLiteral {
        public var name: String
        public var type: String
        public init(_ name: String, _ type: String) {
            self.name = name
            self.type = type
        }
        /// `"name type"`, e.g. `"step_id uuid"`.
        public init(stringLiteral value: String) {
            let parts = value.split(separator: " ", maxSplits: 1)
            self.init(String(parts[0]), parts.count > 1 ? String(parts[1]) : "text")
        }
    }

    /// Rows from here on go through `COPY`.
    public static let copyThreshold = 200

    /// Rows of `sql`, which must end with the key column (`… WHERE conversation_id`), for
    /// `keys`: one statement whatever the number of keys (`= ANY($1)`, the array typed by the
    /// column), planned with the keys each time (`plansEachCall`).
    public static func rows(_ sql: String, keys: [String], in connection: PostgresConnection) throws -> [PostgresRow] {
        guard !keys.isEmpty else { return [] }
        var query = PostgresQuery(unsafeSQL: "\(sql) = ANY($1)", binds: [PostgresValue(dataType: .unspecified, text: arrayLiteral(keys))])
        query.plansEachCall = true
        return Array(try connection.query(query))
    }

    /// `INSERT … ON CONFLICT (conflict)` of `rows` (text per column, nil for NULL), either
    /// updating every other column or doing nothing. Returns the first conflict column's values
    /// (as text) of the rows inserted or updated.
    @discardableResult
    public static func upsert(
        schema: String, table: String, columns: [Column], conflict: [String], update: Bool,
        rows: [[String?]], in connection: PostgresConnection
    ) throws -> [String] {
        guard !rows.isEmpty else { return [] }
        let target = "\(try PostgresQuery.quotedIdentifier(schema)).\(try PostgresQuery.quotedIdentifier(table))"
        let names = try columns.map { try PostgresQuery.quotedIdentifier($0.name) }
        let columnList = names.joined(separator: ", ")
        let conflictList = try conflict.map(PostgresQuery.quotedIdentifier).joined(separator: ", ")
        let action: String
        if update {
            let sets = names.filter { name in !conflict.contains { (try? PostgresQuery.quotedIdentifier($0)) == name } }.map { "\($0) = EXCLUDED.\($0)" }
            action = "DO UPDATE SET \(sets.joined(separator: ", "))"
        } else {
            action = "DO NOTHING"
        }
        let returning = "RETURNING \(try PostgresQuery.quotedIdentifier(conflict[0]))::text AS key"
        let returned: PostgresRows
        if rows.count >= copyThreshold {
            let staging = try PostgresQuery.quotedIdentifier("batch_\(schema)_\(table)")
            try connection.execute(simple: "CREATE TEMP TABLE IF NOT EXISTS \(staging) (LIKE \(target)) ON COMMIT DELETE ROWS")
            _ = try connection.copyIn("COPY \(staging) (\(columnList)) FROM STDIN", rows: rows)
            returned = try connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(target) (\(columnList)) SELECT \(columnList) FROM \(staging) ON CONFLICT (\(conflictList)) \(action) \(returning)
                """))
        } else {
            // One text-array parameter per column, converted by the column's type.
            let arrays = try columns.indices.map { index in
                "$\(index + 1)::text[]::\(try typeName(columns[index].type))[]"
            }
            let binds = columns.indices.map { index in PostgresValue(arrayLiteral(rows.map { $0[index] })) }
            returned = try connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(target) (\(columnList)) SELECT * FROM unnest(\(arrays.joined(separator: ", ")))
                ON CONFLICT (\(conflictList)) \(action) \(returning)
                """, binds: binds))
        }
        return try returned.map { try $0.decode("key", as: String.self) }
    }

    /// Postgres array text: every element quoted, `"` and `\` escaped; nil is NULL. Built as
    /// UTF-8 bytes, copying runs without a quote or backslash in one go (a scalar-by-scalar
    /// append was most of the gateway's audit-log write in profiles).
    public static func arrayLiteral(_ values: [String?]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(values.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard var element = value else {
                out.append(contentsOf: "NULL".utf8)
                continue
            }
            out.append(UInt8(ascii: "\""))
            element.withUTF8 { bytes in
                var start = 0
                for (position, byte) in bytes.enumerated() where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    out.append(contentsOf: bytes[start..<position])
                    out.append(UInt8(ascii: "\\"))
                    start = position
                }
                out.append(contentsOf: bytes[start...])
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Type names are spliced into SQL: only letters, digits, spaces and underscores.
    static func typeName(_ type: String) throws -> String {
        guard !type.isEmpty, type.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == " " || $0 == "_" }) else {
            throw PostgresError(code: .invalidQuery, message: "not a type name: \(type)")
        }
        return type
    }
}
