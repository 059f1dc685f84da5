public import JSON

/// A business rule from a domain pack, such as `args.amount <= results.get_order.total`: a small
/// expression language over JSON values, parsed once at pack load and evaluated by walking its
/// tree. It has no assignment, no loops, no user functions and no access to anything but the
/// values it is given, so a pack can state policy without running code.
///
/// ```
/// expression := or
/// or         := and ("or" and)*
/// and        := not ("and" not)*
/// not        := "not" not | comparison
/// comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum)?
/// sum        := product (("+" | "-") product)*
/// product    := unary (("*" | "/" | "%") unary)*
/// unary      := "-" unary | postfix
/// postfix    := primary ("." name | "[" expression "]")*
/// primary    := number | 'string' | "string" | true | false | null | name | name "(" arguments ")"
///             | "(" expression ")" | "[" list "]"
/// ```
///
/// Values are JSON's. Comparisons are strict: `<` takes two numbers or two strings, `and` and
/// `or` take booleans, and a path that names nothing (`results.get_order` before that tool ran)
/// is an error, not a silent null, except inside `exists(…)`. An evaluation error means the
/// rule could not be shown to hold, so a caller treats it as not holding.
public struct RuleExpression: Sendable, CustomStringConvertible {
    public let source: String
    let root: RuleNode

    /// Functions and how many arguments each takes.
    public static let functions: [String: ClosedRange<Int>] = [
        "len": 1...1, "lower": 1...1, "upper": 1...1, "abs": 1...1, "exists": 1...1,
        "min": 1...8, "max": 1...8, "round": 1...2, "starts_with": 2...2, "ends_with": 2...2, "contains": 2...2,
    ]

    /// Parses `source`; `roots` are the names an expression may start a path with.
    public init(_ source: String, roots: Set<String>) throws(RuleSyntaxError) {
        self.source = source
        var parser = RuleParser(source: source, roots: roots)
        root = try parser.parseAll()
    }

    public var description: String { source }

    /// Every path of names the expression reads (`["args", "amount"]`,
    /// `["results", "get_order", "total"]`), up to the first computed index, for load-time checks.
    public var paths: [[String]] { root.paths }

    /// The expression's value over `roots` (`args`, `results`, …).
    public func evaluate(_ roots: [String: JSONValue]) throws(RuleEvaluationError) -> JSONValue {
        try root.evaluate(RuleScope(roots: roots))
    }

    /// Whether the expression is true; a value that is not a boolean is an error.
    public func holds(_ roots: [String: JSONValue]) throws(RuleEvaluationError) -> Bool {
        let value = try evaluate(roots)
        guard case .bool(let flag) = value else {
            throw RuleEvaluationError("the rule gives \(value.ruleTypeName), not true or false")
        }
        return flag
    }
}

/// A mistake in an expression's text, found when the pack loads.
public struct RuleSyntaxError: Error, Equatable, CustomStringConvertible {
    /// 1-based character position in the expression.
    public var column: Int
    public var message: String

    public var description: String { "column \(column): \(message)" }
}

/// Why an expression could not be evaluated over the values given.
public struct RuleEvaluationError: Error, Equatable, CustomStringConvertible {
    public var message: String
    /// The path was absent (as opposed to a type error): the fact is not known yet.
    public var isUnknownValue: Bool

    init(_ message: String, unknownValue: Bool = false) {
        self.message = message
        self.isUnknownValue = unknownValue
    }

    public var description: String { message }
}

struct RuleScope {
    var roots: [String: JSONValue]
}

extension JSONValue {
    var ruleTypeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}
