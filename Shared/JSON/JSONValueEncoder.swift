/// Encodes `Encodable` types straight into a `JSONValue`, the counterpart of `JSONValueDecoder`.
/// Every appended event used to go through Foundation's `JSONEncoder` to bytes and then be
/// parsed back into a `JSONValue`; in profiles that was the largest single cost of the services'
/// own code.
///
/// Output equals what `JSONEncoder` with default strategies produces, parsed: keys as written,
/// integers and floating-point numbers as numbers (non-finite ones throw), `nil` optionals
/// omitted by the synthesised `encodeIfPresent`. One difference: `JSONEncoder` special-cases
/// Foundation's `Data` (base64), `URL` (a string) and `Decimal` (a number); this module does not
/// link Foundation, so those encode through their own `Codable` forms. Event payloads use none of
/// them (a test compares both encoders over every event type).
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try box(value, codingPath: []).resolve()
    }
}

/// Where one value is being built: a scalar, or an object or array whose members are built in
/// place (containers handed out by an encoder write into the same storage).
private final class Slot {
    enum Content {
        case empty
        case value(JSONValue)
        case object(ObjectStorage)
        case array(ArrayStorage)
    }

    var content: Content = .empty

    init() {}
    init(_ value: JSONValue) { content = .value(value) }

    func resolve() -> JSONValue {
        switch content {
        case .empty: return .object([:])  // JSONEncoder writes {} for a type that encodes nothing
        case .value(let value): return value
        case .object(let storage): return .object(storage.members.mapValues { $0.resolve() })
        case .array(let storage): return .array(storage.elements.map { $0.resolve() })
        }
    }

    func objectStorage() -> ObjectStorage {
        if case .object(let storage) = content { return storage }
        let storage = ObjectStorage()
        content = .object(storage)
        return storage
    }

    func arrayStorage() -> ArrayStorage {
        if case .array(let storage) = content { return storage }
        let storage = ArrayStorage()
        content = .array(storage)
        return storage
    }
}

private final class ObjectStorage {
    var members: [String: Slot] = [:]
}

private final class ArrayStorage {
    var elements: [Slot] = []
}

private struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}

private func number<F: BinaryFloatingPoint>(_ value: F, _ path: [any CodingKey]) throws -> JSONValue {
    guard value.isFinite else {
        throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "Unable to encode \(value) directly in JSON."))
    }
    return .number(Double(value))
}

/// Scalars become values at once; anything else encodes itself into a fresh slot.
private func box<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> Slot {
    switch value {
    case let text as String: return Slot(.string(text))
    case let flag as Bool: return Slot(.bool(flag))
    case let double as Double: return Slot(try number(double, codingPath))
    case let float as Float: return Slot(try number(float, codingPath))
    case let int as Int: return Slot(.number(Double(int)))
    case let int as Int64: return Slot(.number(Double(int)))
    case let int as Int32: return Slot(.number(Double(int)))
    case let int as Int16: return Slot(.number(Double(int)))
    case let int as Int8: return Slot(.number(Double(int)))
    case let int as UInt: return Slot(.number(Double(int)))
    case let int as UInt64: return Slot(.number(Double(int)))
    case let int as UInt32: return Slot(.number(Double(int)))
    case let int as UInt16: return Slot(.number(Double(int)))
    case let int as UInt8: return Slot(.number(Double(int)))
    case let json as JSONValue: return Slot(json)
    default:
        let slot = Slot()
        try value.encode(to: ValueEncoder(slot: slot, codingPath: codingPath))
        return slot
    }
}

private struct ValueEncoder: Encoder {
    let slot: Slot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(storage: slot.objectStorage(), codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(storage: slot.arrayStorage(), codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(slot: slot, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: ObjectStorage
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        storage.members[key.stringValue] = Slot(.null)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        storage.members[key.stringValue] = try box(value, codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let slot = Slot()
        storage.members[key.stringValue] = slot
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(storage: slot.objectStorage(), codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let slot = Slot()
        storage.members[key.stringValue] = slot
        return UnkeyedContainer(storage: slot.arrayStorage(), codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        let slot = Slot()
        storage.members["super"] = slot
        return ValueEncoder(slot: slot, codingPath: codingPath + [SuperKey()])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let slot = Slot()
        storage.members[key.stringValue] = slot
        return ValueEncoder(slot: slot, codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let storage: ArrayStorage
    let codingPath: [any CodingKey]
    var count: Int { storage.elements.count }

    mutating func encodeNil() throws {
        storage.elements.append(Slot(.null))
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        storage.elements.append(try box(value, codingPath: codingPath + [JSONIndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let slot = Slot()
        let path = codingPath + [JSONIndexKey(count)]
        storage.elements.append(slot)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(storage: slot.objectStorage(), codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let slot = Slot()
        let path = codingPath + [JSONIndexKey(count)]
        storage.elements.append(slot)
        return UnkeyedContainer(storage: slot.arrayStorage(), codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let slot = Slot()
        let path = codingPath + [JSONIndexKey(count)]
        storage.elements.append(slot)
        return ValueEncoder(slot: slot, codingPath: path)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws {
        slot.content = .value(.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        slot.content = try box(value, codingPath: codingPath).content
    }
}
