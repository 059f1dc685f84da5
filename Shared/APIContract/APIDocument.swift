import Foundation
public import JSON
public import JSONSchema
import Yams

/// A service's published OpenAPI 3.1 document and what a request must be to be let through:
/// each operation's JSON request body schema, compiled once. Request bodies are checked
/// against it before any handler runs (`RequestBodyRule.check`), with a size limit, a nesting
/// limit and UTF-8 (docs/SECURITY.md).
public struct APIDocument: Sendable {
    /// The document as served at `/openapi.json`.
    public let json: JSONValue
    /// `METHOD /path/{param}` → the rule for its body (operations without a JSON body: none).
    let bodies: [String: RequestBodyRule]
    /// Every operation the document describes, as `METHOD /path/{param}`.
    public let operations: Set<String>

    public init(yaml: String) throws {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: yaml) } catch { throw APIDocumentError("the OpenAPI document is not YAML: \(error)") }
        json = try Self.json(loaded, path: "$")
        guard json["openapi"]?.stringValue?.hasPrefix("3.1") == true else { throw APIDocumentError("the document must be OpenAPI 3.1") }
        var bodies: [String: RequestBodyRule] = [:]
        var operations = Set<String>()
        for (path, item) in json["paths"]?.objectValue ?? [:] {
            for (method, operation) in item.objectValue ?? [:] where ["get", "put", "post", "delete", "patch"].contains(method) {
                let key = "\(method.uppercased()) \(path)"
                operations.insert(key)
                guard let body = operation["requestBody"], let schema = body["content"]?["application/json"]?["schema"] else { continue }
                do {
                    bodies[key] = RequestBodyRule(schema: try JSONSchema(schema), source: schema, required: body["required"]?.boolValue ?? false)
                } catch {
                    throw APIDocumentError("\(key): the request body schema does not compile: \(error)")
                }
            }
        }
        self.bodies = bodies
        self.operations = operations
    }

    /// The methods the document lists for the path `path` matches (a concrete request path),
    /// nil when it matches none of the document's paths.
    public func methods(forRequestPath path: String) -> Set<String>? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var methods = Set<String>()
        var matched = false
        for operation in operations {
            let parts = operation.split(separator: " ", maxSplits: 1)
            let template = parts[1].split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count, zip(template, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            matched = true
            methods.insert(String(parts[0]))
        }
        return matched ? methods : nil
    }

    /// The body rule of `method path` (a router path: `:param` or `{param}`), if it takes a body.
    public func bodyRule(method: String, path: String) -> RequestBodyRule? {
        bodies[Self.operationKey(method: method, path: path)]
    }

    /// `METHOD /path/{param}` for a router path (`/v1/conversations/:id` → `/v1/conversations/{id}`).
    public static func operationKey(method: String, path: String) -> String {
        let templated = path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }.joined(separator: "/")
        return "\(method.uppercased()) \(templated)"
    }

    static func json(_ value: Any?, path: String) throws -> JSONValue {
        do { return try JSONValue(loaded: value, path: path) } catch {
            throw APIDocumentError("\(error.path): \(error.message)\(error.message.hasPrefix("mapping keys") ? " (quote status codes)" : "")")
        }
    }
}

public struct APIDocumentError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// What an operation's request body must be: JSON (UTF-8, at most `maxBytes`, nested at most
/// `maxDepth` deep) valid under the operation's schema. A breach is a 422 naming the field;
/// its problem kind is `invalid-field`, `unknown-field`, or what the property's schema names
/// in `x-problem-kind` (a kind, or keyword → kind), so clients keep the kinds they know.
public struct RequestBodyRule: Sendable {
    public static let maxBytes = 16 * 1024
    public static let maxDepth = 32
    let schema: JSONSchema
    let source: JSONValue
    let required: Bool

    public enum Outcome: Sendable, Equatable {
        /// The body, parsed (nil: none given and none required).
        case valid(JSONValue?)
        /// What is wrong: a problem kind, a title, and the field when there is one.
        case invalid(status: Int, kind: String, title: String, field: String?)
    }

    /// Checks a collected body.
    public func check(_ bytes: [UInt8], contentType: String?) -> Outcome {
        if bytes.isEmpty, !required { return .valid(nil) }
        if let contentType, !contentType.lowercased().hasPrefix("application/json") {
            return .invalid(status: 415, kind: "unsupported-media-type", title: "Body must be application/json", field: nil)
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return .invalid(status: 400, kind: "invalid-utf8", title: "Body is not valid UTF-8", field: nil)
        }
        // Checked before parsing, so a hostile nesting never reaches a recursive parser.
        guard Self.depth(bytes) <= Self.maxDepth else {
            return .invalid(status: 400, kind: "too-deep", title: "Body nests deeper than \(Self.maxDepth) levels", field: nil)
        }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            return .invalid(status: 400, kind: "invalid-json", title: "Body is not valid JSON", field: nil)
        }
        let result = schema.validate(value, maxErrors: 1)
        guard let error = result.errors.first, !result.isValid else { return .valid(value) }
        if error.instanceLocation.isEmpty, error.keywordLocation == "/type" {
            return .invalid(status: 400, kind: "invalid-json", title: "Body must be a JSON object", field: nil)
        }
        // The field: the instance location's last name, or for a missing or unknown property,
        // the property (from the message).
        let pointer = error.instanceLocation
        var field = pointer.split(separator: "/").last.map(String.init)
        var kind = "invalid-field"
        if error.keywordLocation.hasSuffix("additionalProperties"), let name = Self.quoted(error.message) {
            kind = "unknown-field"
            field = name
        } else if error.keywordLocation.hasSuffix("required"), let name = Self.quoted(error.message) {
            field = name
            // A missing property's own kind, when its schema names one.
            let parent = Array(error.keywordLocation.split(separator: "/").map(String.init).dropLast())
            if let named = Self.node(source, parent + ["properties", name])?["x-problem-kind"] {
                kind = named.stringValue ?? named["required"]?.stringValue ?? kind
            }
        }
        // The failing keyword's schema may name the problem kind.
        let segments = error.keywordLocation.split(separator: "/").map(String.init)
        if let keyword = segments.last, let node = Self.node(source, Array(segments.dropLast())), let named = node["x-problem-kind"] {
            kind = named.stringValue ?? named[keyword]?.stringValue ?? kind
        }
        return .invalid(status: 422, kind: kind, title: (pointer.isEmpty ? "body" : pointer) + ": " + error.message, field: field)
    }

    /// The schema node at a keyword path (`properties/text`).
    static func node(_ root: JSONValue, _ path: [String]) -> JSONValue? {
        var node: JSONValue? = root
        for segment in path {
            let name = segment.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let index = Int(name), let list = node?.arrayValue { node = index < list.count ? list[index] : nil } else { node = node?[name] }
        }
        return node
    }

    /// How deep arrays and objects nest, outside strings.
    static func depth(_ bytes: [UInt8]) -> Int {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; deepest = max(deepest, depth)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    /// The first 'quoted' or "quoted" name in a validator message.
    static func quoted(_ message: String) -> String? {
        for quote in ["'", "\""] {
            let parts = message.components(separatedBy: quote)
            if parts.count >= 3, !parts[1].isEmpty { return parts[1] }
        }
        return nil
    }
}
