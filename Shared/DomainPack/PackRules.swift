public import JSON
public import RuleExpressions

/// A business rule of a tool: `check` must be true for the step to run (or, for a result rule,
/// for its result to be relied on). Written in the pack, compiled at load.
public struct ToolRule: Sendable {
    public var check: RuleExpression
    /// Stable code for events and metrics (`refund_over_order_total`).
    public var code: String
    /// What the customer is told when the rule does not hold.
    public var message: String
}

/// A tenant's view of the pack: settings the rules read (`tenant.auto_refund_limit`) and the
/// tools it may use.
public struct TenantSpec: Sendable {
    public var settings: [String: JSONValue]
    /// nil: every tool of the pack.
    public var tools: Set<String>?

    public init(settings: [String: JSONValue] = [:], tools: Set<String>? = nil) {
        self.settings = settings
        self.tools = tools
    }
}

/// Approval ladder settings (`policy.approvals`).
public struct ApprovalPolicy: Sendable {
    /// A tier-1 write runs without a human only when the decision's confidence is at least this.
    public var confidenceThreshold: Double = 0.8
    /// An approval not given within this hands the conversation to a human.
    public var timeoutSeconds: Int = 900
}

/// When the planner hands a conversation to a human on its own (`policy.handover`), besides an
/// intent whose action is `handover` and the failures that always do.
public struct HandoverPolicy: Sendable {
    /// A decision to act or answer below this confidence hands over (`low_confidence`).
    public var minConfidence: Double = 0.4
    /// This many turns in a row that could not help (a tool unavailable or refusing the
    /// request) hand over (`repeated_errors`).
    public var consecutiveErrors: Int = 3
    /// Policy rules over the decision (`intent`, `confidence`, `facts`, `tenant`): the first
    /// that is true hands over (`policy_rule`), its note in the handover's summary.
    public var rules: [HandoverRule] = []
}

public struct HandoverRule: Sendable {
    public var when: RuleExpression
    public var code: String
    public var note: String
}

/// Per-turn limits (`policy.budget`).
public struct TurnBudget: Sendable {
    public var tokens: Int = 3000
    public var toolCalls: Int = 3
    public var wallTimeMs: Int = 8000
}

extension DomainPack {
    /// Names a step rule's paths may start with.
    public static let stepRuleRoots: Set<String> = ["args", "results", "facts", "tenant", "intent", "confidence"]
    /// A handover rule reads the decision.
    public static let handoverRuleRoots: Set<String> = ["intent", "confidence", "facts", "tenant"]
    /// A result rule reads the result being checked (`result`), earlier results and the tenant.
    public static let resultRuleRoots: Set<String> = ["result", "results", "tenant"]

    /// The tenant's spec: its entry, else the `"*"` entry; nil when the pack lists tenants and
    /// this one is not among them (it may use no tool). A pack without `tenants` serves any.
    public func tenant(_ id: String) -> TenantSpec? {
        if tenants.isEmpty { return TenantSpec() }
        return tenants[id] ?? tenants["*"]
    }
}

extension Node {
    /// `rules:` / `result_rules:` of a tool; each `check` parsed, and its paths checked against
    /// the pack (arguments of the tool, names of tools, tenant settings, slots).
    func toolRules(_ key: String, roots: Set<String>, check: (RuleExpression, Node) throws -> Void) throws -> [ToolRule] {
        try array(key, optional: true).map { node in
            let expression = try node.ruleExpression("check", roots: roots)
            try check(expression, node.optional("check")!)
            return ToolRule(check: expression, code: try node.string("code"), message: try node.string("message"))
        }
    }

    func ruleExpression(_ key: String, roots: Set<String>) throws -> RuleExpression {
        let node = try required(key)
        do {
            return try RuleExpression(try node.stringValue(), roots: roots)
        } catch let error as RuleSyntaxError {
            throw DomainPackError(path: node.path, message: "\(error) in \"\(try node.stringValue())\"")
        }
    }
}

/// Load-time checks of the paths a rule reads: a typo in a pack stops start-up, not a turn.
struct RulePathChecker {
    let tools: [String: ToolContract]
    let tenantSettings: Set<String>?
    let slots: Set<String>?

    func check(_ expression: RuleExpression, of tool: ToolContract, at node: Node) throws {
        for path in expression.paths {
            guard path.count >= 2 else { continue }
            let name = path[1]
            func fail(_ message: String) -> DomainPackError { DomainPackError(path: node.path, message: message) }
            switch path[0] {
            case "args":
                if let known = Self.properties(tool.inputSchemaJSON), !known.contains(name) {
                    throw fail("args.\(name) is not an argument of \(tool.name) (arguments: \(known.sorted().joined(separator: ", ")))")
                }
            case "result":
                if let known = Self.properties(tool.outputSchemaJSON), !known.contains(name) {
                    throw fail("result.\(name) is not in the output of \(tool.name) (fields: \(known.sorted().joined(separator: ", ")))")
                }
            case "results":
                guard let earlier = tools[name] else { throw fail("results.\(name): no tool named '\(name)'") }
                if path.count >= 3, let known = Self.properties(earlier.outputSchemaJSON), !known.contains(path[2]) {
                    throw fail("results.\(name).\(path[2]) is not in the output of \(name) (fields: \(known.sorted().joined(separator: ", ")))")
                }
            case "tenant":
                if let tenantSettings, !tenantSettings.contains(name) {
                    throw fail("tenant.\(name) is not a setting of any tenant (settings: \(tenantSettings.sorted().joined(separator: ", ")))")
                }
            case "facts":
                if let slots, !slots.contains(name) {
                    throw fail("facts.\(name) is not a slot of any intent (slots: \(slots.sorted().joined(separator: ", ")))")
                }
            default:
                break
            }
        }
    }

    static func properties(_ schema: JSONValue) -> Set<String>? {
        schema["properties"]?.objectValue.map { Set($0.keys) }
    }
}
