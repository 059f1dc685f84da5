import Foundation

/// A Postgres type OID, sent with each bind so the server does not have to guess.
public struct PostgresDataType: Sendable, Hashable, CustomStringConvertible {
    public var oid: UInt32
    public init(oid: UInt32) { self.oid = oid }

    /// OID 0: the server infers the type from context (used for `String` so the same bind
    /// works for text, varchar, enum, uuid, timestamptz… columns).
    public static let unspecified = PostgresDataType(oid: 0)
    public static let bool = PostgresDataType(oid: 16)
    public static let bytea = PostgresDataType(oid: 17)
    public static let int8 = PostgresDataType(oid: 20)
    public static let int2 = PostgresDataType(oid: 21)
    public static let int4 = PostgresDataType(oid: 23)
    public static let text = PostgresDataType(oid: 25)
    public static let oidType = PostgresDataType(oid: 26)
    public static let json = PostgresDataType(oid: 114)
    public static let float4 = PostgresDataType(oid: 700)
    public static let float8 = PostgresDataType(oid: 701)
    public static let varchar = PostgresDataType(oid: 1043)
    public static let date = PostgresDataType(oid: 1082)
    public static let timestamp = PostgresDataType(oid: 1114)
    public static let timestamptz = PostgresDataType(oid: 1184)
    public static let numeric = PostgresDataType(oid: 1700)
    public static let uuid = PostgresDataType(oid: 2950)
    public static let jsonb = PostgresDataType(oid: 3802)

    public var description: String {
        switch self {
        case .unspecified: return "unspecified"
        case .bool: return "bool"
        case .bytea: return "bytea"
        case .int8: return "int8"
        case .int2: return "int2"
        case .int4: return "int4"
        case .text: return "text"
        case .oidType: return "oid"
        case .json: return "json"
        case .float4: return "float4"
        case .float8: return "float8"
        case .varchar: return "varchar"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .timestamptz: return "timestamptz"
        case .numeric: return "numeric"
        case .uuid: return "uuid"
        case .jsonb: return "jsonb"
        default: return "oid \(oid)"
        }
    }
}

/// A Swift value that can be sent as a bind parameter in Postgres' text format.
public protocol PostgresEncodable: Sendable {
    /// Sent as the parameter type; also types the NULL of an absent Optional of this type.
    static var postgresDataType: PostgresDataType { get }
    /// The value in Postgres text input syntax.
    var postgresText: String { get }
}

/// One bind parameter: a type OID plus the text form (nil = SQL NULL).
public struct PostgresValue: Sendable, Hashable {
    public var dataType: PostgresDataType
    public var text: String?

    public init(dataType: PostgresDataType, text: String?) {
        self.dataType = dataType
        self.text = text
    }

    public init<T: PostgresEncodable>(_ value: T) {
        self.init(dataType: T.postgresDataType, text: value.postgresText)
    }

    /// `nil` becomes a NULL typed as `T`, so `WHERE col = $1` still resolves.
    public init<T: PostgresEncodable>(_ value: T?) {
        self.init(dataType: T.postgresDataType, text: value?.postgresText)
    }

    /// An untyped NULL; the server infers the type from context.
    public static let null = PostgresValue(dataType: .unspecified, text: nil)
    public var isNull: Bool { text == nil }
}

/// JSON document text for json/jsonb columns. Sent typed as jsonb; decodes from json or jsonb.
public struct PostgresJSON: Sendable, Hashable {
    public var text: String
    public init(_ text: String) { self.text = text }

    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        let data = try encoder.encode(value)
        self.text = String(decoding: data, as: UTF8.self)
    }

    public func decode<T: Decodable>(as type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(text.utf8))
    }
}

// MARK: - Encodable conformances

extension String: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .unspecified }
    public var postgresText: String { self }
}

extension Int: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public var postgresText: String { String(self) }
}

extension Int64: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public var postgresText: String { String(self) }
}

extension Int32: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int4 }
    public var postgresText: String { String(self) }
}

extension Double: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .float8 }
    public var postgresText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        // Swift prints the shortest representation that round-trips, which float8in accepts.
        return "\(self)"
    }
}

extension Bool: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .bool }
    public var postgresText: String { self ? "true" : "false" }
}

extension UUID: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .uuid }
    public var postgresText: String { uuidString }
}

extension Date: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public var postgresText: String { TimestampCoding.encode(self) }
}

extension Array: PostgresEncodable where Element == UInt8 {
    public static var postgresDataType: PostgresDataType { .bytea }
    public var postgresText: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        out.reserveCapacity(2 + count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension PostgresJSON: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .jsonb }
    public var postgresText: String { text }
}
