/// Every failure this module reports. `code` is the stable category to switch on; `sqlState`
/// is the server's five-character SQLSTATE when the server produced the error.
///
/// `description` carries the code, SQLSTATE and primary message only: `detail` can echo row
/// data (e.g. the duplicate key), so it is available as a property but never printed.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// Could not connect, or the connection was lost mid-operation (then the statement may
        /// or may not have been applied).
        case connectionFailed
        /// The server rejected the statement; see `sqlState`.
        case queryFailed
        /// A column value could not be turned into the requested Swift type.
        case decodeFailed
        /// The pool was closed before or while waiting for a connection.
        case poolClosed
        /// No pooled connection became free within the pool's acquire timeout.
        case timeout
        /// Rejected client-side before reaching the server (bad identifier, NUL byte, misuse).
        case invalidQuery
        /// Migration history in the database does not match the code (edited history).
        case migrationFailed
    }

    public var code: Code
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    /// Whether retrying the same unit of work may succeed. For 40001/40P01 that means
    /// retrying the *whole transaction*, not the failed statement.
    public var isRetriable: Bool

    public init(
        code: Code, sqlState: String? = nil, message: String, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil, schema: String? = nil,
        table: String? = nil, column: String? = nil, isRetriable: Bool? = nil
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.schema = schema
        self.table = table
        self.column = column
        self.isRetriable = isRetriable ?? Self.defaultRetriable(code: code, sqlState: sqlState)
    }

    static func defaultRetriable(code: Code, sqlState: String?) -> Bool {
        switch code {
        case .connectionFailed, .timeout: return true
        case .decodeFailed, .poolClosed, .invalidQuery, .migrationFailed: return false
        case .queryFailed:
            guard let state = sqlState else { return false }
            if state.hasPrefix("08") { return true }  // connection exception class
            return [
                "40001",  // serialization_failure
                "40P01",  // deadlock_detected
                "55P03",  // lock_not_available (lock_timeout / NOWAIT)
                "53300",  // too_many_connections
                "57P01",  // admin_shutdown
                "57P02",  // crash_shutdown
                "57P03",  // cannot_connect_now (server starting up)
            ].contains(state)
        }
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    public var isNotNullViolation: Bool { sqlState == "23502" }
    public var isCheckViolation: Bool { sqlState == "23514" }
    public var isSerializationFailure: Bool { sqlState == "40001" }
    public var isDeadlock: Bool { sqlState == "40P01" }
    public var isSyntaxError: Bool { sqlState == "42601" }
    public var isUndefinedTable: Bool { sqlState == "42P01" }
    /// 57014: statement_timeout fired or the query was cancelled (e.g. task cancellation).
    public var isQueryCanceled: Bool { sqlState == "57014" }

    public var description: String {
        var text = "PostgresError.\(code.rawValue)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        return text
    }
}
