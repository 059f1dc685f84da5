import JSON

/// Turns schema documents into a ``Program``.
///
/// Two passes: `scan` walks every subschema in keyword positions, recording base URIs,
/// `$id` resources and anchors (values under unknown keywords, `enum` and `const` are not
/// schemas, so identifiers there are ignored, as the spec requires); then a work list compiles
/// each schema location exactly once. References are resolved here, so an unknown target is
/// a compile error and validation never does URI work. The work list (instead of recursion
/// through `$ref`) keeps stack use independent of how long reference chains are.
struct Compiler {
    /// A schema's place: document index plus JSON Pointer tokens.
    struct Location: Hashable {
        var document: Int
        var tokens: [String]

        func appending(_ more: [String]) -> Location {
            Location(document: document, tokens: tokens + more)
        }

        var pointer: String { JSONPointer.join(tokens) }
    }

    private struct ScopeInfo {
        var base: String
        var resource: Int
    }

    /// Base URI for a root document without `$id`; references and nested `$id`s in such a
    /// document resolve against it consistently.
    static let defaultBaseURI = "urn:jsonschema:root"

    private var documents: [JSONValue] = []
    private var resourceRoots: [String: Location] = [:]
    private var resources: [Resource] = []
    private var anchors: [String: Location] = [:]
    private var scopes: [Location: ScopeInfo] = [:]
    private var nodeIndex: [Location: Int] = [:]
    private var nodes: [Node?] = []
    private var pending: [Location] = []
    private var loadedDocuments: Set<String> = []

    /// Documents that references may load, by URI (given by the caller).
    private var external: [String: JSONValue] = [:]
    /// `format` asserts the formats `StringFormat` knows (else it is an annotation).
    private var formatAssertion = false

    static func compile(_ schema: JSONValue, resources: [String: JSONValue], formatAssertion: Bool = false) throws(SchemaError) -> Program {
        var compiler = Compiler()
        compiler.formatAssertion = formatAssertion
        for (uri, document) in resources {
            let reference = URIReference(parsing: uri)
            guard reference.isAbsolute else {
                throw SchemaError(
                    code: .invalidKeywordValue, schemaLocation: "",
                    message: "resource URI '\(uri)' must be absolute")
            }
            compiler.external[reference.withoutFragment.text] = document
        }
        let root = try compiler.addDocument(schema, base: Self.defaultBaseURI)
        let rootNode = try compiler.node(for: root)
        while let location = compiler.pending.popLast() {
            try compiler.compileNode(at: location)
        }
        let nodes = compiler.nodes.map { $0! }
        return Program(nodes: nodes, resources: compiler.resources, root: rootNode)
    }

    // MARK: Scanning

    @discardableResult
    private mutating func addDocument(_ document: JSONValue, base: String) throws(SchemaError) -> Location {
        documents.append(document)
        let location = Location(document: documents.count - 1, tokens: [])
        try scan(document, at: location, base: base, resource: nil)
        // A document whose own "$id" differs from where it was found answers to both URIs.
        if resourceRoots[base] == nil { resourceRoots[base] = location }
        return location
    }

    private mutating func scan(_ value: JSONValue, at location: Location, base: String, resource: Int?) throws(SchemaError) {
        guard case .object(let object) = value else {
            // Booleans are schemas; any other value is not, and is reported when compiled if
            // it is the document or a keyword needs it (arrays under legacy "dependencies" are
            // fine, so nothing is reserved for them here).
            if case .bool = value {
                let index: Int
                if let resource { index = resource } else { index = try registerResource(base, at: location) }
                scopes[location] = ScopeInfo(base: base, resource: index)
                _ = try node(for: location)
            } else if location.tokens.isEmpty {
                scopes[location] = ScopeInfo(base: base, resource: try registerResource(base, at: location))
                _ = try node(for: location)
            }
            return
        }
        var base = base
        var resource = resource
        if let idValue = object["$id"] {
            guard case .string(let id) = idValue else {
                throw invalid(location, "$id", "'$id' must be a string")
            }
            let reference = URIReference(parsing: id)
            if let fragment = reference.fragment, !fragment.isEmpty {
                throw invalid(location, "$id", "'$id' must not contain a fragment; use '$anchor'")
            }
            base = URIReference(parsing: base).resolving(reference).withoutFragment.text
            resource = try registerResource(base, at: location)
        } else if resource == nil {
            resource = try registerResource(base, at: location)
        }
        let resourceIndex = resource!
        scopes[location] = ScopeInfo(base: base, resource: resourceIndex)
        let node = try node(for: location)

        for keyword in ["$anchor", "$dynamicAnchor"] {
            guard let anchorValue = object[keyword] else { continue }
            guard case .string(let name) = anchorValue, Self.isValidAnchor(name) else {
                throw invalid(location, keyword, "'\(keyword)' must be a name matching ^[A-Za-z_][-A-Za-z0-9._]*$")
            }
            let key = base + "#" + name
            if let existing = anchors[key], existing != location {
                throw SchemaError(
                    code: .duplicateIdentifier, schemaLocation: location.pointer,
                    message: "anchor '\(name)' is defined more than once in resource '\(base)'")
            }
            anchors[key] = location
            if keyword == "$dynamicAnchor" {
                resources[resourceIndex].dynamicAnchors[name] = node
            }
        }

        for (key, child) in object {
            switch key {
            case "additionalProperties", "unevaluatedProperties", "items", "unevaluatedItems", "contains",
                "propertyNames", "if", "then", "else", "not", "contentSchema":
                try scan(child, at: location.appending([key]), base: base, resource: resourceIndex)
            case "prefixItems", "allOf", "anyOf", "oneOf":
                guard case .array(let elements) = child else { continue }
                for (offset, element) in elements.enumerated() {
                    try scan(element, at: location.appending([key, String(offset)]), base: base, resource: resourceIndex)
                }
            case "$defs", "properties", "patternProperties", "dependentSchemas", "dependencies":
                guard case .object(let members) = child else { continue }
                for (name, member) in members {
                    try scan(member, at: location.appending([key, name]), base: base, resource: resourceIndex)
                }
            default:
                continue
            }
        }
    }

    private mutating func registerResource(_ uri: String, at location: Location) throws(SchemaError) -> Int {
        if let existing = resourceRoots[uri], existing != location {
            throw SchemaError(
                code: .duplicateIdentifier, schemaLocation: location.pointer,
                message: "more than one schema has the identifier '\(uri)'")
        }
        resourceRoots[uri] = location
        resources.append(Resource(uri: uri))
        return resources.count - 1
    }

    static func isValidAnchor(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0) }
    }

    // MARK: Locations

    private func value(at location: Location) -> JSONValue? {
        var current = documents[location.document]
        for token in location.tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Self.arrayIndex(token), index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// RFC 6901 array index: digits without leading zeros.
    private static func arrayIndex(_ token: String) -> Int? {
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            token == "0" || !token.hasPrefix("0")
        else { return nil }
        return Int(token)
    }

    /// The node index for a schema location, reserving it (and queueing its compilation) on
    /// first use. Locations reached only through a JSON Pointer `$ref` (e.g. under an unknown
    /// keyword) are scanned here, inheriting the scope of their nearest scanned ancestor.
    private mutating func node(for location: Location) throws(SchemaError) -> Int {
        if let index = nodeIndex[location] { return index }
        if scopes[location] == nil {
            var ancestor = location
            var scope: ScopeInfo?
            while scope == nil, !ancestor.tokens.isEmpty {
                ancestor.tokens.removeLast()
                scope = scopes[ancestor]
            }
            guard let scope, let value = value(at: location) else {
                throw SchemaError(code: .unresolvedReference, schemaLocation: location.pointer, message: "no schema at this location")
            }
            try scan(value, at: location, base: scope.base, resource: scope.resource)
            if let index = nodeIndex[location] { return index }
        }
        let index = nodes.count
        nodes.append(nil)
        nodeIndex[location] = index
        pending.append(location)
        return index
    }

    /// Resolves a `$ref`/`$dynamicRef` value found at `location` to the target location.
    private mutating func resolve(_ reference: String, from location: Location, keyword: String) throws(SchemaError)
        -> (Location, fragment: String)
    {
        let base = scopes[location]!.base
        let target = URIReference(parsing: base).resolving(URIReference(parsing: reference))
        let uri = target.withoutFragment.text
        let fragment = Self.percentDecode(target.fragment ?? "")
        // Documents are loaded on first reference, so unused ones cost nothing.
        if resourceRoots[uri] == nil, !loadedDocuments.contains(uri),
            let document = external[uri] ?? MetaSchemas.documents[uri]
        {
            loadedDocuments.insert(uri)
            try addDocument(document, base: uri)
        }
        guard let root = resourceRoots[uri] else {
            throw SchemaError(
                code: .unresolvedReference, schemaLocation: location.appending([keyword]).pointer,
                message: "cannot resolve '\(reference)': no schema with identifier '\(uri)' (remote documents are not fetched)")
        }
        if fragment.isEmpty { return (root, fragment) }
        if fragment.hasPrefix("/") {
            let tokens = fragment.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
                JSONPointer.unescape($0)
            }
            let targetLocation = root.appending(tokens)
            guard value(at: targetLocation) != nil else {
                throw SchemaError(
                    code: .unresolvedReference, schemaLocation: location.appending([keyword]).pointer,
                    message: "cannot resolve '\(reference)': JSON Pointer does not exist in '\(uri)'")
            }
            return (targetLocation, fragment)
        }
        guard let anchored = anchors[uri + "#" + fragment] else {
            throw SchemaError(
                code: .unresolvedReference, schemaLocation: location.appending([keyword]).pointer,
                message: "cannot resolve '\(reference)': no anchor '\(fragment)' in '\(uri)'")
        }
        return (anchored, fragment)
    }

    static func percentDecode(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: byte - 48
        case 65...70: byte - 55
        case 97...102: byte - 87
        default: nil
        }
    }

    // MARK: Compiling

    private func invalid(_ location: Location, _ keyword: String, _ message: String) -> SchemaError {
        SchemaError(code: .invalidKeywordValue, schemaLocation: location.appending([keyword]).pointer, message: message)
    }

    private mutating func compileNode(at location: Location) throws(SchemaError) {
        let index = nodeIndex[location]!
        let resource = scopes[location]!.resource
        switch value(at: location) {
        case .bool(true)?:
            nodes[index] = Node(body: .alwaysTrue, resource: resource)
        case .bool(false)?:
            nodes[index] = Node(body: .alwaysFalse, resource: resource)
        case .object(let object)?:
            var keywords = try compileKeywords(object, at: location)
            // Stable sort keeps a deterministic order within a phase.
            keywords = keywords.enumerated().sorted { ($0.element.phase, $0.offset) < ($1.element.phase, $1.offset) }
                .map(\.element)
            nodes[index] = Node(body: .keywords(keywords), resource: resource)
        default:
            throw SchemaError(
                code: .invalidSchema, schemaLocation: location.pointer, message: "a schema must be an object or a boolean")
        }
    }

    private mutating func child(_ location: Location, _ tokens: [String]) throws(SchemaError) -> Child {
        let target = location.appending(tokens)
        guard let value = value(at: target) else {
            throw SchemaError(code: .invalidSchema, schemaLocation: target.pointer, message: "missing schema")
        }
        switch value {
        case .object, .bool: break
        default:
            throw SchemaError(code: .invalidSchema, schemaLocation: target.pointer, message: "a schema must be an object or a boolean")
        }
        return Child(node: try node(for: target), path: JSONPointer.join(tokens))
    }

    private func number(_ value: JSONValue, _ location: Location, _ keyword: String) throws(SchemaError) -> Double {
        guard case .number(let number) = value, number.isFinite else {
            throw invalid(location, keyword, "'\(keyword)' must be a number")
        }
        return number
    }

    private func count(_ value: JSONValue, _ location: Location, _ keyword: String) throws(SchemaError) -> Int {
        guard case .number(let number) = value, number >= 0, number.rounded(.towardZero) == number else {
            throw invalid(location, keyword, "'\(keyword)' must be a non-negative integer")
        }
        return number >= Double(Int.max) ? Int.max : Int(number)
    }

    private func pattern(_ source: String, _ location: Location, _ keyword: String) throws(SchemaError) -> Pattern {
        do {
            return try Pattern(source)
        } catch {
            throw SchemaError(
                code: .invalidPattern, schemaLocation: location.appending([keyword]).pointer,
                message: "'\(source)' is not a valid regular expression")
        }
    }

    private func stringArray(_ value: JSONValue, _ location: Location, _ keyword: String) throws(SchemaError) -> [String] {
        guard case .array(let elements) = value else {
            throw invalid(location, keyword, "'\(keyword)' must be an array of strings")
        }
        var strings: [String] = []
        for element in elements {
            guard case .string(let string) = element else {
                throw invalid(location, keyword, "'\(keyword)' must be an array of strings")
            }
            strings.append(string)
        }
        return strings
    }

    private mutating func schemaArray(_ value: JSONValue, _ location: Location, _ keyword: String) throws(SchemaError)
        -> [Child]
    {
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw invalid(location, keyword, "'\(keyword)' must be a non-empty array of schemas")
        }
        var children: [Child] = []
        for offset in elements.indices {
            children.append(try child(location, [keyword, String(offset)]))
        }
        return children
    }

    private mutating func schemaMap(_ value: JSONValue, _ location: Location, _ keyword: String) throws(SchemaError)
        -> [(String, Child)]
    {
        guard case .object(let members) = value else {
            throw invalid(location, keyword, "'\(keyword)' must be an object whose values are schemas")
        }
        var children: [(String, Child)] = []
        for name in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            children.append((name, try child(location, [keyword, name])))
        }
        return children
    }

    private mutating func compileKeywords(_ object: [String: JSONValue], at location: Location) throws(SchemaError)
        -> [Keyword]
    {
        var keywords: [Keyword] = []
        // Keyword names are visited in a fixed order so compile errors are deterministic.
        for (key, value) in object.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            switch key {
            case "$ref":
                guard case .string(let reference) = value else { throw invalid(location, key, "'$ref' must be a string") }
                let (target, _) = try resolve(reference, from: location, keyword: key)
                keywords.append(.ref(Child(node: try node(for: target), path: "/$ref")))
            case "$dynamicRef":
                guard case .string(let reference) = value else {
                    throw invalid(location, key, "'$dynamicRef' must be a string")
                }
                let (target, fragment) = try resolve(reference, from: location, keyword: key)
                var anchor: String?
                if !fragment.isEmpty, !fragment.hasPrefix("/"),
                    self.value(at: target)?["$dynamicAnchor"]?.stringValue == fragment
                {
                    anchor = fragment
                }
                keywords.append(.dynamicRef(Child(node: try node(for: target), path: "/$dynamicRef"), anchor: anchor))
            case "type":
                var names: [String]
                switch value {
                case .string(let name): names = [name]
                case .array(let elements):
                    names = []
                    for element in elements {
                        guard case .string(let name) = element else {
                            throw invalid(location, key, "'type' must be a type name or an array of type names")
                        }
                        names.append(name)
                    }
                default: throw invalid(location, key, "'type' must be a type name or an array of type names")
                }
                var set: TypeSet = []
                for name in names {
                    guard let type = TypeSet.names.first(where: { $0.0 == name })?.1 else {
                        throw invalid(location, key, "unknown type '\(name)'")
                    }
                    set.insert(type)
                }
                keywords.append(.type(set, names: names))
            case "enum":
                guard case .array(let elements) = value else { throw invalid(location, key, "'enum' must be an array") }
                keywords.append(.enumeration(elements, lookup: Set(elements)))
            case "const":
                keywords.append(.const(value))
            case "multipleOf":
                let divisor = try number(value, location, key)
                guard divisor > 0 else { throw invalid(location, key, "'multipleOf' must be greater than 0") }
                keywords.append(.multipleOf(divisor))
            case "maximum": keywords.append(.maximum(try number(value, location, key)))
            case "exclusiveMaximum": keywords.append(.exclusiveMaximum(try number(value, location, key)))
            case "minimum": keywords.append(.minimum(try number(value, location, key)))
            case "exclusiveMinimum": keywords.append(.exclusiveMinimum(try number(value, location, key)))
            case "maxLength": keywords.append(.maxLength(try count(value, location, key)))
            case "minLength": keywords.append(.minLength(try count(value, location, key)))
            case "pattern":
                guard case .string(let source) = value else { throw invalid(location, key, "'pattern' must be a string") }
                keywords.append(.pattern(try pattern(source, location, key)))
            case "maxItems": keywords.append(.maxItems(try count(value, location, key)))
            case "minItems": keywords.append(.minItems(try count(value, location, key)))
            case "uniqueItems":
                guard case .bool(let unique) = value else { throw invalid(location, key, "'uniqueItems' must be a boolean") }
                if unique { keywords.append(.uniqueItems) }
            case "contains":
                let minimum = try object["minContains"].map { v throws(SchemaError) in try count(v, location, "minContains") } ?? 1
                let maximum = try object["maxContains"].map { v throws(SchemaError) in try count(v, location, "maxContains") }
                keywords.append(.contains(try child(location, [key]), min: minimum, max: maximum))
            case "minContains", "maxContains":
                _ = try count(value, location, key)  // applied with "contains"; validated even without it
            case "maxProperties": keywords.append(.maxProperties(try count(value, location, key)))
            case "minProperties": keywords.append(.minProperties(try count(value, location, key)))
            case "required": keywords.append(.required(try stringArray(value, location, key)))
            case "dependentRequired":
                guard case .object(let members) = value else {
                    throw invalid(location, key, "'dependentRequired' must be an object of string arrays")
                }
                var requirements: [DependentRequirement] = []
                for name in members.keys.sorted() {
                    requirements.append(
                        DependentRequirement(
                            property: name, required: try stringArray(members[name]!, location.appending([key]), name)))
                }
                keywords.append(.dependentRequired(requirements, keyword: "/dependentRequired"))
            case "dependencies":
                // Pre-2019 keyword, still common in draft-07 tool schemas (e.g. from MCP
                // servers); the 2020-12 spec allows supporting it. Arrays behave as
                // dependentRequired, schemas as dependentSchemas.
                guard case .object(let members) = value else {
                    throw invalid(location, key, "'dependencies' must be an object")
                }
                var requirements: [DependentRequirement] = []
                var schemas: [(String, Child)] = []
                for name in members.keys.sorted() {
                    if case .array = members[name]! {
                        requirements.append(
                            DependentRequirement(
                                property: name, required: try stringArray(members[name]!, location.appending([key]), name)))
                    } else {
                        schemas.append((name, try child(location, [key, name])))
                    }
                }
                if !requirements.isEmpty { keywords.append(.dependentRequired(requirements, keyword: "/dependencies")) }
                if !schemas.isEmpty { keywords.append(.dependentSchemas(schemas)) }
            case "dependentSchemas":
                keywords.append(.dependentSchemas(try schemaMap(value, location, key)))
            case "properties":
                keywords.append(.properties(try schemaMap(value, location, key)))
            case "patternProperties":
                var compiled: [(Pattern, Child)] = []
                for (source, child) in try schemaMap(value, location, key) {
                    compiled.append((try pattern(source, location.appending([key]), source), child))
                }
                keywords.append(.patternProperties(compiled))
            case "additionalProperties":
                let known = Set(object["properties"]?.objectValue?.keys.map { $0 } ?? [])
                var patterns: [Pattern] = []
                for source in (object["patternProperties"]?.objectValue?.keys.map { $0 } ?? []) {
                    patterns.append(try pattern(source, location.appending(["patternProperties"]), source))
                }
                keywords.append(.additionalProperties(try child(location, [key]), known: known, patterns: patterns))
            case "propertyNames":
                keywords.append(.propertyNames(try child(location, [key])))
            case "prefixItems":
                keywords.append(.prefixItems(try schemaArray(value, location, key)))
            case "items":
                if case .array = value {
                    throw invalid(location, key, "'items' must be a schema; draft 2020-12 uses 'prefixItems' for tuples")
                }
                let prefixCount = object["prefixItems"]?.arrayValue?.count ?? 0
                keywords.append(.items(try child(location, [key]), prefixCount: prefixCount))
            case "allOf": keywords.append(.allOf(try schemaArray(value, location, key)))
            case "anyOf": keywords.append(.anyOf(try schemaArray(value, location, key)))
            case "oneOf": keywords.append(.oneOf(try schemaArray(value, location, key)))
            case "not": keywords.append(.not(try child(location, [key])))
            case "if":
                let thenChild = object["then"] == nil ? nil : try child(location, ["then"])
                let elseChild = object["else"] == nil ? nil : try child(location, ["else"])
                keywords.append(.conditional(if: try child(location, [key]), then: thenChild, else: elseChild))
            case "then", "else":
                _ = try child(location, [key])  // applied with "if"; still checked to be a schema
            case "unevaluatedItems": keywords.append(.unevaluatedItems(try child(location, [key])))
            case "unevaluatedProperties": keywords.append(.unevaluatedProperties(try child(location, [key])))
            case "$defs":
                _ = try schemaMap(value, location, key)
            case "format":
                guard case .string(let name) = value else { throw invalid(location, key, "'format' must be a string") }
                if formatAssertion, let format = StringFormat(rawValue: name) { keywords.append(.format(format)) }
            default:
                // $id/$anchor were handled by the scan; $schema, $comment, title, ...
                // are annotations; unknown keywords are ignored as the spec requires.
                continue
            }
        }
        return keywords
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
