import JSON

/// A compiled schema: a flat table of nodes that refer to each other by index, so recursive
/// `$ref`s need no reference cycles and the whole thing is an immutable, `Sendable` value.
final class Program: Sendable {
    let nodes: [Node]
    /// Per schema resource (a document or a subschema with `$id`): its `$dynamicAnchor`s.
    let resources: [Resource]
    let root: Int
    /// Only schemas that use `unevaluatedItems`/`unevaluatedProperties` pay for annotation
    /// tracking; without them `anyOf` can also stop at the first match.
    let tracksAnnotations: Bool

    init(nodes: [Node], resources: [Resource], root: Int) {
        self.nodes = nodes
        self.resources = resources
        self.root = root
        self.tracksAnnotations = nodes.contains { node in
            guard case .keywords(let keywords) = node.body else { return false }
            return keywords.contains {
                switch $0 {
                case .unevaluatedItems, .unevaluatedProperties: true
                default: false
                }
            }
        }
    }
}

struct Resource: Sendable {
    var uri: String
    var dynamicAnchors: [String: Int] = [:]
}

struct Node: Sendable {
    enum Body: Sendable {
        case alwaysTrue
        case alwaysFalse
        case keywords([Keyword])
    }

    var body: Body
    /// Index into `Program.resources`: entering a node of another resource extends the
    /// dynamic scope used by `$dynamicRef`.
    var resource: Int
}

/// A subschema together with the keyword path that leads to it from its parent schema,
/// pre-escaped (e.g. "/properties/a~1b"), used to build `keywordLocation`.
struct Child: Sendable {
    var node: Int
    var path: String
}

struct TypeSet: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = TypeSet(rawValue: 1 << 0)
    static let boolean = TypeSet(rawValue: 1 << 1)
    static let object = TypeSet(rawValue: 1 << 2)
    static let array = TypeSet(rawValue: 1 << 3)
    static let number = TypeSet(rawValue: 1 << 4)
    static let string = TypeSet(rawValue: 1 << 5)
    static let integer = TypeSet(rawValue: 1 << 6)

    static let names: [(String, TypeSet)] = [
        ("null", .null), ("boolean", .boolean), ("object", .object), ("array", .array),
        ("number", .number), ("string", .string), ("integer", .integer),
    ]
}

struct DependentRequirement: Sendable {
    var property: String
    var required: [String]
}

enum Keyword: Sendable {
    case ref(Child)
    /// `anchor` is set when the static target carries a matching `$dynamicAnchor`
    /// (the "bookending" rule); otherwise the keyword behaves exactly like `$ref`.
    case dynamicRef(Child, anchor: String?)
    case type(TypeSet, names: [String])
    case enumeration([JSONValue], lookup: Set<JSONValue>)
    case const(JSONValue)
    case multipleOf(Double)
    case maximum(Double)
    case exclusiveMaximum(Double)
    case minimum(Double)
    case exclusiveMinimum(Double)
    case maxLength(Int)
    case minLength(Int)
    case pattern(Pattern)
    /// Only when compiled with format assertion.
    case format(StringFormat)
    case maxItems(Int)
    case minItems(Int)
    case uniqueItems
    case contains(Child, min: Int, max: Int?)
    case maxProperties(Int)
    case minProperties(Int)
    case required([String])
    case dependentRequired([DependentRequirement], keyword: String)
    case dependentSchemas([(String, Child)])
    case properties([(String, Child)])
    case patternProperties([(Pattern, Child)])
    case additionalProperties(Child, known: Set<String>, patterns: [Pattern])
    case propertyNames(Child)
    case prefixItems([Child])
    case items(Child, prefixCount: Int)
    case allOf([Child])
    case anyOf([Child])
    case oneOf([Child])
    case not(Child)
    case conditional(if: Child, then: Child?, else: Child?)
    case unevaluatedItems(Child)
    case unevaluatedProperties(Child)

    /// Evaluation order inside one schema object: cheap assertions first, in-place
    /// applicators next, and `unevaluated*` last because they consume the annotations of all
    /// the others.
    var phase: Int {
        switch self {
        case .type, .const, .enumeration: 0
        case .ref, .dynamicRef: 1
        case .multipleOf, .maximum, .exclusiveMaximum, .minimum, .exclusiveMinimum,
            .maxLength, .minLength, .pattern, .format, .maxItems, .minItems, .uniqueItems,
            .maxProperties, .minProperties, .required, .dependentRequired:
            2
        case .properties: 3
        case .patternProperties: 4
        case .additionalProperties: 5
        case .propertyNames, .dependentSchemas, .prefixItems: 6
        case .items, .contains: 7
        case .allOf, .anyOf, .oneOf, .not, .conditional: 8
        case .unevaluatedItems, .unevaluatedProperties: 9
        }
    }
}
