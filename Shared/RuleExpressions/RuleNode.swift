import Foundation
import JSON

/// A parsed expression: a tree evaluated directly (no code generation).
indirect enum RuleNode: Sendable {
    enum Logical: Sendable { case and, or }
    enum Comparison: String, Sendable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case `in` = "in", notIn = "not in"
    }
    enum Arithmetic: String, Sendable { case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%" }

    case literal(JSONValue)
    case list([RuleNode], column: Int)
    case root(String, column: Int)
    case member(RuleNode, String, column: Int)
    case index(RuleNode, RuleNode, column: Int)
    case call(String, [RuleNode], column: Int)
    case not(RuleNode, column: Int)
    case negate(RuleNode, column: Int)
    case logical(Logical, RuleNode, RuleNode, column: Int)
    case compare(Comparison, RuleNode, RuleNode, column: Int)
    case arithmetic(Arithmetic, RuleNode, RuleNode, column: Int)

    // MARK: Paths read

    /// The static path of a path node (`args.amount` → ["args", "amount"]); nil for others.
    var staticPath: [String]? {
        switch self {
        case .root(let name, _): return [name]
        case .member(let base, let name, _): return base.staticPath.map { $0 + [name] }
        case .index(let base, _, _): return base.staticPath
        default: return nil
        }
    }

    var paths: [[String]] {
        switch self {
        case .literal: return []
        case .root, .member: return staticPath.map { [$0] } ?? []
        case .index(let base, let index, _): return base.paths + index.paths
        case .list(let items, _), .call(_, let items, _): return items.flatMap(\.paths)
        case .not(let node, _), .negate(let node, _): return node.paths
        case .logical(_, let left, let right, _), .compare(_, let left, let right, _), .arithmetic(_, let left, let right, _):
            return left.paths + right.paths
        }
    }

    /// How a path is written in messages.
    var pathText: String {
        switch self {
        case .root(let name, _): return name
        case .member(let base, let name, _): return base.pathText + "." + name
        case .index(let base, _, _): return base.pathText + "[…]"
        default: return "value"
        }
    }

    // MARK: Evaluation

    func evaluate(_ scope: RuleScope) throws(RuleEvaluationError) -> JSONValue {
        switch self {
        case .literal(let value):
            return value
        case .list(let items, _):
            var values: [JSONValue] = []
            for item in items { values.append(try item.evaluate(scope)) }
            return .array(values)
        case .root(let name, _):
            guard let value = scope.roots[name] else { throw RuleEvaluationError("\(name) is not known", unknownValue: true) }
            return value
        case .member(let base, let name, _):
            let object = try base.evaluate(scope)
            guard case .object(let members) = object else {
                if object == .null { throw RuleEvaluationError("\(base.pathText) is null, so \(pathText) is not known", unknownValue: true) }
                throw RuleEvaluationError("\(base.pathText) is \(object.ruleTypeName), not an object")
            }
            guard let value = members[name] else { throw RuleEvaluationError("\(pathText) is not known", unknownValue: true) }
            return value
        case .index(let base, let indexNode, _):
            let container = try base.evaluate(scope)
            let index = try indexNode.evaluate(scope)
            switch (container, index) {
            case (.array(let items), .number(let number)):
                guard let position = Int(exactly: number), items.indices.contains(position) else {
                    throw RuleEvaluationError("\(base.pathText) has no item \(number)", unknownValue: true)
                }
                return items[position]
            case (.object(let members), .string(let key)):
                guard let value = members[key] else { throw RuleEvaluationError("\(base.pathText)['\(key)'] is not known", unknownValue: true) }
                return value
            default:
                throw RuleEvaluationError("cannot index \(container.ruleTypeName) with \(index.ruleTypeName)")
            }
        case .call(let name, let arguments, _):
            return try Self.call(name, arguments, scope)
        case .not(let node, _):
            return .bool(!(try node.evaluate(scope).ruleBool("not")))
        case .negate(let node, _):
            return .number(-(try node.evaluate(scope).ruleNumber("-")))
        case .logical(let op, let left, let right, _):
            let first = try left.evaluate(scope).ruleBool(op == .and ? "and" : "or")
            switch op {
            case .and: return first ? .bool(try right.evaluate(scope).ruleBool("and")) : .bool(false)
            case .or: return first ? .bool(true) : .bool(try right.evaluate(scope).ruleBool("or"))
            }
        case .compare(let op, let left, let right, _):
            return .bool(try Self.compare(op, try left.evaluate(scope), try right.evaluate(scope)))
        case .arithmetic(let op, let left, let right, _):
            return try Self.arithmetic(op, try left.evaluate(scope), try right.evaluate(scope))
        }
    }

    static func compare(_ op: Comparison, _ left: JSONValue, _ right: JSONValue) throws(RuleEvaluationError) -> Bool {
        switch op {
        case .equal: return left == right
        case .notEqual: return left != right
        case .in, .notIn:
            let found: Bool
            switch (left, right) {
            case (_, .array(let items)): found = items.contains(left)
            case (.string(let part), .string(let text)): found = text.contains(part)
            case (.string(let key), .object(let members)): found = members[key] != nil
            default: throw RuleEvaluationError("'\(op.rawValue)' needs a list, a string or an object on its right, not \(right.ruleTypeName)")
            }
            return op == .in ? found : !found
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: ComparisonResult
            switch (left, right) {
            case (.number(let a), .number(let b)): order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            // Strings compare by their characters: ISO dates and times order correctly.
            case (.string(let a), .string(let b)): order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            default: throw RuleEvaluationError("cannot compare \(left.ruleTypeName) with \(right.ruleTypeName) using '\(op.rawValue)'")
            }
            switch op {
            case .less: return order == .orderedAscending
            case .lessOrEqual: return order != .orderedDescending
            case .greater: return order == .orderedDescending
            default: return order != .orderedAscending
            }
        }
    }

    static func arithmetic(_ op: Arithmetic, _ left: JSONValue, _ right: JSONValue) throws(RuleEvaluationError) -> JSONValue {
        if op == .add, case .string(let a) = left, case .string(let b) = right { return .string(a + b) }
        guard case .number(let a) = left, case .number(let b) = right else {
            throw RuleEvaluationError("'\(op.rawValue)' needs two numbers, not \(left.ruleTypeName) and \(right.ruleTypeName)")
        }
        switch op {
        case .add: return .number(a + b)
        case .subtract: return .number(a - b)
        case .multiply: return .number(a * b)
        case .divide:
            guard b != 0 else { throw RuleEvaluationError("division by zero") }
            return .number(a / b)
        case .remainder:
            guard b != 0 else { throw RuleEvaluationError("division by zero") }
            return .number(a.truncatingRemainder(dividingBy: b))
        }
    }

    static func call(_ name: String, _ arguments: [RuleNode], _ scope: RuleScope) throws(RuleEvaluationError) -> JSONValue {
        if name == "exists" {
            do {
                return .bool(try arguments[0].evaluate(scope) != .null)
            } catch where error.isUnknownValue {
                return .bool(false)
            }
        }
        var values: [JSONValue] = []
        for argument in arguments { values.append(try argument.evaluate(scope)) }
        switch name {
        case "len":
            switch values[0] {
            case .string(let text): return .number(Double(text.count))
            case .array(let items): return .number(Double(items.count))
            case .object(let members): return .number(Double(members.count))
            default: throw RuleEvaluationError("len() needs a string, list or object, not \(values[0].ruleTypeName)")
            }
        case "lower": return .string(try values[0].ruleString("lower()").lowercased())
        case "upper": return .string(try values[0].ruleString("upper()").uppercased())
        case "abs": return .number(abs(try values[0].ruleNumber("abs()")))
        case "min", "max":
            // One list argument or several numbers.
            let items: [JSONValue]
            if values.count == 1, case .array(let list) = values[0] { items = list } else { items = values }
            guard !items.isEmpty else { throw RuleEvaluationError("\(name)() of an empty list") }
            var numbers: [Double] = []
            for item in items { numbers.append(try item.ruleNumber("\(name)()")) }
            return .number(name == "min" ? numbers.min()! : numbers.max()!)
        case "round":
            let number = try values[0].ruleNumber("round()")
            let places = values.count > 1 ? try values[1].ruleNumber("round()") : 0
            guard places == places.rounded(), (0...6).contains(places) else { throw RuleEvaluationError("round() takes 0 to 6 decimal places") }
            let scale = pow(10, places)
            return .number((number * scale).rounded(.toNearestOrAwayFromZero) / scale)
        case "starts_with": return .bool(try values[0].ruleString(name).hasPrefix(try values[1].ruleString(name)))
        case "ends_with": return .bool(try values[0].ruleString(name).hasSuffix(try values[1].ruleString(name)))
        case "contains":
            switch values[0] {
            case .array(let items): return .bool(items.contains(values[1]))
            case .string(let text): return .bool(text.contains(try values[1].ruleString(name)))
            default: throw RuleEvaluationError("contains() needs a list or a string, not \(values[0].ruleTypeName)")
            }
        default:
            throw RuleEvaluationError("unknown function \(name)")
        }
    }
}

extension JSONValue {
    func ruleBool(_ where: String) throws(RuleEvaluationError) -> Bool {
        guard case .bool(let flag) = self else { throw RuleEvaluationError("'\(`where`)' needs true or false, not \(ruleTypeName)") }
        return flag
    }
    func ruleNumber(_ where: String) throws(RuleEvaluationError) -> Double {
        guard case .number(let number) = self else { throw RuleEvaluationError("'\(`where`)' needs a number, not \(ruleTypeName)") }
        return number
    }
    func ruleString(_ where: String) throws(RuleEvaluationError) -> String {
        guard case .string(let text) = self else { throw RuleEvaluationError("'\(`where`)' needs a string, not \(ruleTypeName)") }
        return text
    }
}
