import JSON
import RuleExpressions
import Testing

let roots: Set<String> = ["args", "results", "facts", "tenant", "intent", "result"]

let context: [String: JSONValue] = [
    "args": ["order_id": "DEF456", "amount": 30, "reason": "damaged", "items": ["A", "B"]],
    "results": ["get_order": ["order_id": "DEF456", "total": 129, "status": "processing", "placed_at": "2026-11-22", "shipped_at": nil]],
    "facts": ["order_id": "DEF456"],
    "tenant": ["auto_refund_limit": 50, "countries": ["US", "GB"]],
    "intent": "refund",
]

/// What the rules of a pack evaluate to, over values like a refund step's.
@Suite struct RuleEvaluationTests {
    @Test(arguments: [
        ("args.amount <= results.get_order.total", true),
        ("args.amount <= results.get_order.total and args.amount <= tenant.auto_refund_limit", true),
        ("args.amount > tenant.auto_refund_limit", false),
        ("results.get_order.status in ['processing', 'placed']", true),
        ("results.get_order.status not in ['shipped', 'delivered']", true),
        ("not (results.get_order.status == 'shipped')", true),
        ("args.amount * 2 + 10 == 70", true),
        ("args.amount / 4 == 7.5", true),
        ("args.amount % 7 == 2", true),
        ("-args.amount < 0", true),
        ("1 + 2 * 3 == 7", true),
        ("(1 + 2) * 3 == 9", true),
        ("intent == \"refund\"", true),
        ("results.get_order.placed_at >= '2026-11-01'", true),
        ("results.get_order.placed_at < '2026-11-01'", false),
        ("len(args.items) == 2 and args.items[1] == 'B'", true),
        ("args['order_id'] == facts.order_id", true),
        ("lower('ABC') == 'abc' and upper('abc') == 'ABC'", true),
        ("abs(-3) == 3 and min(4, 2, 9) == 2 and max([1, 5]) == 5", true),
        ("round(2.345, 2) == 2.35 and round(2.5) == 3", true),
        ("starts_with(args.order_id, 'DEF') and ends_with(args.order_id, '456')", true),
        ("contains(tenant.countries, 'GB') and contains(args.reason, 'mag')", true),
        ("'US' in tenant.countries and 'mag' in args.reason and 'amount' in args", true),
        ("exists(results.get_order) and not exists(results.cancel_order)", true),
        ("exists(results.get_order.shipped_at)", false),
        ("results.get_order.shipped_at == null", true),
        ("false or true and false", false),
        ("true or false and false", true),
        ("'a' + 'b' == 'ab'", true),
        ("1_000 == 1000", true),
        ("1 == '1'", false),
        ("[1, 2] == [1, 2]", true),
        ("args.amount != 30", false),
    ])
    func holds(expression: String, expected: Bool) throws {
        let rule = try RuleExpression(expression, roots: roots)
        #expect(try rule.holds(context) == expected, "\(expression)")
    }

    /// A fact that is not there is an error that says so (`isUnknownValue`), so the verifier can
    /// tell "not known yet" from "false"; and `and`/`or` short-circuit past it.
    @Test(arguments: [
        ("args.amount <= results.cancel_order.total", "results.cancel_order is not known", true),
        ("results.get_order.shipped_at.date == '2026'", "results.get_order.shipped_at is null, so results.get_order.shipped_at.date is not known", true),
        ("args.items[5] == 'x'", "args.items has no item 5.0", true),
        ("args.amount < 'ten'", "cannot compare a number with a string using '<'", false),
        ("args.amount and true", "'and' needs true or false, not a number", false),
        ("args.reason + 1 == 2", "'+' needs two numbers, not a string and a number", false),
        ("args.amount / 0 == 1", "division by zero", false),
        ("len(args.amount) == 1", "len() needs a string, list or object, not a number", false),
        ("args.order_id.x == 1", "args.order_id is a string, not an object", false),
        ("args.amount", "the rule gives a number, not true or false", false),
        ("min([]) == 0", "min() of an empty list", false),
        ("1 in 2", "'in' needs a list, a string or an object on its right, not a number", false),
    ])
    func errors(expression: String, message: String, unknown: Bool) throws {
        let rule = try RuleExpression(expression, roots: roots)
        let error = #expect(throws: RuleEvaluationError.self) { try rule.holds(context) }
        #expect(error?.message == message)
        #expect(error?.isUnknownValue == unknown)
    }

    @Test func shortCircuitSkipsUnknownValues() throws {
        #expect(try RuleExpression("false and results.nothing.x", roots: roots).holds(context) == false)
        #expect(try RuleExpression("true or results.nothing.x", roots: roots).holds(context) == true)
        #expect(try RuleExpression("not exists(results.cancel_order) or results.cancel_order.ok", roots: roots).holds(context) == true)
    }

    @Test func pathsAreListedForLoadTimeChecks() throws {
        let rule = try RuleExpression("args.amount <= results.get_order.total and exists(tenant.limits[args.currency])", roots: roots)
        #expect(rule.paths == [["args", "amount"], ["results", "get_order", "total"], ["tenant", "limits"], ["args", "currency"]])
    }
}

/// Mistakes in a rule's text, reported at pack load with the column.
@Suite struct RuleSyntaxTests {
    @Test(arguments: [
        ("", 1, "empty expression"),
        ("args.amount <=", 15, "expected a value, found the end"),
        ("args.amount && true", 13, "unexpected '&' (write 'and')"),
        ("args.amount || true", 13, "unexpected '|' (write 'or')"),
        ("!exists(args.x)", 1, "unexpected '!' (write 'not')"),
        ("args.amount = 3", 13, "unexpected '=' (write '==' to compare)"),
        ("amount <= 3", 1, "unknown name 'amount' (a path starts with one of: args, facts, intent, result, results, tenant)"),
        ("eval('1') == 1", 1, "unknown function 'eval' (known: abs, contains, ends_with, exists, len, lower, max, min, round, starts_with, upper)"),
        ("len(args.a, args.b) == 1", 1, "len() takes 1 argument, given 2"),
        ("contains(args.a) == 1", 1, "contains() takes 2 arguments, given 1"),
        ("1 < 2 < 3", 7, "comparisons do not chain; join them with 'and'"),
        ("(1 == 1", 8, "expected ')', found the end"),
        ("args.", 6, "expected a name after '.', found the end"),
        ("args.amount == 'open", 16, "string not closed"),
        ("'a\\q' == 'a'", 3, "unknown escape '\\q'"),
        ("1.2.3 == 1", 1, "'1.2.3' is not a number"),
        ("args.amount 3", 13, "expected the end of the expression, found 3.0"),
        ("args.amount == and", 16, "expected a value, found 'and'"),
        ("[1, 2", 6, "expected ']', found the end"),
        ("args.amount # comment", 13, "unexpected '#'"),
    ])
    func reportsWhereAndWhat(expression: String, column: Int, message: String) {
        let error = #expect(throws: RuleSyntaxError.self) { try RuleExpression(expression, roots: roots) }
        #expect(error?.column == column, "\(expression)")
        #expect(error?.message == message, "\(expression)")
    }

    /// Deep nesting is refused at parse time instead of exhausting the stack.
    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "(", count: 200) + "true" + String(repeating: ")", count: 200)
        let error = #expect(throws: RuleSyntaxError.self) { try RuleExpression(deep, roots: roots) }
        #expect(error?.message == "nested too deeply")
        let nots = String(repeating: "not ", count: 500) + "true"
        #expect(throws: RuleSyntaxError.self) { try RuleExpression(nots, roots: roots) }
        #expect(try RuleExpression(String(repeating: "(", count: 20) + "true" + String(repeating: ")", count: 20), roots: roots).holds([:]))
    }
}
