import JSON

/// Why a schema could not be compiled. Thrown by ``JSONSchema/init(_:resources:)``, never at
/// validation time: a schema that compiles can validate any instance.
public struct SchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// `init(json:)` was given text that is not JSON.
        case invalidJSON
        /// A schema is neither an object nor a boolean.
        case invalidSchema
        /// A keyword's value has the wrong type or range (e.g. `"minLength": -1`).
        case invalidKeywordValue
        /// A `pattern` or `patternProperties` key is not a valid regular expression.
        case invalidPattern
        /// A `$ref`/`$dynamicRef` points nowhere we know (remote documents are never fetched).
        case unresolvedReference
        /// Two schema resources or anchors claim the same URI.
        case duplicateIdentifier
    }

    public var code: Code
    /// JSON Pointer to the offending place in the schema document ("" is the root).
    public var schemaLocation: String
    public var message: String
    /// Compiling the same schema again gives the same answer.
    public var isRetriable: Bool { false }

    public var description: String {
        "invalid schema at '\(schemaLocation)': \(message) [\(code.rawValue)]"
    }
}

/// The outcome of ``JSONSchema/validate(_:maxErrors:)``.
public struct ValidationResult: Sendable, Hashable {
    public var isValid: Bool
    /// Empty exactly when `isValid` is true.
    public var errors: [ValidationError]

    public init(isValid: Bool, errors: [ValidationError]) {
        self.isValid = isValid
        self.errors = errors
    }
}

/// One reason an instance failed, in the shape of the JSON Schema "basic" output unit.
///
/// Messages name types, limits and schema values, and may name instance property names (they
/// are also in `instanceLocation`), but never quote instance values, so they are safe to log
/// and to hand back to an LLM or API client.
public struct ValidationError: Sendable, Hashable, CustomStringConvertible {
    /// JSON Pointer into the instance, e.g. "/steps/0/args/order_id" ("" is the root).
    public var instanceLocation: String
    /// JSON Pointer of the failing keyword along the evaluation path (through `$ref`s),
    /// e.g. "/properties/steps/items/required".
    public var keywordLocation: String
    public var message: String

    public init(instanceLocation: String, keywordLocation: String, message: String) {
        self.instanceLocation = instanceLocation
        self.keywordLocation = keywordLocation
        self.message = message
    }

    public var description: String {
        "\(instanceLocation.isEmpty ? "(root)" : instanceLocation): \(message) (at \(keywordLocation.isEmpty ? "#" : keywordLocation))"
    }
}

/// JSON Pointer (RFC 6901) token escaping.
enum JSONPointer {
    static func escape(_ token: String) -> String {
        guard token.contains(where: { $0 == "~" || $0 == "/" }) else { return token }
        return token.replacing("~", with: "~0").replacing("/", with: "~1")
    }

    static func unescape(_ token: Substring) -> String {
        guard token.contains("~") else { return String(token) }
        return String(token.replacing("~1", with: "/").replacing("~0", with: "~"))
    }

    static func join(_ tokens: [String]) -> String {
        tokens.map { "/" + escape($0) }.joined()
    }
}
