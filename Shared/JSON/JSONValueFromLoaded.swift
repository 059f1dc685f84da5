import Foundation

/// A value a YAML (or plist) loader produced that JSON cannot hold.
public struct LoadedValueError: Error, CustomStringConvertible, Sendable {
    /// Where, as `$.a.b[2]`.
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}

extension JSONValue {
    /// Converts what a loader such as Yams produces (Swift collections and scalars) into JSON,
    /// rejecting what JSON cannot hold (dates, binary, non-string keys) with the value's path.
    public init(loaded value: Any?, path: String = "$") throws(LoadedValueError) {
        switch value {
        case nil, is NSNull: self = .null
        case let flag as Bool: self = .bool(flag)
        case let number as Int: self = .number(Double(number))
        case let number as Double: self = .number(number)
        case let text as String: self = .string(text)
        case let list as [Any]:
            var items: [JSONValue] = []
            items.reserveCapacity(list.count)
            for (index, element) in list.enumerated() { items.append(try JSONValue(loaded: element, path: "\(path)[\(index)]")) }
            self = .array(items)
        case let mapping as [String: Any]:
            var members: [String: JSONValue] = [:]
            for (key, member) in mapping { members[key] = try JSONValue(loaded: member, path: path + "." + key) }
            self = .object(members)
        case let mapping as [AnyHashable: Any]:
            var members: [String: JSONValue] = [:]
            for (key, member) in mapping {
                guard let name = key.base as? String else { throw LoadedValueError(path: path, message: "mapping keys must be strings") }
                members[name] = try JSONValue(loaded: member, path: path + "." + name)
            }
            self = .object(members)
        default:
            throw LoadedValueError(path: path, message: "unsupported value \(type(of: value!))")
        }
    }
}
