import JSON

/// A token and where it starts (1-based column).
struct RuleToken: Equatable {
    enum Kind: Equatable {
        case number(Double)
        case string(String)
        case name(String)
        case symbol(String)
        case end
    }
    var kind: Kind
    var column: Int
}

/// Splits an expression into tokens; strings take single or double quotes with `\` escapes.
struct RuleLexer {
    static let symbols = ["==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", "."]

    static func tokens(_ source: String) throws(RuleSyntaxError) -> [RuleToken] {
        let characters = Array(source)
        var tokens: [RuleToken] = []
        var index = 0
        while index < characters.count {
            let character = characters[index]
            let column = index + 1
            if character.isWhitespace {
                index += 1
            } else if character.isNumber, character.isASCII {
                var end = index
                while end < characters.count, characters[end].isASCII, characters[end].isNumber || characters[end] == "." || characters[end] == "_" { end += 1 }
                let text = String(characters[index..<end]).replacingOccurrences(of: "_", with: "")
                guard let number = Double(text), !text.hasSuffix(".") else {
                    throw RuleSyntaxError(column: column, message: "'\(String(characters[index..<end]))' is not a number")
                }
                tokens.append(RuleToken(kind: .number(number), column: column))
                index = end
            } else if character == "'" || character == "\"" {
                var text = ""
                var end = index + 1
                var closed = false
                while end < characters.count {
                    let next = characters[end]
                    if next == character { closed = true; break }
                    if next == "\\" {
                        end += 1
                        guard end < characters.count else { break }
                        switch characters[end] {
                        case "n": text.append("\n")
                        case "t": text.append("\t")
                        case "\\", "'", "\"": text.append(characters[end])
                        default: throw RuleSyntaxError(column: end, message: "unknown escape '\\\(characters[end])'")
                        }
                    } else {
                        text.append(next)
                    }
                    end += 1
                }
                guard closed else { throw RuleSyntaxError(column: column, message: "string not closed") }
                tokens.append(RuleToken(kind: .string(text), column: column))
                index = end + 1
            } else if character.isLetter || character == "_" {
                var end = index
                while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" { end += 1 }
                tokens.append(RuleToken(kind: .name(String(characters[index..<end])), column: column))
                index = end
            } else {
                let two = index + 1 < characters.count ? String(characters[index...index + 1]) : ""
                if symbols.contains(two) {
                    tokens.append(RuleToken(kind: .symbol(two), column: column))
                    index += 2
                } else if symbols.contains(String(character)) {
                    tokens.append(RuleToken(kind: .symbol(String(character)), column: column))
                    index += 1
                } else {
                    let hint: String
                    switch two.isEmpty ? String(character) : two {
                    case "&&": hint = " (write 'and')"
                    case "||": hint = " (write 'or')"
                    case "=": hint = " (write '==' to compare)"
                    default: hint = character == "!" ? " (write 'not')" : character == "=" ? " (write '==' to compare)" : ""
                    }
                    throw RuleSyntaxError(column: column, message: "unexpected '\(character)'\(hint)")
                }
            }
        }
        tokens.append(RuleToken(kind: .end, column: characters.count + 1))
        return tokens
    }
}

/// A recursive-descent parser for the grammar in `RuleExpression`. Names that are not a root, a
/// function or a literal are refused here, so a pack with a typo does not load.
struct RuleParser {
    let source: String
    let roots: Set<String>
    var tokens: [RuleToken] = []
    var position = 0
    /// Nesting limit: a pathological expression cannot exhaust the stack.
    static let maxDepth = 64
    var depth = 0

    init(source: String, roots: Set<String>) {
        self.source = source
        self.roots = roots
    }

    mutating func parseAll() throws(RuleSyntaxError) -> RuleNode {
        tokens = try RuleLexer.tokens(source)
        guard tokens.count > 1 else { throw RuleSyntaxError(column: 1, message: "empty expression") }
        let node = try expression()
        guard case .end = current.kind else { throw unexpected("the end of the expression") }
        return node
    }

    var current: RuleToken { tokens[position] }

    mutating func advance() -> RuleToken {
        defer { position += 1 }
        return tokens[position]
    }

    func isSymbol(_ symbol: String) -> Bool { current.kind == .symbol(symbol) }
    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    func unexpected(_ expected: String) -> RuleSyntaxError {
        let found: String
        switch current.kind {
        case .end: found = "the end"
        case .number(let number): found = "\(number)"
        case .string(let text): found = "'\(text)'"
        case .name(let name): found = "'\(name)'"
        case .symbol(let symbol): found = "'\(symbol)'"
        }
        return RuleSyntaxError(column: current.column, message: "expected \(expected), found \(found)")
    }

    mutating func expect(_ symbol: String) throws(RuleSyntaxError) {
        guard isSymbol(symbol) else { throw unexpected("'\(symbol)'") }
        position += 1
    }

    mutating func expression() throws(RuleSyntaxError) -> RuleNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw RuleSyntaxError(column: current.column, message: "nested too deeply") }
        return try or()
    }

    mutating func or() throws(RuleSyntaxError) -> RuleNode {
        var node = try and()
        while isName("or") {
            let column = advance().column
            node = .logical(.or, node, try and(), column: column)
        }
        return node
    }

    mutating func and() throws(RuleSyntaxError) -> RuleNode {
        var node = try not()
        while isName("and") {
            let column = advance().column
            node = .logical(.and, node, try not(), column: column)
        }
        return node
    }

    mutating func not() throws(RuleSyntaxError) -> RuleNode {
        if isName("not") {
            let column = advance().column
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw RuleSyntaxError(column: column, message: "nested too deeply") }
            return .not(try not(), column: column)
        }
        return try comparison()
    }

    mutating func comparison() throws(RuleSyntaxError) -> RuleNode {
        let left = try sum()
        let column = current.column
        let op: RuleNode.Comparison?
        switch current.kind {
        case .symbol("=="): op = .equal
        case .symbol("!="): op = .notEqual
        case .symbol("<"): op = .less
        case .symbol("<="): op = .lessOrEqual
        case .symbol(">"): op = .greater
        case .symbol(">="): op = .greaterOrEqual
        case .name("in"): op = .in
        case .name("not") where position + 1 < tokens.count && tokens[position + 1].kind == .name("in"):
            position += 1
            op = .notIn
        default: op = nil
        }
        guard let op else { return left }
        position += 1
        let node = RuleNode.compare(op, left, try sum(), column: column)
        if case .symbol(let symbol) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(symbol) {
            throw RuleSyntaxError(column: current.column, message: "comparisons do not chain; join them with 'and'")
        }
        return node
    }

    mutating func sum() throws(RuleSyntaxError) -> RuleNode {
        var node = try product()
        while isSymbol("+") || isSymbol("-") {
            let token = advance()
            node = .arithmetic(token.kind == .symbol("+") ? .add : .subtract, node, try product(), column: token.column)
        }
        return node
    }

    mutating func product() throws(RuleSyntaxError) -> RuleNode {
        var node = try unary()
        while isSymbol("*") || isSymbol("/") || isSymbol("%") {
            let token = advance()
            let op: RuleNode.Arithmetic = token.kind == .symbol("*") ? .multiply : token.kind == .symbol("/") ? .divide : .remainder
            node = .arithmetic(op, node, try unary(), column: token.column)
        }
        return node
    }

    mutating func unary() throws(RuleSyntaxError) -> RuleNode {
        if isSymbol("-") {
            let column = advance().column
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw RuleSyntaxError(column: column, message: "nested too deeply") }
            return .negate(try unary(), column: column)
        }
        return try postfix()
    }

    mutating func postfix() throws(RuleSyntaxError) -> RuleNode {
        var node = try primary()
        while true {
            if isSymbol(".") {
                position += 1
                guard case .name(let name) = current.kind else { throw unexpected("a name after '.'") }
                let column = advance().column
                node = .member(node, name, column: column)
            } else if isSymbol("[") {
                let column = advance().column
                let index = try expression()
                try expect("]")
                node = .index(node, index, column: column)
            } else {
                return node
            }
        }
    }

    mutating func primary() throws(RuleSyntaxError) -> RuleNode {
        let token = current
        switch token.kind {
        case .number(let number):
            position += 1
            return .literal(.number(number))
        case .string(let text):
            position += 1
            return .literal(.string(text))
        case .symbol("("):
            position += 1
            let node = try expression()
            try expect(")")
            return node
        case .symbol("["):
            position += 1
            var items: [RuleNode] = []
            if !isSymbol("]") {
                repeat {
                    if !items.isEmpty { position += 1 }
                    items.append(try expression())
                } while isSymbol(",")
            }
            try expect("]")
            return .list(items, column: token.column)
        case .name(let name):
            position += 1
            switch name {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            case "and", "or", "not", "in": throw RuleSyntaxError(column: token.column, message: "expected a value, found '\(name)'")
            default: break
            }
            if isSymbol("(") {
                guard let arity = RuleExpression.functions[name] else {
                    throw RuleSyntaxError(column: token.column, message: "unknown function '\(name)' (known: \(RuleExpression.functions.keys.sorted().joined(separator: ", ")))")
                }
                position += 1
                var arguments: [RuleNode] = []
                if !isSymbol(")") {
                    repeat {
                        if !arguments.isEmpty { position += 1 }
                        arguments.append(try expression())
                    } while isSymbol(",")
                }
                try expect(")")
                guard arity.contains(arguments.count) else {
                    let expected = arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)"
                    throw RuleSyntaxError(column: token.column, message: "\(name)() takes \(expected) argument\(arity.upperBound == 1 ? "" : "s"), given \(arguments.count)")
                }
                return .call(name, arguments, column: token.column)
            }
            guard roots.contains(name) else {
                throw RuleSyntaxError(column: token.column, message: "unknown name '\(name)' (a path starts with one of: \(roots.sorted().joined(separator: ", ")))")
            }
            return .root(name, column: token.column)
        default:
            throw unexpected("a value")
        }
    }
}
