import Foundation

/// A Swift type that can be read from a column's text-format value.
public protocol PostgresDecodable: Sendable {
    /// `text` is the server's text output; `type` is the column's type OID. Throw any error
    /// (e.g. `PostgresDecodingFailure`); the row wraps it into `.decodeFailed`.
    init(postgresText text: String, type: PostgresDataType) throws

    /// The value a SQL NULL decodes to, or nil when NULL is an error (the default).
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

/// Reason a single value could not be decoded; wrapped into `PostgresError.decodeFailed`.
public struct PostgresDecodingFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The result of one statement, copied out of libpq (so it is Sendable and outlives the
/// connection). Values are kept in text format and decoded on access.
public struct PostgresRows: Sendable, RandomAccessCollection {
    final class Storage: Sendable {
        let columns: [String]
        let types: [PostgresDataType]
        let columnIndex: [String: Int]
        let values: [String?]  // row-major
        init(columns: [String], types: [PostgresDataType], values: [String?]) {
            self.columns = columns
            self.types = types
            self.values = values
            var index: [String: Int] = [:]
            for (i, name) in columns.enumerated() where index[name] == nil { index[name] = i }
            self.columnIndex = index
        }
    }

    let storage: Storage
    /// Column names in result order.
    public var columns: [String] { storage.columns }
    /// Rows inserted/updated/deleted/selected as reported by the command tag (0 if none).
    public let affectedRows: Int
    /// The command tag, e.g. "INSERT 0 1" or "UPDATE 3".
    public let commandTag: String

    init(columns: [String], types: [PostgresDataType], values: [String?], affectedRows: Int, commandTag: String) {
        self.storage = Storage(columns: columns, types: types, values: values)
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    static let empty = PostgresRows(columns: [], types: [], values: [], affectedRows: 0, commandTag: "")

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.columns.isEmpty ? 0 : storage.values.count / storage.columns.count }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < endIndex, "row index out of range")
        return PostgresRow(storage: storage, row: position)
    }
}

/// One result row. Decode by column name (first match) or zero-based index.
public struct PostgresRow: Sendable {
    let storage: PostgresRows.Storage
    let row: Int

    public var columns: [String] { storage.columns }

    public func isNull(_ column: String) throws(PostgresError) -> Bool {
        try raw(at: index(of: column)) == nil
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        try decode(at: index(of: column), as: type)
    }

    public func decode<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard column >= 0, column < storage.columns.count else {
            throw PostgresError(code: .decodeFailed, message: "column index \(column) out of range (\(storage.columns.count) columns)")
        }
        return try decode(at: column, as: type)
    }

    private func index(of column: String) throws(PostgresError) -> Int {
        guard let i = storage.columnIndex[column] else {
            throw PostgresError(code: .decodeFailed, message: "no column named \"\(column)\" in result")
        }
        return i
    }

    private func raw(at column: Int) -> String? {
        storage.values[row * storage.columns.count + column]
    }

    private func decode<T: PostgresDecodable>(at column: Int, as type: T.Type) throws(PostgresError) -> T {
        let name = storage.columns[column]
        let pgType = storage.types[column]
        guard let text = raw(at: column) else {
            if let null = T.postgresNull { return null }
            throw PostgresError(
                code: .decodeFailed, message: "column \"\(name)\" is NULL; decode as \(T.self)? to accept NULL",
                column: name)
        }
        do {
            return try T(postgresText: text, type: pgType)
        } catch {
            // The value itself is not included: it may be sensitive.
            throw PostgresError(
                code: .decodeFailed, message: "column \"\(name)\" (\(pgType)) cannot be decoded as \(T.self): \(error)",
                column: name)
        }
    }
}

// MARK: - Decodable conformances

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = .some(try Wrapped(postgresText: text, type: type))
    }
    public static var postgresNull: Wrapped?? { .some(nil) }
}

extension String: PostgresDecodable {
    /// Any column's text output (numeric, jsonb, enum…) decodes as String.
    public init(postgresText text: String, type: PostgresDataType) throws { self = text }
}

private func decodeInteger<T: FixedWidthInteger>(_ text: String, _: T.Type) throws -> T {
    guard let value = T(text) else {
        throw PostgresDecodingFailure("not an integer representable as \(T.self) (overflow or non-integer text)")
    }
    return value
}

extension Int: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws { self = try decodeInteger(text, Int.self) }
}

extension Int64: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws { self = try decodeInteger(text, Int64.self) }
}

extension Int32: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws { self = try decodeInteger(text, Int32.self) }
}

extension Double: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text), value.isFinite else { throw PostgresDecodingFailure("not a finite number") }
            self = value
        }
    }
}

extension Bool: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresDecodingFailure("not a boolean ('t'/'f')")
        }
    }
}

extension UUID: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = UUID(uuidString: text) else { throw PostgresDecodingFailure("not a UUID") }
        self = value
    }
}

extension Date: PostgresDecodable {
    /// timestamptz (any session TimeZone), timestamp (read as UTC) and date (UTC midnight).
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard type == .timestamptz || type == .timestamp || type == .date || type == .text || type == .unspecified,
            let value = TimestampCoding.decode(text)
        else { throw PostgresDecodingFailure("not an ISO timestamp") }
        self = value
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// bytea in hex output format (`\x…`).
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard type == .bytea else { throw PostgresDecodingFailure("only bytea columns decode as [UInt8]") }
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw PostgresDecodingFailure("bytea is not in hex format")
        }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw PostgresDecodingFailure("invalid hex digit in bytea")
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity((utf8.count - 2) / 2)
        var i = 2
        while i < utf8.count {
            out.append(try nibble(utf8[i]) << 4 | nibble(utf8[i + 1]))
            i += 2
        }
        self = out
    }
}

extension PostgresJSON: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws { self.init(text) }
}
