/// SQL plus binds. Every `\(value)` interpolation becomes a `$n` parameter, so the easy way to
/// write a query is also the injection-safe one. `\(identifier: name)` splices a validated,
/// double-quoted identifier for names that cannot be parameters (schema/table from config);
/// an invalid identifier makes the query throw `.invalidQuery` when executed.
public struct PostgresQuery: ExpressibleByStringInterpolation, Sendable, Hashable {
    public var sql: String
    public var binds: [PostgresValue]
    /// Planned with each call's values and never prepared (`StatementCache`). For statements
    /// whose best plan depends on the values and on the table's size, such as a lookup of a
    /// batch's keys: a generic plan made while the table was nearly empty (a sequential scan)
    /// would otherwise stay until the next ANALYZE, and cost more as the table grows.
    public var plansEachCall = false
    /// First client-side problem found while building; reported at execution time because
    /// interpolation cannot throw.
    var buildError: String?

    /// Raw SQL with explicit `$n` binds. "unsafe" because nothing stops splicing user input
    /// into `unsafeSQL`; prefer interpolation.
    public init(unsafeSQL: String, binds: [PostgresValue] = []) {
        self.sql = unsafeSQL
        self.binds = binds
        self.buildError = nil
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
        self.buildError = stringInterpolation.buildError
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql = ""
        var binds: [PostgresValue] = []
        var buildError: String?

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            appendInterpolation(PostgresValue(value))
        }

        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            appendInterpolation(PostgresValue(value))
        }

        public mutating func appendInterpolation(_ value: PostgresValue) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// A fragment of SQL fixed at compile time (a column list shared by several queries):
        /// a `StaticString` cannot come from input.
        public mutating func appendInterpolation(sql fragment: StaticString) {
            sql += fragment.description
        }

        /// A schema/table/column name: must match `[A-Za-z_][A-Za-z0-9_]*` (≤ 63 bytes) and
        /// is emitted double-quoted, so it is case-sensitive.
        public mutating func appendInterpolation(identifier: String) {
            do {
                sql += try PostgresQuery.quotedIdentifier(identifier)
            } catch {
                if buildError == nil { buildError = error.message }
                sql += "\"<invalid identifier>\""
            }
        }
    }

    /// Validates and double-quotes an identifier; throws `.invalidQuery` for anything outside
    /// `[A-Za-z_][A-Za-z0-9_]*` or longer than Postgres' 63-byte limit.
    public static func quotedIdentifier(_ name: String) throws(PostgresError) -> String {
        let bytes = Array(name.utf8)
        func isStart(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || b == UInt8(ascii: "_")
        }
        func isBody(_ b: UInt8) -> Bool { isStart(b) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) }
        guard let first = bytes.first, isStart(first), bytes.allSatisfy(isBody), bytes.count <= 63 else {
            // The rejected text is not echoed: it may come from untrusted input.
            throw PostgresError(
                code: .invalidQuery,
                message: "invalid SQL identifier (must match [A-Za-z_][A-Za-z0-9_]* and be at most 63 bytes)")
        }
        return "\"" + name + "\""
    }
}
