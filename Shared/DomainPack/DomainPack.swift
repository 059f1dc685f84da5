public import Privacy
public import Events
public import Foundation
public import JSON
public import JSONSchema
public import MCPBinding
public import RuleExpressions
import Mustache
import Yams

/// What a deployment knows, loaded from config (DESIGN.md §6): tool contracts, intents and
/// slots, reply templates, policy limits. Everything is validated and compiled at load, so a
/// broken pack stops a service at start-up with the path of the mistake, never mid-turn.
public struct DomainPack: Sendable {
    public var name: String
    public var version: Int
    public var tools: [String: ToolContract]
    /// In priority order: the first intent whose pattern matches wins a tie.
    public var intents: [IntentSpec]
    public var replies: ReplyTexts
    public var policy: PackPolicy
    /// Tenants by id (`"*"`: any other); empty: any tenant, every tool, no settings.
    public var tenants: [String: TenantSpec] = [:]
    /// Each intent's rollout mode (`RolloutModes`), as the pack was loaded.
    public var rollout = RolloutModes()
    /// Customer messages whose decisions (the rules brain's, rendered as the model must answer)
    /// are shown to a language model as example exchanges (`examples:`; docs/BRAINS.md).
    public var examples: [String] = []
    /// Personal data this pack keeps in clear, by PII kind, with the tools that need it
    /// (`privacy: { allow: { phone: [get_balance] } }`): everything else is redacted before it
    /// reaches the log's clear text, a prompt, a log line or a metric (docs/SECURITY.md).
    public var privacyAllowances: [PIIKind: [String]] = [:]
    public var clearPIIKinds: Set<PIIKind> { Set(privacyAllowances.keys) }
    /// Personal data this pack's tools need raw but nobody else sees
    /// (`privacy: { unseal: { phone: { tools: [get_balance], example: "+447700900000" } } }`):
    /// on the log, in prompts and in replies such a value is a reference (`[PHONE#3f9a2b1c]`);
    /// the executor alone unseals it, for these tools (docs/SECURITY.md).
    public var unsealing: [PIIKind: UnsealRule] = [:]

    /// The kinds whose values `tool` may get unsealed.
    public func unsealedKinds(for tool: String) -> Set<PIIKind> {
        Set(unsealing.filter { $0.value.tools.contains(tool) }.keys)
    }

    /// `args` as a schema check of `tool`'s arguments sees them before unsealing: every
    /// reference of a kind unsealed for the tool replaced by the kind's example (the executor
    /// checks the unsealed values themselves). Other references stay as they are.
    public func argumentsForSchemaCheck(_ args: JSONValue, tool: String) -> JSONValue {
        let rules = unsealing.filter { $0.value.tools.contains(tool) }
        guard !rules.isEmpty else { return args }
        func substitute(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(let text): return .string(SealedReference.replacing(in: text) { rules[$0.kind]?.example })
            case .array(let items): return .array(items.map(substitute))
            case .object(let members): return .object(members.mapValues(substitute))
            default: return value
            }
        }
        return substitute(args)
    }

    /// For whoever wrote a customer's words (a test script, not a service): the references the
    /// gateway makes of the sealed values in `text` as message `messageID`, each with the forms
    /// its value reaches tools in (as typed, and normalized by every slot of its kind).
    public func referencedValues(inCustomerText text: String, messageID: UUID) -> [String: [String]] {
        let redacted = PIIDetector.shared.redact(text, allowing: clearPIIKinds, referencing: Set(unsealing.keys), messageID: messageID)
        var values: [String: [String]] = [:]
        for reference in SealedReference.all(in: redacted.text) {
            guard let typed = PIIDetector.shared.value(of: reference, messageID: messageID, in: text, allowing: clearPIIKinds) else { continue }
            let normalized = intents.flatMap(\.slots).filter { $0.pii == reference.kind }.compactMap { $0.normalized(typed) }
            values[reference.placeholder] = [typed] + normalized
        }
        return values
    }

    public func intent(named name: String) -> IntentSpec? { intents.first { $0.name == name } }

    /// Every text the pack itself can say: reply texts, intent replies and answers, slot
    /// questions, rule messages (the verifier lets a reply repeat what these state).
    public var ownTexts: [String] {
        var texts = replies.all.map(\.source)
        for intent in intents {
            texts += intent.answers.map(\.template.source) + (intent.reply.map { [$0.source] } ?? []) + intent.slots.map(\.question)
        }
        for tool in tools.values { texts += (tool.rules + tool.resultRules).map(\.message) }
        return texts
    }
}

/// A tool's contract: the verifier checks arguments and results against it, the executor
/// enforces its timeout.
public struct ToolContract: Sendable {
    public var name: String
    public var description: String
    public var riskTier: RiskTier
    public var timeoutMs: Int
    /// `native` (implemented in the executor); HTTP/OpenAPI/MCP bindings come later.
    public var binding: String
    public var inputSchema: JSONSchema
    public var outputSchema: JSONSchema
    public var inputSchemaJSON: JSONValue
    public var outputSchemaJSON: JSONValue = [:]
    /// Must hold before a step runs (over args, earlier results, facts, tenant settings).
    public var rules: [ToolRule] = []
    /// Must hold of a result before the planner may rely on it (also over `result`).
    public var resultRules: [ToolRule] = []
    /// When true for a step, the step is tier 2 (a human decides), whatever `riskTier` says:
    /// `args.amount > tenant.auto_refund_limit`. A value that cannot be evaluated counts as true.
    public var escalateWhen: RuleExpression?
    /// Retries, rate limit, cache, breaker, scope and the HTTP endpoint (`ToolOperations`).
    public var operations = ToolOperations()
    /// `format_assertion: true`: the schemas' `format`s (date-time, email, uuid, …) are checked.
    public var formatAssertion = false
    /// For `binding: mcp`: the server that lists and runs the tool.
    public var mcpServer: MCPServerSpec?
}

public struct IntentSpec: Sendable {
    public enum Action: String, Sendable, Codable { case toolCalls = "tool_calls", respond, handover }
    public var name: String
    public var patterns: [TextPattern]
    public var slots: [SlotSpec]
    public var action: Action
    public var steps: [StepTemplate]
    /// For `respond` and `handover`: what to tell the customer.
    public var reply: ReplyTemplate?
    /// For `tool_calls`: chosen by the first case whose `when` matches the last step's result.
    public var answers: [AnswerCase]
    public var skills: [String]
    /// How a language model works a `tool_calls` intent (the rules brain is always single-shot):
    /// `single_shot` plans once and answers from the pack's templates; `react` gives the
    /// model each round of tool results to call more tools or answer (at most
    /// `maxIterations` rounds); `plan_execute_reflect` has it check the results against the
    /// request and re-plan when they fall short (at most `maxIterations` retries).
    public var strategy: Strategy = .singleShot
    public var maxIterations: Int = 3
    /// Tools a plan for this intent may call: its steps' tools and the pack's `tools:` list.
    public var allowedTools: Set<String> = []

    public enum Strategy: String, Sendable, Codable {
        case singleShot = "single_shot"
        case react
        case planExecuteReflect = "plan_execute_reflect"
    }
}

public struct SlotSpec: Sendable {
    public var name: String
    /// First capture group (or whole match) is the value.
    public var pattern: TextPattern
    public var uppercase: Bool
    public var question: String
    /// Applied in order to the captured value after `uppercase`, so that every way of writing
    /// a value (`+44 7700 900123`, `07700900123`) reaches tools and templates in one form.
    public var normalize: [SlotRewrite] = []
    /// A profile fact (a phone number, not an order number): kept in the customer's memory
    /// across conversations — only for customers who consented, and only until it expires.
    public var remember: Bool = false
    /// `number`: the value reaches tool arguments and templates as a JSON number (an amount),
    /// so schemas and rules compare it as one.
    public var type: ValueType = .string
    /// The slot holds personal data of this kind that the pack seals (`privacy.unseal`): in a
    /// customer's redacted words its value is a reference, taken as it is (the executor
    /// normalizes the unsealed value with `normalize`).
    public var pii: PIIKind? = nil

    public enum ValueType: String, Sendable { case string, number }

    /// The value as it goes into arguments and templates.
    public func json(_ value: String) -> JSONValue {
        if type == .number, let number = Double(value), number.isFinite { return .number(number) }
        return .string(value)
    }

    /// The slot's value in `text`: captured, then `normalized`; nil when the pattern does not
    /// match or the rewrites leave nothing.
    /// Whether `text` gives this slot a value (its pattern matches, or it holds a reference
    /// of the slot's sealed kind).
    public func matches(_ text: String) -> Bool {
        if let pii, SealedReference.all(in: text).contains(where: { $0.kind == pii }) { return true }
        return pattern.matches(text)
    }

    public func value(in text: String) -> String? {
        if let pii, let reference = SealedReference.all(in: text).first(where: { $0.kind == pii }) { return reference.placeholder }
        return pattern.firstCapture(in: text).flatMap(normalized)
    }

    /// A raw value (captured from text, or proposed by a model) in the slot's canonical form:
    /// uppercased if asked, then rewritten; nil when nothing is left.
    public func normalized(_ raw: String) -> String? {
        // A reference is normalized by the executor, once unsealed.
        if pii != nil, SealedReference.all(in: raw).first?.placeholder == raw { return raw }
        var value = uppercase ? raw.uppercased() : raw
        for rewrite in normalize { value = rewrite.pattern.replacingMatches(in: value, with: rewrite.replacement) }
        return value.isEmpty ? nil : value
    }
}

/// One regular-expression substitution of a slot value (every match is replaced; matched
/// case-insensitively, like every pattern in a pack).
public struct SlotRewrite: Sendable {
    public var pattern: TextPattern
    /// An NSRegularExpression template: `$1` is the first capture group, `\$` a literal dollar.
    public var replacement: String
}

/// Which tools get a sealed kind's raw values, and a value of that kind that satisfies their
/// argument schemas (the verifier checks a reference's step with it in the reference's place;
/// the executor checks the unsealed value itself).
public struct UnsealRule: Sendable, Equatable {
    public var tools: Set<String>
    public var example: String

    public init(tools: Set<String>, example: String) {
        self.tools = tools
        self.example = example
    }
}

public struct StepTemplate: Sendable {
    public var tool: String
    /// String values may be `{{slot}}`; they are replaced by slot values.
    public var args: JSONValue
    public var why: String
}

public struct AnswerCase: Sendable {
    /// Top-level result fields that must equal these values; empty matches anything.
    public var when: [String: JSONValue]
    public var template: ReplyTemplate
}

public struct ReplyTexts: Sendable {
    public var unknownIntent: ReplyTemplate
    public var clarificationLimit: ReplyTemplate
    public var stepRejected: ReplyTemplate
    public var toolFailed: ReplyTemplate
    public var replyBlocked: ReplyTemplate
    /// While a write waits for a human's approval.
    public var approvalPending: ReplyTemplate
    /// A human denied the write; `{{reason}}` is theirs.
    public var approvalDenied: ReplyTemplate
    /// Nobody approved in time; a human takes the conversation.
    public var approvalTimeout: ReplyTemplate
    /// The turn spent its budget (tool calls, time) or looped; a human takes over.
    public var budgetExhausted: ReplyTemplate
    /// A tool's circuit breaker is open: the system behind it is down for now.
    public var toolUnavailable: ReplyTemplate
    /// The system refused the request as given (a 4xx, a tool's own error): the customer can fix it.
    public var toolRejected: ReplyTemplate
    /// The planner hands over on its own (low confidence, repeated errors, a policy rule).
    public var handover: ReplyTemplate

    /// Every text above, whatever is added later (read by reflection, so no list goes stale).
    public var all: [ReplyTemplate] { Mirror(reflecting: self).children.compactMap { $0.value as? ReplyTemplate } }
}

public struct PackPolicy: Sendable {
    /// Questions about one slot before the conversation goes to a human.
    public var maxClarificationsPerSlot: Int
    public var maxReplyCharacters: Int
    public var approvals = ApprovalPolicy()
    public var budget = TurnBudget()
    public var handover = HandoverPolicy()
}

/// A compiled regular expression. NSRegularExpression is immutable and documented thread-safe,
/// which is why sharing it across tasks is sound.
public struct TextPattern: @unchecked Sendable {
    public let source: String
    let regex: NSRegularExpression

    public init(_ source: String) throws {
        self.source = source
        regex = try NSRegularExpression(pattern: source, options: [.caseInsensitive])
    }

    public func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// Every match replaced by `template` (`$1` refers to the first capture group).
    public func replacingMatches(in text: String, with template: String) -> String {
        regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
    }

    /// The first capture group of the first match (the whole match if the pattern has no group).
    public func firstCapture(in text: String) -> String? {
        guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return nil }
        let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
        return Range(range, in: text).map { String(text[$0]) }
    }
}

/// A Mustache reply template rendered as plain text (no HTML escaping).
public struct ReplyTemplate: @unchecked Sendable {
    // MustacheTemplate is an immutable parsed tree after init; rendering does not mutate it.
    let template: MustacheTemplate
    public let source: String

    public init(_ source: String) throws {
        self.source = source
        template = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + source)
    }

    public func render(_ values: [String: JSONValue]) -> String {
        template.render(values.compactMapValues(\.mustacheContext))
    }
}

extension JSONValue {
    /// nil for JSON null, so the key is left out: Mustache treats a missing key as false and
    /// empty, whereas an Optional boxed in `Any` counts as present and renders as "nil".
    var mustacheContext: Any? {
        switch self {
        case .null: return nil
        case .bool(let value): return value
        case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? Int(value) as Any : value as Any
        case .string(let value): return value
        case .array(let values): return values.map { $0.mustacheContext ?? "" }
        case .object(let object): return object.compactMapValues(\.mustacheContext)
        }
    }
}

public struct DomainPackError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "domain pack: \(path): \(message)" }
}

/// Our validator's schema type, named for files that also see OpenAPIKit's `JSONSchema`.
typealias ContractSchema = JSONSchema
