import JSON

/// What the in-place subschemas of one schema have evaluated at one instance location;
/// `unevaluatedProperties`/`unevaluatedItems` apply to the rest.
struct Annotations {
    var properties: Set<String> = []
    var allProperties = false
    var itemPrefix = 0
    var allItems = false
    var containsIndices: Set<Int> = []

    mutating func merge(_ other: Annotations) {
        if other.allProperties {
            allProperties = true
        } else if !allProperties, !other.properties.isEmpty {
            properties.formUnion(other.properties)
        }
        if other.allItems {
            allItems = true
        } else if !allItems {
            itemPrefix = max(itemPrefix, other.itemPrefix)
            if !other.containsIndices.isEmpty { containsIndices.formUnion(other.containsIndices) }
        }
    }

    func isEvaluated(property: String) -> Bool { allProperties || properties.contains(property) }
    func isEvaluated(item: Int) -> Bool { allItems || item < itemPrefix || containsIndices.contains(item) }
}

/// One validation run. Errors are only built in detailed mode; subschemas whose errors are
/// never reported (`not`, `if`, `contains`, the first pass of `anyOf`/`oneOf`) run in flag
/// mode, which stops at the first failure and allocates nothing for messages.
final class Evaluator {
    enum PathToken {
        case key(String)
        case index(Int)
    }

    private struct ActiveReference: Hashable {
        var node: Int
        var instanceDepth: Int
    }

    /// Bounds recursion (nested schemas along the instance path, through `$ref`s) so hostile
    /// or code-built deep values fail validation instead of overflowing the stack. Measured
    /// at ~600 B of stack per level in release builds (~3.7 KiB unoptimised), so the worst case
    /// fits a 512 KiB thread in release and Linux's 8 MiB threads in debug.
    static let maxEvaluationDepth = 512

    private let program: Program
    private let nodes: [Node]
    private let tracks: Bool
    private let maxErrors: Int
    private var detailed: Bool
    private(set) var errors: [ValidationError] = []
    private var instancePath: [PathToken] = []
    private var keywordPath: [String] = []
    private var dynamicScope: [Int] = []
    private var activeReferences: Set<ActiveReference> = []
    private var depth = 0

    init(program: Program, detailed: Bool, maxErrors: Int) {
        self.program = program
        self.nodes = program.nodes
        self.tracks = program.tracksAnnotations
        self.detailed = detailed
        self.maxErrors = maxErrors
    }

    func run(_ instance: JSONValue) -> Bool {
        var annotations = Annotations()
        return evaluate(program.root, instance, &annotations)
    }

    // MARK: Error reporting

    private func report(_ keyword: String, _ message: @autoclosure () -> String, at extra: PathToken? = nil) {
        guard detailed, errors.count < maxErrors else { return }
        var instanceLocation = ""
        for token in instancePath { instanceLocation += Self.pointerToken(token) }
        if let extra { instanceLocation += Self.pointerToken(extra) }
        errors.append(
            ValidationError(
                instanceLocation: instanceLocation, keywordLocation: keywordPath.joined() + keyword, message: message()))
    }

    private static func pointerToken(_ token: PathToken) -> String {
        switch token {
        case .key(let key): "/" + JSONPointer.escape(key)
        case .index(let index): "/" + String(index)
        }
    }

    /// Runs `body` with errors suppressed (flag mode), restoring the previous mode after.
    @inline(__always)
    private func quietly<T>(_ body: () -> T) -> T {
        let saved = detailed
        detailed = false
        defer { detailed = saved }
        return body()
    }

    // MARK: Nodes

    /// Evaluates `index` against `instance` and merges the node's annotations into
    /// `annotations`. Each node starts from its own empty set, so siblings and parents never
    /// leak into a subschema's `unevaluated*`; callers that must drop a failing subschema's
    /// annotations (`anyOf`, `oneOf`, `not`, `if`) pass a scratch set. A failing node's
    /// annotations only reach ancestors that fail too, where they merely avoid noisy
    /// follow-up errors.
    @inline(never)
    func evaluate(_ index: Int, _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        let node = nodes[index]
        let keywords: [Keyword]
        switch node.body {
        case .alwaysTrue:
            return true
        case .alwaysFalse:
            report("", "no value is allowed here (the schema is 'false')")
            return false
        case .keywords(let list):
            keywords = list
        }
        if depth >= Self.maxEvaluationDepth {
            report("", "schema evaluation nested deeper than \(Self.maxEvaluationDepth) levels")
            return false
        }
        depth += 1
        let enteredResource = dynamicScope.last != node.resource
        if enteredResource { dynamicScope.append(node.resource) }
        defer {
            depth -= 1
            if enteredResource { dynamicScope.removeLast() }
        }
        var local = Annotations()
        var valid = true
        for keyword in keywords where !apply(keyword, instance, &local) {
            valid = false
            if !detailed { return false }
        }
        if tracks { annotations.merge(local) }
        return valid
    }

    /// Evaluates a child schema at the same instance location.
    @inline(__always)
    private func inPlace(_ child: Child, _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        keywordPath.append(child.path)
        defer { keywordPath.removeLast() }
        return evaluate(child.node, instance, &annotations)
    }

    /// Evaluates a child schema at a member or element of the instance.
    @inline(__always)
    private func below(_ token: PathToken, _ child: Child, _ instance: JSONValue) -> Bool {
        instancePath.append(token)
        keywordPath.append(child.path)
        defer {
            instancePath.removeLast()
            keywordPath.removeLast()
        }
        var scratch = Annotations()
        return evaluate(child.node, instance, &scratch)
    }

    private func isFalse(_ child: Child) -> Bool {
        if case .alwaysFalse = nodes[child.node].body { return true }
        return false
    }

    // MARK: Keywords

    /// Dispatches one keyword. Kept free of locals because it sits on the recursive path
    /// (evaluate → apply → applicator → evaluate): every byte here is paid once per level.
    @inline(never)
    private func apply(_ keyword: Keyword, _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        switch keyword {
        case .ref(let child):
            return reference(child, instance, &annotations, keyword: "/$ref")
        case .dynamicRef(let child, let anchor):
            return dynamicReference(child, anchor, instance, &annotations)
        case .contains(let child, let minimum, let maximum):
            return contains(child, minimum, maximum, instance, &annotations)
        case .dependentSchemas(let schemas):
            return dependentSchemas(schemas, instance, &annotations)
        case .properties(let schemas):
            return properties(schemas, instance, &annotations)
        case .patternProperties(let schemas):
            return patternProperties(schemas, instance, &annotations)
        case .additionalProperties(let child, let known, let patterns):
            return additionalProperties(child, known, patterns, instance, &annotations)
        case .propertyNames(let child):
            return propertyNames(child, instance)
        case .prefixItems(let children):
            return prefixItems(children, instance, &annotations)
        case .items(let child, let prefixCount):
            return items(child, prefixCount, instance, &annotations)
        case .allOf(let children):
            return allOf(children, instance, &annotations)
        case .anyOf(let children):
            return anyOf(children, instance, &annotations)
        case .oneOf(let children):
            return oneOf(children, instance, &annotations)
        case .not(let child):
            return not(child, instance)
        case .conditional(let condition, let thenChild, let elseChild):
            return conditional(condition, thenChild, elseChild, instance, &annotations)
        case .unevaluatedItems(let child):
            return unevaluatedItems(child, instance, &annotations)
        case .unevaluatedProperties(let child):
            return unevaluatedProperties(child, instance, &annotations)
        case .type, .enumeration, .const, .multipleOf, .maximum, .exclusiveMaximum, .minimum, .exclusiveMinimum,
            .maxLength, .minLength, .pattern, .format, .maxItems, .minItems, .uniqueItems, .maxProperties, .minProperties,
            .required, .dependentRequired:
            return assertion(keyword, instance)
        }
    }

    /// Keywords that look at the instance without applying subschemas (never recursive).
    @inline(never)
    private func assertion(_ keyword: Keyword, _ instance: JSONValue) -> Bool {
        switch keyword {
        case .type(let set, let names):
            return checkType(set, names, instance)
        case .enumeration(let values, let lookup):
            if lookup.contains(instance) { return true }
            report("/enum", "value must be one of: \(Self.list(values))")
            return false
        case .const(let expected):
            if instance == expected { return true }
            report("/const", "value must be \(Self.brief(expected))")
            return false
        case .multipleOf(let divisor):
            guard case .number(let number) = instance else { return true }
            if DecimalMultiple.isMultiple(number, of: divisor) { return true }
            report("/multipleOf", "number must be a multiple of \(Self.format(divisor))")
            return false
        case .maximum(let limit):
            guard case .number(let number) = instance, number > limit else { return true }
            report("/maximum", "number must be at most \(Self.format(limit))")
            return false
        case .exclusiveMaximum(let limit):
            guard case .number(let number) = instance, number >= limit else { return true }
            report("/exclusiveMaximum", "number must be less than \(Self.format(limit))")
            return false
        case .minimum(let limit):
            guard case .number(let number) = instance, number < limit else { return true }
            report("/minimum", "number must be at least \(Self.format(limit))")
            return false
        case .exclusiveMinimum(let limit):
            guard case .number(let number) = instance, number <= limit else { return true }
            report("/exclusiveMinimum", "number must be greater than \(Self.format(limit))")
            return false
        case .maxLength(let limit):
            // Byte count bounds the code point count, which saves counting for most strings.
            guard case .string(let string) = instance, string.utf8.count > limit else { return true }
            let length = string.unicodeScalars.count
            if length <= limit { return true }
            report("/maxLength", "string must be at most \(limit) characters long (got \(length))")
            return false
        case .minLength(let limit):
            guard case .string(let string) = instance else { return true }
            let length = string.unicodeScalars.count
            if length >= limit { return true }
            report("/minLength", "string must be at least \(limit) characters long (got \(length))")
            return false
        case .pattern(let pattern):
            guard case .string(let string) = instance, !pattern.matches(string) else { return true }
            report("/pattern", "string does not match pattern '\(pattern.source)'")
            return false
        case .format(let format):
            guard case .string(let string) = instance, !format.isValid(string) else { return true }
            report("/format", "string is not a valid \(format.rawValue) (\(format.standard))")
            return false
        case .maxItems(let limit):
            guard case .array(let elements) = instance, elements.count > limit else { return true }
            report("/maxItems", "array must have at most \(limit) items (got \(elements.count))")
            return false
        case .minItems(let limit):
            guard case .array(let elements) = instance, elements.count < limit else { return true }
            report("/minItems", "array must have at least \(limit) items (got \(elements.count))")
            return false
        case .uniqueItems:
            return checkUnique(instance)
        case .maxProperties(let limit):
            guard case .object(let members) = instance, members.count > limit else { return true }
            report("/maxProperties", "object must have at most \(limit) properties (got \(members.count))")
            return false
        case .minProperties(let limit):
            guard case .object(let members) = instance, members.count < limit else { return true }
            report("/minProperties", "object must have at least \(limit) properties (got \(members.count))")
            return false
        case .required(let names):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for name in names where members[name] == nil {
                valid = false
                if !detailed { return false }
                report("/required", "missing required property '\(Self.name(name))'")
            }
            return valid
        case .dependentRequired(let requirements, let keyword):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for requirement in requirements where members[requirement.property] != nil {
                for name in requirement.required where members[name] == nil {
                    valid = false
                    if !detailed { return false }
                    report(
                        keyword,
                        "missing property '\(Self.name(name))', required when '\(Self.name(requirement.property))' is present")
                }
            }
            return valid
        default:
            preconditionFailure("applicator keyword routed to assertion()")
        }
    }

    @inline(never)
    private func dynamicReference(
        _ child: Child, _ anchor: String?, _ instance: JSONValue, _ annotations: inout Annotations
    ) -> Bool {
        var target = child
        if let anchor {
            // The outermost resource in the dynamic scope that declares the anchor wins.
            for resource in dynamicScope {
                if let node = program.resources[resource].dynamicAnchors[anchor] {
                    target.node = node
                    break
                }
            }
        }
        return reference(target, instance, &annotations, keyword: "/$dynamicRef")
    }

    @inline(never)
    private func dependentSchemas(_ schemas: [(String, Child)], _ instance: JSONValue, _ annotations: inout Annotations)
        -> Bool
    {
        guard case .object(let members) = instance else { return true }
        var valid = true
        for (name, child) in schemas where members[name] != nil {
            if !inPlace(child, instance, &annotations) {
                valid = false
                if !detailed { return false }
            }
        }
        return valid
    }

    @inline(never)
    private func allOf(_ children: [Child], _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        var valid = true
        for child in children where !inPlace(child, instance, &annotations) {
            valid = false
            if !detailed { return false }
        }
        return valid
    }

    @inline(never)
    private func not(_ child: Child, _ instance: JSONValue) -> Bool {
        var ignored = Annotations()
        let matched = quietly { inPlace(child, instance, &ignored) }
        if !matched { return true }
        report("/not", "value must not match the schema in 'not'")
        return false
    }

    @inline(never)
    private func conditional(
        _ condition: Child, _ thenChild: Child?, _ elseChild: Child?, _ instance: JSONValue,
        _ annotations: inout Annotations
    ) -> Bool {
        var conditionAnnotations = Annotations()
        let holds = quietly { inPlace(condition, instance, &conditionAnnotations) }
        if holds {
            if tracks { annotations.merge(conditionAnnotations) }
            guard let thenChild else { return true }
            return inPlace(thenChild, instance, &annotations)
        }
        guard let elseChild else { return true }
        return inPlace(elseChild, instance, &annotations)
    }

    @inline(never)
    private func reference(_ child: Child, _ instance: JSONValue, _ annotations: inout Annotations, keyword: String)
        -> Bool
    {
        // Re-entering the same schema at the same instance location can only loop forever
        // (instance locations on the stack form a path, so depth identifies them).
        let active = ActiveReference(node: child.node, instanceDepth: instancePath.count)
        guard activeReferences.insert(active).inserted else {
            report(keyword, "the schema references itself without consuming any of the value (infinite recursion)")
            return false
        }
        defer { activeReferences.remove(active) }
        return inPlace(child, instance, &annotations)
    }

    private func checkType(_ set: TypeSet, _ names: [String], _ instance: JSONValue) -> Bool {
        let matches: Bool
        switch instance {
        case .null: matches = set.contains(.null)
        case .bool: matches = set.contains(.boolean)
        case .object: matches = set.contains(.object)
        case .array: matches = set.contains(.array)
        case .string: matches = set.contains(.string)
        case .number(let number):
            matches = set.contains(.number)
                || (set.contains(.integer) && number.isFinite && number.rounded(.towardZero) == number)
        }
        if matches { return true }
        let expected = names.count == 1 ? names[0] : "one of " + names.joined(separator: ", ")
        report("/type", "value must be of type \(expected) (got \(Self.typeName(instance)))")
        return false
    }

    private func checkUnique(_ instance: JSONValue) -> Bool {
        guard case .array(let elements) = instance, elements.count > 1 else { return true }
        var seen: [JSONValue: Int] = [:]
        seen.reserveCapacity(elements.count)
        for (offset, element) in elements.enumerated() {
            if let first = seen.updateValue(offset, forKey: element) {
                report("/uniqueItems", "array items must be unique (items \(first) and \(offset) are equal)")
                return false
            }
        }
        return true
    }

    @inline(never)
    private func contains(
        _ child: Child, _ minimum: Int, _ maximum: Int?, _ instance: JSONValue, _ annotations: inout Annotations
    ) -> Bool {
        guard case .array(let elements) = instance else { return true }
        var matches = 0
        var matched: Set<Int> = []
        quietly {
            for (offset, element) in elements.enumerated() where below(.index(offset), child, element) {
                matches += 1
                if tracks {
                    matched.insert(offset)  // unevaluatedItems needs every match
                } else if let maximum {
                    if matches > maximum { break }
                } else if matches >= minimum {
                    break
                }
            }
        }
        if matches < minimum {
            let keyword = minimum == 1 ? "/contains" : "/minContains"
            report(keyword, "array must contain at least \(minimum) item(s) matching 'contains' (found \(matches))")
            return false
        }
        if let maximum, matches > maximum {
            report("/maxContains", "array must contain at most \(maximum) item(s) matching 'contains' (found \(matches))")
            return false
        }
        if tracks { annotations.containsIndices.formUnion(matched) }
        return true
    }

    /// Member names in a deterministic order when errors are being reported.
    private func keys(_ members: [String: JSONValue]) -> [String] {
        detailed ? members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } : Array(members.keys)
    }

    @inline(never)
    private func properties(_ schemas: [(String, Child)], _ instance: JSONValue, _ annotations: inout Annotations)
        -> Bool
    {
        guard case .object(let members) = instance else { return true }
        var valid = true
        for (name, child) in schemas {
            guard let member = members[name] else { continue }
            if tracks { annotations.properties.insert(name) }
            if isFalse(child) {
                report(child.path, "property '\(Self.name(name))' is not allowed", at: .key(name))
                valid = false
                if !detailed { return false }
            } else if !below(.key(name), child, member) {
                valid = false
                if !detailed { return false }
            }
        }
        return valid
    }

    @inline(never)
    private func patternProperties(
        _ schemas: [(Pattern, Child)], _ instance: JSONValue, _ annotations: inout Annotations
    ) -> Bool {
        guard case .object(let members) = instance else { return true }
        var valid = true
        for key in keys(members) {
            for (pattern, child) in schemas where pattern.matches(key) {
                if tracks { annotations.properties.insert(key) }
                if !below(.key(key), child, members[key]!) {
                    valid = false
                    if !detailed { return false }
                }
            }
        }
        return valid
    }

    @inline(never)
    private func additionalProperties(
        _ child: Child, _ known: Set<String>, _ patterns: [Pattern], _ instance: JSONValue,
        _ annotations: inout Annotations
    ) -> Bool {
        guard case .object(let members) = instance else { return true }
        var valid = true
        for key in keys(members) where !known.contains(key) && !patterns.contains(where: { $0.matches(key) }) {
            if isFalse(child) {
                report("/additionalProperties", "property '\(Self.name(key))' is not allowed", at: .key(key))
                valid = false
            } else if !below(.key(key), child, members[key]!) {
                valid = false
            }
            if !valid && !detailed { return false }
        }
        if tracks { annotations.allProperties = true }
        return valid
    }

    @inline(never)
    private func propertyNames(_ child: Child, _ instance: JSONValue) -> Bool {
        guard case .object(let members) = instance else { return true }
        var valid = true
        for key in keys(members) where !quietly({ below(.key(key), child, .string(key)) }) {
            valid = false
            if !detailed { return false }
            report("/propertyNames", "property name '\(Self.name(key))' is not allowed by 'propertyNames'", at: .key(key))
            _ = below(.key(key), child, .string(key))
        }
        return valid
    }

    @inline(never)
    private func prefixItems(_ children: [Child], _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        guard case .array(let elements) = instance else { return true }
        var valid = true
        for (offset, child) in zip(elements.indices, children) where !below(.index(offset), child, elements[offset]) {
            valid = false
            if !detailed { return false }
        }
        if tracks { annotations.itemPrefix = max(annotations.itemPrefix, min(children.count, elements.count)) }
        return valid
    }

    @inline(never)
    private func items(_ child: Child, _ prefixCount: Int, _ instance: JSONValue, _ annotations: inout Annotations)
        -> Bool
    {
        guard case .array(let elements) = instance, elements.count > prefixCount else { return true }
        if isFalse(child) {
            report(
                "/items",
                prefixCount == 0
                    ? "array must be empty" : "array must have at most \(prefixCount) items (got \(elements.count))",
                at: .index(prefixCount))
            return false
        }
        var valid = true
        for offset in prefixCount..<elements.count where !below(.index(offset), child, elements[offset]) {
            valid = false
            if !detailed { return false }
        }
        if tracks { annotations.allItems = true }
        return valid
    }

    @inline(never)
    private func anyOf(_ children: [Child], _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        var matched = false
        quietly {
            for child in children {
                var branch = Annotations()
                if inPlace(child, instance, &branch) {
                    matched = true
                    // Every passing branch contributes annotations, so all must run.
                    if tracks { annotations.merge(branch) } else { break }
                }
            }
        }
        if matched { return true }
        if detailed {
            report("/anyOf", "value must match at least one of the \(children.count) schemas in 'anyOf'")
            var ignored = Annotations()
            for child in children { _ = inPlace(child, instance, &ignored) }
        }
        return false
    }

    @inline(never)
    private func oneOf(_ children: [Child], _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        var passing: [Int] = []
        var passingAnnotations = Annotations()
        quietly {
            for (offset, child) in children.enumerated() {
                var branch = Annotations()
                if inPlace(child, instance, &branch) {
                    passing.append(offset)
                    passingAnnotations = branch
                    if passing.count > 1 { break }
                }
            }
        }
        if passing.count == 1 {
            if tracks { annotations.merge(passingAnnotations) }
            return true
        }
        if detailed {
            if passing.isEmpty {
                report("/oneOf", "value must match exactly one of the \(children.count) schemas in 'oneOf' (matches none)")
                var ignored = Annotations()
                for child in children { _ = inPlace(child, instance, &ignored) }
            } else {
                report(
                    "/oneOf",
                    "value must match exactly one schema in 'oneOf' but matches more (schemas \(passing.map(String.init).joined(separator: " and ")))")
            }
        }
        return false
    }

    @inline(never)
    private func unevaluatedItems(_ child: Child, _ instance: JSONValue, _ annotations: inout Annotations) -> Bool {
        guard case .array(let elements) = instance else { return true }
        var valid = true
        for offset in elements.indices where !annotations.isEvaluated(item: offset) {
            if isFalse(child) {
                report("/unevaluatedItems", "item \(offset) is not allowed by the schema", at: .index(offset))
                valid = false
            } else if !below(.index(offset), child, elements[offset]) {
                valid = false
            }
            if !valid && !detailed { return false }
        }
        annotations.allItems = true
        return valid
    }

    @inline(never)
    private func unevaluatedProperties(_ child: Child, _ instance: JSONValue, _ annotations: inout Annotations)
        -> Bool
    {
        guard case .object(let members) = instance else { return true }
        var valid = true
        for key in keys(members) where !annotations.isEvaluated(property: key) {
            if isFalse(child) {
                report("/unevaluatedProperties", "property '\(Self.name(key))' is not allowed", at: .key(key))
                valid = false
            } else if !below(.key(key), child, members[key]!) {
                valid = false
            }
            if !valid && !detailed { return false }
        }
        annotations.allProperties = true
        return valid
    }

    // MARK: Message helpers

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number(let number): number.rounded(.towardZero) == number ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func format(_ number: Double) -> String { JSONValue.number(number).description }

    /// A schema value for a message, shortened so one huge `const` cannot flood a log line.
    static func brief(_ value: JSONValue) -> String {
        let text = value.description
        return text.count <= 120 ? text : String(text.prefix(117)) + "..."
    }

    static func list(_ values: [JSONValue]) -> String {
        let shown = values.prefix(10).map { brief($0) }.joined(separator: ", ")
        return values.count > 10 ? shown + ", ... (\(values.count) values)" : shown
    }

    /// A property name for a message, shortened (names can come from the instance).
    static func name(_ name: String) -> String {
        name.count <= 64 ? name : String(name.prefix(61)) + "..."
    }
}
