internal import CLibPQ
import Foundation
import Logging
import Synchronization

/// Isolation level for `transaction(isolation:_:)`.
public enum PostgresIsolationLevel: String, Sendable, Hashable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// One libpq connection in blocking mode. Every call blocks the calling thread until the
/// server answers, so use it only on a thread you own — normally inside
/// `PostgresPool.withConnection`, which runs on the pool's dedicated threads. Not Sendable:
/// a PGconn must not be used from two threads at once.
///
/// Sessions always run with DateStyle=ISO, TimeZone=UTC and client_encoding=UTF8 (added to
/// the URL's own `options`), which the text decoders rely on.
public final class PostgresConnection {
    private var pgconn: OpaquePointer?  // PGconn*
    let cancelHandle: CancelHandle
    private let noticeSink: Unmanaged<NoticeSink>?
    private var statements: StatementCache?

    private init(pgconn: OpaquePointer, noticeSink: Unmanaged<NoticeSink>?, preparesStatements: Bool) {
        self.pgconn = pgconn
        self.noticeSink = noticeSink
        self.cancelHandle = CancelHandle(pgconn: pgconn)
        self.statements = preparesStatements ? StatementCache() : nil
    }

    deinit { close() }

    /// Connects synchronously. `url` is a libpq URI or key=value string; it is never echoed in
    /// errors (it may hold a password). `connect_timeout` defaults to 10 s unless the URL sets it.
    /// Server NOTICE/WARNING messages go to `logger` (debug/warning) instead of stderr.
    /// `preparesStatements`: `query` prepares a statement the second time it sees its text (see
    /// `StatementCache`); turn it off behind a pooler that does not keep prepared statements
    /// (PgBouncer in transaction mode before 1.21).
    public static func connect(
        url: String, applicationName: String? = nil, logger: Logger? = nil, preparesStatements: Bool = true
    ) throws(PostgresError) -> PostgresConnection {
        var parseError: UnsafeMutablePointer<CChar>? = nil
        guard let parsed = PQconninfoParse(url, &parseError) else {
            if let parseError { PQfreemem(parseError) }
            throw PostgresError(
                code: .connectionFailed,
                message: "invalid connection URL (expected postgres://user@host:port/dbname or key=value pairs)",
                isRetriable: false)
        }
        var urlOptions: String? = nil
        var urlSetsTimeout = false
        var urlSetsAppName = false
        var option = parsed
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                switch String(cString: keyword) {
                case "options": urlOptions = String(cString: value)
                case "connect_timeout": urlSetsTimeout = true
                case "application_name": urlSetsAppName = true
                default: break
                }
            }
            option += 1
        }
        PQconninfoFree(parsed)

        // Entries before "dbname" are defaults the URL may override; entries after it win.
        var pairs: [(String, String)] = []
        if !urlSetsTimeout { pairs.append(("connect_timeout", "10")) }
        if !urlSetsAppName, let applicationName { pairs.append(("application_name", applicationName)) }
        pairs.append(("dbname", url))
        let forced = "-c DateStyle=ISO,YMD -c TimeZone=UTC -c bytea_output=hex -c extra_float_digits=3"
        pairs.append(("options", [urlOptions, forced].compactMap { $0 }.joined(separator: " ")))
        pairs.append(("client_encoding", "UTF8"))

        let keywords = CStringArray(pairs.map(\.0))
        let values = CStringArray(pairs.map(\.1))
        guard let conn = PQconnectdbParams(keywords.pointers, values.pointers, 1) else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = lastErrorMessage(conn)
            PQfinish(conn)  // a failed PGconn still owns memory and maybe a socket
            throw PostgresError(code: .connectionFailed, message: message)
        }

        var sink: Unmanaged<NoticeSink>? = nil
        if let logger {
            let retained = Unmanaged.passRetained(NoticeSink(logger: logger))
            PQsetNoticeReceiver(conn, { NoticeSink.receive($0, $1) }, retained.toOpaque())
            sink = retained
        } else {
            // Default libpq behaviour prints notices to stderr; drop them instead.
            PQsetNoticeReceiver(conn, { _, _ in }, nil)
        }
        return PostgresConnection(pgconn: conn, noticeSink: sink, preparesStatements: preparesStatements)
    }

    /// Closes the connection (idempotent). Also done by deinit.
    public func close() {
        cancelHandle.free()
        if let conn = pgconn {
            PQfinish(conn)
            pgconn = nil
            noticeSink?.release()
        }
    }

    public var isClosed: Bool { pgconn == nil }

    /// False once the connection is closed or broken. Cheap (one non-blocking poll): it also
    /// notices a server-side termination (pg_terminate_backend, restart) of an idle connection.
    public var isHealthy: Bool {
        guard let conn = pgconn, PQstatus(conn) == CONNECTION_OK else { return false }
        guard PQtransactionStatus(conn) != PQTRANS_ACTIVE else { return true }  // mid-COPY etc.
        let fd = PQsocket(conn)
        guard fd >= 0 else { return false }
        // Idle connections receive nothing but notices/notifications, or the FATAL message
        // and EOF of a terminated backend. Drain (bounded) and let libpq notice the EOF.
        for _ in 0..<4 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 0) > 0 else { break }
            if PQconsumeInput(conn) == 0 { return false }
            // Nobody reads LISTEN notifications here; don't let libpq queue them forever.
            while let notification = PQnotifies(conn) { PQfreemem(notification) }
        }
        return PQstatus(conn) == CONNECTION_OK
    }

    /// Transaction state as libpq tracks it (idle / in transaction / failed transaction).
    var transactionStatus: PGTransactionStatusType {
        guard let conn = pgconn else { return PQTRANS_UNKNOWN }
        return PQtransactionStatus(conn)
    }

    /// Open, not broken and idle (no transaction or command in progress): safe to hand to
    /// another user. Cheaper than `isHealthy` (no socket poll).
    var isReusable: Bool {
        guard let conn = pgconn else { return false }
        return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE
    }

    /// True inside BEGIN … COMMIT (including a failed transaction awaiting ROLLBACK).
    public var isInTransaction: Bool {
        let status = transactionStatus
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    // MARK: - Queries

    /// Runs one statement with its binds (extended protocol, text format). The result is
    /// fully copied into Swift memory and the PGresult freed before returning.
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        if let buildError = query.buildError { throw PostgresError(code: .invalidQuery, message: buildError) }
        guard query.binds.count <= 65535 else {
            throw PostgresError(code: .invalidQuery, message: "too many binds (\(query.binds.count) > 65535)")
        }
        let conn = try liveConnection()
        try Self.rejectNUL(query.sql, what: "SQL text")
        var texts: [String?] = []
        texts.reserveCapacity(query.binds.count)
        for (i, bind) in query.binds.enumerated() {
            if let text = bind.text { try Self.rejectNUL(text, what: "bind $\(i + 1)") }
            texts.append(bind.text)
        }
        let types = query.binds.map { Oid($0.dataType.oid) }
        let values = CStringArray(texts, terminated: false)
        if !query.plansEachCall, let name = try preparedName(for: query.sql, types: types, on: conn) {
            guard PQsendQueryPrepared(conn, name, Int32(types.count), values.pointers, nil, nil, 0) == 1 else {
                throw connectionError(prefix: "could not send query")
            }
            do {
                return try collectResults()
            } catch {
                // A plan whose result columns changed (a table altered under it) is dropped, so
                // the caller's retry prepares it again.
                if error.sqlState == "0A000" { statements?.forget(query.sql, types: types) }
                throw error
            }
        }
        let sent = types.withUnsafeBufferPointer { typePointer in
            PQsendQueryParams(
                conn, query.sql, Int32(query.binds.count), typePointer.baseAddress, values.pointers, nil, nil, 0)
        }
        guard sent == 1 else { throw connectionError(prefix: "could not send query") }
        return try collectResults()
    }

    /// The name of the prepared statement for this text and these parameter types, preparing it
    /// now if this is its second use; nil to run it unprepared. A statement that fails to
    /// prepare throws the error its execution would have.
    private func preparedName(for sql: String, types: [Oid], on conn: OpaquePointer) throws(PostgresError) -> String? {
        guard var cache = statements else { return nil }
        defer { statements = cache }
        switch cache.lookup(sql, types: types) {
        case .prepared(let name):
            return name
        case .runUnprepared:
            return nil
        case .prepare(let name):
            let sent = types.withUnsafeBufferPointer { PQsendPrepare(conn, name, sql, Int32(types.count), $0.baseAddress) }
            guard sent == 1 else { throw connectionError(prefix: "could not send query") }
            _ = try collectResults()
            cache.recordPrepared(sql, types: types, name: name)
            return name
        }
    }

    /// Runs one or more `;`-separated statements via the simple protocol, e.g. migration DDL.
    /// Stops at the first error, which is thrown.
    public func execute(simple sql: String) throws(PostgresError) {
        _ = try executeReturningTag(sql)
    }

    @discardableResult
    func executeReturningTag(_ sql: String) throws(PostgresError) -> String {
        let conn = try liveConnection()
        try Self.rejectNUL(sql, what: "SQL text")
        guard PQsendQuery(conn, sql) == 1 else { throw connectionError(prefix: "could not send query") }
        return try collectResults().commandTag
    }

    /// Appends `field` in COPY text format, copying runs that need no escape in one go (a
    /// per-byte append dominated rebuild profiles). False if it contains a NUL byte.
    static func appendCopyText(_ field: String, to buffer: inout [UInt8]) -> Bool {
        var field = field
        return field.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let escaped: UInt8
                switch utf8[index] {
                case 0: return false
                case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                buffer.append(UInt8(ascii: "\\"))
                buffer.append(escaped)
                runStart = index + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
            return true
        }
    }

    /// `COPY … FROM STDIN` in text format: `sql` is the COPY statement, each row one array of
    /// column values (nil = NULL). Escaping of tab, newline, CR and backslash is done here.
    /// Returns the number of rows the server loaded. Rows are streamed in ~64 KiB chunks.
    @discardableResult
    public func copyIn(_ sql: String, rows: some Sequence<[String?]>) throws(PostgresError) -> Int {
        let conn = try liveConnection()
        try Self.rejectNUL(sql, what: "SQL text")
        guard PQsendQuery(conn, sql) == 1 else { throw connectionError(prefix: "could not send COPY") }
        guard let first = PQgetResult(conn) else { throw connectionError(prefix: "no result for COPY") }
        let firstStatus = PQresultStatus(first)
        guard firstStatus == PGRES_COPY_IN else {
            // Not a COPY FROM STDIN (or it failed): report the server error or the misuse.
            let reported =
                firstStatus == PGRES_FATAL_ERROR || firstStatus == PGRES_BAD_RESPONSE
                ? error(from: first)
                : PostgresError(code: .invalidQuery, message: "copyIn needs a COPY … FROM STDIN statement")
            PQclear(first)
            escapeCopyState(firstStatus)
            drainRemainingResults()
            throw reported
        }
        let expectedColumns = Int(PQnfields(first))
        PQclear(first)

        var buffer: [UInt8] = []
        buffer.reserveCapacity(65536 + 1024)
        var clientError: PostgresError? = nil
        var rowNumber = 0
        rowLoop: for row in rows {
            rowNumber += 1
            guard row.count == expectedColumns else {
                clientError = PostgresError(
                    code: .invalidQuery, message: "copyIn row \(rowNumber) has \(row.count) values, COPY expects \(expectedColumns)")
                break
            }
            for (i, field) in row.enumerated() {
                if i > 0 { buffer.append(UInt8(ascii: "\t")) }
                guard let field else {
                    buffer.append(UInt8(ascii: "\\"))
                    buffer.append(UInt8(ascii: "N"))
                    continue
                }
                if !Self.appendCopyText(field, to: &buffer) {
                    clientError = PostgresError(
                        code: .invalidQuery, message: "copyIn row \(rowNumber) contains a NUL byte, which Postgres text cannot store")
                    break rowLoop
                }
            }
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count >= 65536 {
                guard putCopyData(conn, buffer) else { break }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if clientError == nil, !buffer.isEmpty { _ = putCopyData(conn, buffer) }

        // Ending with an error message makes the server abort the COPY (nothing is loaded).
        let endResult: Int32
        if let clientError {
            endResult = PQputCopyEnd(conn, "aborted by client: \(clientError.message)")
        } else {
            endResult = PQputCopyEnd(conn, nil)
        }
        if endResult != 1 && PQstatus(conn) != CONNECTION_OK {
            drainRemainingResults()
            throw connectionError(prefix: "COPY failed")
        }
        let outcome = Result { () throws(PostgresError) -> PostgresRows in try collectResults() }
        if let clientError { throw clientError }  // the server's "COPY aborted" is a consequence
        return try outcome.get().affectedRows
    }

    private func putCopyData(_ conn: OpaquePointer, _ buffer: [UInt8]) -> Bool {
        buffer.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                PQputCopyData(conn, chars.baseAddress, Int32(chars.count)) == 1
            }
        }
    }

    /// BEGIN … COMMIT around `body`, on this connection. If `body` throws, ROLLBACK and
    /// rethrow. If `body` swallowed a statement error (transaction aborted) the COMMIT would
    /// silently roll back, so that is reported as an error (SQLSTATE 25P02) instead.
    public func transaction<T>(
        isolation: PostgresIsolationLevel = .readCommitted, _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        guard transactionStatus == PQTRANS_IDLE else {
            throw PostgresError(code: .invalidQuery, message: "transaction() called while already inside a transaction")
        }
        try execute(simple: "BEGIN ISOLATION LEVEL " + isolation.rawValue)
        let result: T
        do {
            result = try body(self)
        } catch {
            rollbackIfNeeded()
            throw error
        }
        switch transactionStatus {
        case PQTRANS_INTRANS:
            let tag = try executeReturningTag("COMMIT")
            guard tag == "COMMIT" else {
                throw PostgresError(code: .queryFailed, sqlState: "25P02", message: "COMMIT was turned into \(tag)")
            }
            return result
        case PQTRANS_INERROR:
            rollbackIfNeeded()
            throw PostgresError(
                code: .queryFailed, sqlState: "25P02",
                message: "transaction aborted by an earlier statement error that the body did not rethrow; rolled back")
        default:
            throw PostgresError(
                code: .invalidQuery, message: "transaction body ended the transaction itself (or the connection broke)")
        }
    }

    /// Best-effort ROLLBACK of an open transaction block (errors ignored).
    func rollbackIfNeeded() {
        guard isInTransaction else { return }
        _ = try? executeReturningTag("ROLLBACK")
    }

    // MARK: - libpq plumbing

    private func liveConnection() throws(PostgresError) -> OpaquePointer {
        guard let conn = pgconn else { throw PostgresError(code: .connectionFailed, message: "connection is closed") }
        guard PQstatus(conn) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailed, message: "connection is broken")
        }
        return conn
    }

    private static func rejectNUL(_ text: String, what: String) throws(PostgresError) {
        if text.utf8.contains(0) {
            throw PostgresError(code: .invalidQuery, message: "\(what) contains a NUL byte, which Postgres text cannot store")
        }
    }

    /// Reads every result of the command just sent. Returns the last successful one; throws
    /// the first error only after the connection is idle again, so it stays usable.
    private func collectResults() throws(PostgresError) -> PostgresRows {
        guard let conn = pgconn else { throw PostgresError(code: .connectionFailed, message: "connection is closed") }
        var firstError: PostgresError? = nil
        var rows = PostgresRows.empty
        while let result = PQgetResult(conn) {
            let status = PQresultStatus(result)
            switch status {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
                rows = Self.rows(from: result)
            case PGRES_EMPTY_QUERY:
                rows = .empty
            case PGRES_FATAL_ERROR, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR:
                if firstError == nil { firstError = error(from: result) }
            default:
                if firstError == nil {
                    firstError = PostgresError(
                        code: .invalidQuery, message: "COPY statements must go through copyIn (COPY FROM STDIN only)")
                }
            }
            PQclear(result)
            escapeCopyState(status)
            if PQstatus(conn) != CONNECTION_OK { break }
        }
        let lost = PQstatus(conn) != CONNECTION_OK
        if var firstError {
            // A FATAL error arrives before libpq has seen the socket close.
            if lost {
                firstError.code = .connectionFailed
                firstError.isRetriable = true
            }
            throw firstError
        }
        if lost { throw connectionError(prefix: "connection lost") }
        return rows
    }

    /// Gets the connection out of a COPY state it was not asked to enter, so that the
    /// following PQgetResult calls reach the end of the command.
    private func escapeCopyState(_ status: ExecStatusType) {
        guard let conn = pgconn else { return }
        switch status {
        case PGRES_COPY_IN, PGRES_COPY_BOTH:
            _ = PQputCopyEnd(conn, "COPY FROM STDIN is only supported through copyIn")
        case PGRES_COPY_OUT:
            var buffer: UnsafeMutablePointer<CChar>? = nil
            while PQgetCopyData(conn, &buffer, 0) > 0 {
                PQfreemem(buffer)
                buffer = nil
            }
        default:
            break
        }
    }

    private func drainRemainingResults() {
        guard let conn = pgconn else { return }
        while let result = PQgetResult(conn) {
            let status = PQresultStatus(result)
            PQclear(result)
            escapeCopyState(status)
            if PQstatus(conn) != CONNECTION_OK { break }
        }
    }

    private static func rows(from result: OpaquePointer) -> PostgresRows {
        let fieldCount = Int(PQnfields(result))
        let tupleCount = Int(PQntuples(result))
        var columns: [String] = []
        var types: [PostgresDataType] = []
        columns.reserveCapacity(fieldCount)
        types.reserveCapacity(fieldCount)
        for column in 0..<fieldCount {
            columns.append(PQfname(result, Int32(column)).map { String(cString: $0) } ?? "")
            types.append(PostgresDataType(oid: UInt32(PQftype(result, Int32(column)))))
        }
        var values: [String?] = []
        values.reserveCapacity(fieldCount * tupleCount)
        for row in 0..<Int32(tupleCount) {
            for column in 0..<Int32(fieldCount) {
                if PQgetisnull(result, row, column) != 0 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, row, column))
                    let bytes = UnsafeRawBufferPointer(start: PQgetvalue(result, row, column), count: length)
                    values.append(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        let affected = PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
        return PostgresRows(columns: columns, types: types, values: values, affectedRows: affected, commandTag: tag)
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let sqlState = field("C")
        var message = field("M") ?? PQresultErrorMessage(result).map { String(cString: $0) } ?? ""
        message = message.trimmingCharacters(in: .whitespacesAndNewlines)
        let severity = field("V")
        let lost = severity == "FATAL" || severity == "PANIC" || (pgconn.map { PQstatus($0) != CONNECTION_OK } ?? true)
        if message.isEmpty, let conn = pgconn { message = Self.lastErrorMessage(conn) }
        return PostgresError(
            code: lost ? .connectionFailed : .queryFailed,
            sqlState: sqlState,
            message: message.isEmpty ? "unknown error" : message,
            detail: field("D"),
            hint: field("H"),
            constraint: field("n"),
            schema: field("s"),
            table: field("t"),
            column: field("c"),
            isRetriable: lost ? true : nil)
    }

    private func connectionError(prefix: String) -> PostgresError {
        let detail = pgconn.map { Self.lastErrorMessage($0) } ?? "connection is closed"
        let lost = pgconn.map { PQstatus($0) != CONNECTION_OK } ?? true
        return PostgresError(
            code: lost ? .connectionFailed : .queryFailed,
            message: detail.isEmpty ? prefix : "\(prefix): \(detail)",
            isRetriable: lost ? true : nil)
    }

    private static func lastErrorMessage(_ conn: OpaquePointer) -> String {
        guard let raw = PQerrorMessage(conn) else { return "" }
        return String(cString: raw).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@available(*, unavailable)
extension PostgresConnection: Sendable {}

// MARK: - Helpers

/// A NULL-terminated (by default) array of C strings, freed on deinit.
private final class CStringArray {
    private var storage: [UnsafeMutablePointer<CChar>?]
    let pointers: [UnsafePointer<CChar>?]

    init(_ strings: [String?], terminated: Bool = true) {
        storage = strings.map { $0.map { strdup($0)! } }
        if terminated { storage.append(nil) }
        pointers = storage.map { $0.map { UnsafePointer($0) } }
    }

    convenience init(_ strings: [String]) {
        self.init(strings.map { Optional($0) }, terminated: true)
    }

    deinit { storage.forEach { free($0) } }
}

/// Owns a PGcancel. `send()` may be called from any thread while the connection's thread is
/// blocked in a query; the lock keeps `free()` from racing with it.
final class CancelHandle: Sendable {
    private let state: Mutex<CancelPointer?>

    /// PGcancel* is only touched under `state`'s lock, which is what makes sharing it safe.
    private struct CancelPointer: @unchecked Sendable {
        let raw: OpaquePointer
    }

    init(pgconn: OpaquePointer) {
        state = Mutex(PQgetCancel(pgconn).map(CancelPointer.init))
    }

    /// Asks the server to cancel whatever this connection is running. Blocks briefly (it opens
    /// a separate connection to deliver the request).
    @discardableResult
    func send() -> Bool {
        state.withLock { current in
            guard let cancel = current else { return false }
            var errorBuffer = [CChar](repeating: 0, count: 256)
            return PQcancel(cancel.raw, &errorBuffer, Int32(errorBuffer.count)) == 1
        }
    }

    func free() {
        state.withLock { current in
            if let cancel = current { PQfreeCancel(cancel.raw) }
            current = nil
        }
    }

    deinit { free() }
}

/// Routes server notices to a Logger; passed to libpq as an unmanaged context pointer.
final class NoticeSink {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    static func receive(_ context: UnsafeMutableRawPointer?, _ result: OpaquePointer?) {
        guard let context, let result else { return }
        let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let severity = field("V") ?? "NOTICE"
        let level: Logger.Level = severity == "WARNING" ? .warning : .debug
        sink.logger.log(level: level, "postgres \(severity.lowercased()): \(field("M") ?? "")")
    }
}
