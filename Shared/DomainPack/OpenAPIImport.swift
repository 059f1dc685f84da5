import Events
import Foundation
public import JSON

import OpenAPIKit
public import ToolRuntime
import Yams

/// Tools from an OpenAPI 3.0 or 3.1 document (the `openapi` section of a pack): every operation
/// with an `operationId` becomes an `http`-bound tool of that name.
///
/// - Input: an object of the operation's path and query parameters (each with its schema) and,
///   when the operation takes a JSON request body, `body` with the body's schema; required
///   parameters and a required body are required; nothing else is accepted.
/// - Output: the JSON schema of the first 2xx response, or anything.
/// - Risk: GET, HEAD and OPTIONS are `read`, every other method `write`.
/// - `$ref`s are resolved within the document (OpenAPIKit's local dereferencing); 3.0 documents
///   are converted to 3.1 first, so their schemas are JSON Schema.
public enum OpenAPIImport {
    public struct Source: Sendable {
        /// The document's text (YAML or JSON) and where it came from, for errors.
        public var text: String
        public var origin: String
        /// Prefix of every operation's path, e.g. `https://shop.example/api`.
        public var baseURL: String
        public var auth: HTTPBinding.Auth?
        public var timeoutMs: Int
        public var operations: ToolOperations

        public init(text: String, origin: String, baseURL: String, auth: HTTPBinding.Auth? = nil, timeoutMs: Int = 2000, operations: ToolOperations = ToolOperations()) {
            (self.text, self.origin, self.baseURL, self.auth, self.timeoutMs, self.operations) = (text, origin, baseURL, auth, timeoutMs, operations)
        }
    }

    public static func tools(from source: Source) throws -> [ToolContract] {
        let document = try parse(source)
        let resolved: ResolvedDocument
        do {
            resolved = try document.locallyDereferenced().resolved()
        } catch {
            throw DomainPackError(path: source.origin, message: "cannot resolve the document's references: \(error)")
        }
        var tools: [ToolContract] = []
        for endpoint in resolved.endpoints {
            guard let name = endpoint.operationId else { continue }
            let at = "\(source.origin) \(endpoint.method.rawValue) /\(endpoint.path.components.joined(separator: "/"))"
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }) else {
                throw DomainPackError(path: at, message: "operationId '\(name)' is not a tool name (letters, digits and _ only)")
            }
            tools.append(try tool(name, endpoint, source: source, at: at))
        }
        return tools
    }

    static func parse(_ source: Source) throws -> OpenAPI.Document {
        let version = try versionOf(source)
        do {
            if version.hasPrefix("3.0") { return try OpenAPI30Conversion.decode(source.text) }
            return try YAMLDecoder().decode(OpenAPI.Document.self, from: source.text)
        } catch {
            throw DomainPackError(path: source.origin, message: "not a valid OpenAPI \(version) document: \(error)")
        }
    }

    /// The `openapi` field, read before choosing which model decodes the document.
    static func versionOf(_ source: Source) throws -> String {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: source.text) } catch {
            throw DomainPackError(path: source.origin, message: "not YAML or JSON: \(error)")
        }
        guard let root = loaded as? [String: Any], let version = root["openapi"] as? String, version.hasPrefix("3.0") || version.hasPrefix("3.1") else {
            throw DomainPackError(path: source.origin, message: "not an OpenAPI 3.0 or 3.1 document (the `openapi` field)")
        }
        return version
    }

    static func tool(_ name: String, _ endpoint: ResolvedEndpoint, source: Source, at: String) throws -> ToolContract {
        var properties: [String: JSONValue] = [:]
        var required: [JSONValue] = []
        var query: [String] = []
        for parameter in endpoint.parameters {
            let location = parameter.underlyingParameter.location
            guard location == .path || location == .query else {
                if parameter.underlyingParameter.required {
                    throw DomainPackError(path: at, message: "required \(location.rawValue) parameter '\(parameter.underlyingParameter.name)' cannot be filled by a tool call")
                }
                continue
            }
            let name = parameter.underlyingParameter.name
            var schema: JSONValue = [:]
            if case .a(let context) = parameter.schemaOrContent { schema = try json(context.schema.jsonSchema, at: at) }
            if case .object(var object) = schema, object["description"] == nil, let description = parameter.underlyingParameter.description {
                object["description"] = .string(description)
                schema = .object(object)
            }
            properties[name] = schema
            if parameter.underlyingParameter.required { required.append(.string(name)) }
            if location == .query { query.append(name) }
        }
        var bodyArgument: String?
        if let body = endpoint.requestBody {
            guard let content = body.content[OpenAPI.ContentType.json] ?? body.content.first(where: { $0.key.rawValue.hasSuffix("+json") })?.value else {
                throw DomainPackError(path: at, message: "the request body is not JSON (application/json), which tools send")
            }
            properties["body"] = try content.schema.map { try json($0.jsonSchema, at: at) } ?? [:]
            if body.underlyingRequest.required { required.append("body") }
            bodyArgument = "body"
        }
        let input: JSONValue = ["type": "object", "properties": .object(properties), "required": .array(required), "additionalProperties": false]
        let success = endpoint.responses.first { code, _ in
            if case .status(let value) = code.value { return (200...299).contains(value) }
            if case .range(let range) = code.value { return range == .success }
            return false
        }?.value
        let output = try success?.content[OpenAPI.ContentType.json]?.schema.map { try json($0.jsonSchema, at: at) } ?? [:]
        let method = endpoint.method.rawValue.uppercased()
        let path = "/" + endpoint.path.components.joined(separator: "/")
        var operations = source.operations
        operations.http = HTTPBinding(
            method: method, urlTemplate: source.baseURL.trimmingSuffix("/") + path, auth: source.auth,
            query: query, bodyArgument: bodyArgument)
        let compile = { (schema: JSONValue, what: String) throws -> ContractSchema in
            do { return try ContractSchema(schema) } catch { throw DomainPackError(path: at, message: "the \(what) schema does not compile: \(error)") }
        }
        var contract = ToolContract(
            name: name, description: endpoint.endpointSummary ?? endpoint.endpointDescription ?? name,
            riskTier: ["GET", "HEAD", "OPTIONS"].contains(method) ? .read : .highRiskWrite, timeoutMs: source.timeoutMs, binding: "http",
            inputSchema: try compile(input, "input"), outputSchema: try compile(output, "output"), inputSchemaJSON: input)
        contract.operations = operations
        contract.outputSchemaJSON = output
        return contract
    }

    /// An OpenAPIKit schema as JSON Schema JSON (its own encoding, which is JSON Schema for 3.1).
    static func json(_ schema: OpenAPIKit.JSONSchema, at: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(Array(JSONEncoder().encode(schema)))
        } catch {
            throw DomainPackError(path: at, message: "a schema cannot be converted: \(error)")
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
