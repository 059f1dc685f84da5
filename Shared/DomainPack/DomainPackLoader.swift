public import Privacy
import Events
public import Foundation
public import JSON
public import MCPBinding
import RuleExpressions
import JSONSchema
import Yams

extension DomainPack {
    /// The PII kinds the pack at `path` keeps in clear (`privacy.allow`), read without loading
    /// the rest: the gateway needs only this, and must not start a pack's MCP servers to get it.
    /// The full load (every other service) also checks the tools each kind names.
    public static func clearPIIKinds(path: String) throws -> Set<PIIKind> { try privacyKinds(path: path).clear }

    /// The PII kinds the pack at `path` keeps in clear (`privacy.allow`) and those it lets the
    /// executor unseal for tools (`privacy.unseal`: references on the log), read without loading
    /// the rest: the gateway needs only these, and must not start a pack's MCP servers to get
    /// them. The full load (every other service) also checks the tools each kind names.
    public static func privacyKinds(path: String) throws -> (clear: Set<PIIKind>, referenced: Set<PIIKind>) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DomainPackError(path: path, message: "cannot read file") }
        let document: Any?
        do { document = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) } catch { throw DomainPackError(path: "$", message: "invalid YAML: \(error)") }
        let privacy = (document as? [String: Any])?["privacy"] as? [String: Any] ?? [:]
        func kinds(_ key: String) throws -> Set<PIIKind> {
            Set(try (privacy[key] as? [String: Any] ?? [:]).keys.map { name in
                guard let kind = PIIKind(rawValue: name) else { throw DomainPackError(path: "$.privacy.\(key)." + name, message: "unknown PII kind") }
                return kind
            })
        }
        return (try kinds("allow"), try kinds("unseal"))
    }

    public static func load(path: String, discoverMCP: (MCPServerSpec) throws -> [MCPToolDescription] = { try MCPDiscovery.tools($0) }) throws -> DomainPack {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DomainPackError(path: path, message: "cannot read file")
        }
        return try parse(yaml: String(decoding: data, as: UTF8.self), directory: (path as NSString).deletingLastPathComponent, discoverMCP: discoverMCP)
    }

    /// `directory` is where files the pack names (OpenAPI documents, MCP server scripts) are
    /// looked up; `discoverMCP` lists an MCP server's tools (by default it starts the server).
    public static func parse(
        yaml: String, directory: String = ".", discoverMCP: (MCPServerSpec) throws -> [MCPToolDescription] = { try MCPDiscovery.tools($0) }
    ) throws -> DomainPack {
        let document: Any?
        do {
            document = try Yams.load(yaml: yaml)
        } catch {
            throw DomainPackError(path: "$", message: "invalid YAML: \(error)")
        }
        let root = try Node(value: try JSONValue(yaml: document, path: "$"), path: "$")

        var tools: [String: ToolContract] = [:]
        for (name, tool) in try root.object("tools") {
            let schemaIn = try tool.required("input_schema").value
            let schemaOut = try tool.required("output_schema").value
            let binding = try tool.string("binding")
            guard ["native", "http"].contains(binding) else {
                throw DomainPackError(path: tool.path + ".binding", message: "unknown binding '\(binding)' (native or http; MCP tools come from the mcp section)")
            }
            let riskTier = try tool.riskTier()
            // `format` asserted only where the contract asks (annotation otherwise, as the spec says).
            let formatAssertion = try tool.bool("format_assertion", default: false)
            var contract = ToolContract(
                name: name,
                description: try tool.string("description"),
                riskTier: riskTier,
                timeoutMs: try tool.int("timeout_ms", default: 2000, range: 1...120_000),
                binding: binding,
                inputSchema: try tool.schema(schemaIn, at: "input_schema", formatAssertion: formatAssertion),
                outputSchema: try tool.schema(schemaOut, at: "output_schema", formatAssertion: formatAssertion),
                inputSchemaJSON: schemaIn
            )
            contract.outputSchemaJSON = schemaOut
            contract.operations = try tool.toolOperations(binding: binding, readOnly: riskTier == .read)
            contract.formatAssertion = formatAssertion
            tools[name] = contract
        }

        for source in try root.array("openapi", optional: true) {
            for tool in try source.openAPITools(directory: directory) {
                guard tools[tool.name] == nil else {
                    throw DomainPackError(path: source.path, message: "operation '\(tool.name)' has the name of another tool")
                }
                tools[tool.name] = tool
            }
        }

        // Tools an MCP server lists; the pack may set each one's tier, rules and timeout.
        var ruleNodes: [(String, Node)] = try root.object("tools")
        for source in try root.array("mcp", optional: true) {
            let spec = try source.mcpServer(directory: directory)
            let listed: [MCPToolDescription]
            do {
                listed = try discoverMCP(spec)
            } catch {
                throw DomainPackError(path: source.path, message: "cannot list the tools of MCP server '\(spec.name)': \(error)")
            }
            let overrides = source.optional("tools") != nil ? try source.object("tools") : []
            for (name, node) in overrides where !listed.contains(where: { $0.name == name }) {
                throw DomainPackError(path: node.path, message: "MCP server '\(spec.name)' lists no tool '\(name)' (it lists: \(listed.map(\.name).sorted().joined(separator: ", ")))")
            }
            for tool in listed {
                guard tools[tool.name] == nil else {
                    throw DomainPackError(path: source.path, message: "MCP tool '\(tool.name)' has the name of another tool")
                }
                let override = overrides.first { $0.0 == tool.name }?.1
                let riskTier = try override?.optional("risk_tier") != nil ? override!.riskTier() : (tool.readOnly ? .read : .highRiskWrite)
                let output = tool.outputSchema ?? [:]
                var contract = ToolContract(
                    name: tool.name, description: tool.description, riskTier: riskTier,
                    timeoutMs: try override?.int("timeout_ms", default: Int(spec.timeout.components.seconds * 1000), range: 1...120_000) ?? Int(spec.timeout.components.seconds * 1000),
                    binding: "mcp",
                    inputSchema: try source.schema(tool.inputSchema, at: "tools.\(tool.name).inputSchema"),
                    outputSchema: try source.schema(output, at: "tools.\(tool.name).outputSchema"),
                    inputSchemaJSON: tool.inputSchema)
                contract.outputSchemaJSON = output
                contract.mcpServer = spec
                if let override { contract.operations = try override.toolOperations(binding: "mcp", readOnly: riskTier == .read) }
                tools[tool.name] = contract
                if let override { ruleNodes.append((tool.name, override)) }
            }
        }

        var intents: [IntentSpec] = []
        for intent in try root.array("intents") {
            let name = try intent.string("name")
            let action = try intent.enumeration("action", IntentSpec.Action.self)
            var steps: [StepTemplate] = []
            for step in try intent.array("steps", optional: true) {
                let tool = try step.string("tool")
                guard tools[tool] != nil else { throw DomainPackError(path: step.path + ".tool", message: "unknown tool '\(tool)'") }
                steps.append(StepTemplate(tool: tool, args: try step.required("args").value, why: try step.string("why")))
            }
            var answers: [AnswerCase] = []
            for answer in try intent.array("answers", optional: true) {
                var when: [String: JSONValue] = [:]
                if let condition = answer.optional("when") {
                    guard case .object(let object) = condition.value else {
                        throw DomainPackError(path: condition.path, message: "must be a mapping")
                    }
                    when = object
                }
                answers.append(AnswerCase(when: when, template: try answer.template("text")))
            }
            var allowedTools = Set(steps.map(\.tool))
            if intent.optional("tools") != nil {
                let listed = try intent.array("tools")
                for node in listed where tools[try node.stringValue()] == nil {
                    throw DomainPackError(path: node.path, message: "unknown tool '\(try node.stringValue())'")
                }
                allowedTools.formUnion(try listed.map { try $0.stringValue() })
            }
            if action == .toolCalls, steps.isEmpty || answers.isEmpty {
                throw DomainPackError(path: intent.path, message: "tool_calls intents need steps and answers")
            }
            if action != .toolCalls, intent.optional("reply") == nil {
                throw DomainPackError(path: intent.path, message: "\(action.rawValue) intents need a reply")
            }
            intents.append(IntentSpec(
                name: name,
                patterns: try intent.array("patterns").map { try $0.pattern() },
                slots: try intent.array("slots", optional: true).map { slot in
                    SlotSpec(name: try slot.string("name"), pattern: try slot.child("pattern").pattern(),
                             uppercase: try slot.bool("uppercase", default: false), question: try slot.string("question"),
                             normalize: try slot.array("normalize", optional: true).map { rewrite in
                                 SlotRewrite(pattern: try rewrite.child("pattern").pattern(), replacement: try rewrite.text("replace", default: ""))
                             },
                             remember: try slot.bool("remember", default: false),
                             type: slot.optional("type") != nil ? try slot.enumeration("type", SlotSpec.ValueType.self) : .string,
                             pii: slot.optional("pii") != nil ? try slot.enumeration("pii", PIIKind.self) : nil)
                },
                action: action,
                steps: steps,
                reply: intent.optional("reply") != nil ? try intent.template("reply") : nil,
                answers: answers,
                skills: try intent.array("skills", optional: true).map { try $0.stringValue() },
                strategy: intent.optional("strategy") != nil ? try intent.enumeration("strategy", IntentSpec.Strategy.self) : .singleShot,
                maxIterations: try intent.int("max_iterations", default: 3, range: 1...10),
                allowedTools: allowedTools
            ))
        }

        var tenants: [String: TenantSpec] = [:]
        if root.optional("tenants") != nil {
            for (id, tenant) in try root.object("tenants") {
                var spec = TenantSpec()
                if let settings = tenant.optional("settings") {
                    guard case .object(let values) = settings.value else { throw DomainPackError(path: settings.path, message: "must be a mapping") }
                    spec.settings = values
                }
                if let list = tenant.optional("tools") {
                    if list.value == .string("all") {
                        spec.tools = nil
                    } else {
                        let names = try tenant.array("tools").map { try $0.stringValue() }
                        for (index, name) in names.enumerated() where tools[name] == nil {
                            throw DomainPackError(path: "\(list.path)[\(index)]", message: "unknown tool '\(name)'")
                        }
                        spec.tools = Set(names)
                    }
                }
                tenants[id] = spec
            }
        }

        // Rules are compiled last: their paths name tools, tenant settings and slots.
        let slotNames = Set(intents.flatMap { $0.slots.map(\.name) })
        let checker = RulePathChecker(
            tools: tools, tenantSettings: tenants.isEmpty ? nil : Set(tenants.values.flatMap(\.settings.keys)),
            slots: slotNames.isEmpty ? nil : slotNames)
        for (name, tool) in ruleNodes {
            guard var contract = tools[name] else { continue }
            contract.rules = try tool.toolRules("rules", roots: Self.stepRuleRoots) { try checker.check($0, of: contract, at: $1) }
            contract.resultRules = try tool.toolRules("result_rules", roots: Self.resultRuleRoots) { try checker.check($0, of: contract, at: $1) }
            if tool.optional("escalate_when") != nil {
                guard contract.riskTier.isWrite else {
                    throw DomainPackError(path: tool.path + ".escalate_when", message: "only write tools (risk_tier 1 or 2) are escalated")
                }
                let expression = try tool.ruleExpression("escalate_when", roots: Self.stepRuleRoots)
                try checker.check(expression, of: contract, at: tool.required("escalate_when"))
                contract.escalateWhen = expression
            }
            tools[name] = contract
        }

        let replies = try root.child("replies")
        let policy = try root.child("policy")
        var packPolicy = PackPolicy(
            maxClarificationsPerSlot: try policy.int("max_clarifications_per_slot", default: 2, range: 1...10),
            maxReplyCharacters: try policy.int("max_reply_characters", default: 2000, range: 100...100_000)
        )
        if let approvals = policy.optional("approvals") {
            packPolicy.approvals.confidenceThreshold = try approvals.fraction("confidence_threshold", default: 0.8)
            packPolicy.approvals.timeoutSeconds = try approvals.int("timeout_seconds", default: 900, range: 1...604_800)
        }
        if let budget = policy.optional("budget") {
            packPolicy.budget.tokens = try budget.int("tokens", default: 3000, range: 1...1_000_000)
            packPolicy.budget.toolCalls = try budget.int("tool_calls", default: 3, range: 1...100)
            packPolicy.budget.wallTimeMs = try budget.int("wall_time_ms", default: 8000, range: 100...600_000)
        }
        if let handover = policy.optional("handover") {
            packPolicy.handover.minConfidence = try handover.fraction("min_confidence", default: 0.4)
            packPolicy.handover.consecutiveErrors = try handover.int("consecutive_errors", default: 3, range: 1...20)
            let slots = Set(intents.flatMap { $0.slots.map(\.name) })
            let settings = tenants.isEmpty ? nil : Set(tenants.values.flatMap { $0.settings.keys })
            packPolicy.handover.rules = try handover.array("when", optional: true).map { node in
                let expression = try node.ruleExpression("check", roots: DomainPack.handoverRuleRoots)
                for path in expression.paths where path.count >= 2 {
                    if path[0] == "facts", !slots.contains(path[1]) {
                        throw DomainPackError(path: node.path + ".check", message: "facts.\(path[1]) is not a slot of any intent")
                    }
                    if path[0] == "tenant", let settings, !settings.contains(path[1]) {
                        throw DomainPackError(path: node.path + ".check", message: "tenant.\(path[1]) is not a tenant setting")
                    }
                }
                return HandoverRule(when: expression, code: try node.string("code"), note: try node.string("note"))
            }
        }
        var pack = DomainPack(
            name: try root.string("name"),
            version: try root.int("version", default: 1, range: 1...10_000),
            tools: tools,
            intents: intents,
            replies: ReplyTexts(
                unknownIntent: try replies.template("unknown_intent"),
                clarificationLimit: try replies.template("clarification_limit"),
                stepRejected: try replies.template("step_rejected"),
                toolFailed: try replies.template("tool_failed"),
                replyBlocked: try replies.template("reply_blocked"),
                approvalPending: try replies.template("approval_pending", default: "I've asked a colleague to approve this. I'll let you know here as soon as they have."),
                approvalDenied: try replies.template("approval_denied", default: "A colleague reviewed your request and couldn't approve it: {{reason}}"),
                approvalTimeout: try replies.template("approval_timeout", default: "The approval is taking longer than it should, so I'm passing you to a member of our team, who will follow up."),
                budgetExhausted: try replies.template("budget_exhausted", default: "This is taking longer than it should, so I'm passing you to a member of our team, who will follow up."),
                toolUnavailable: try replies.template("tool_unavailable", default: "I can't reach the system I need for that right now, so I can't check it yet. Please try again in a few minutes."),
                toolRejected: try replies.template("tool_rejected", default: "I couldn't do that with the details given. Could you check them and try again?"),
                handover: try replies.template("handover", default: "I'm passing you to a member of our team, who will pick this up shortly.")
            ),
            policy: packPolicy,
            tenants: tenants
        )
        pack.rollout = try RolloutModes.parse(yaml: yaml)
        pack.examples = try root.array("examples", optional: true).map { try $0.stringValue() }
        if let privacy = root.optional("privacy"), let allow = privacy.optional("allow") {
            for (name, list) in try privacy.object("allow") {
                guard let kind = PIIKind(rawValue: name) else {
                    throw DomainPackError(path: allow.path + "." + name, message: "unknown PII kind (\(PIIKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                let toolNames = try allow.array(name).map { try $0.stringValue() }
                guard !toolNames.isEmpty else { throw DomainPackError(path: list.path, message: "name the tools that need \(name) in clear") }
                for tool in toolNames where tools[tool] == nil {
                    throw DomainPackError(path: list.path, message: "unknown tool '\(tool)'")
                }
                pack.privacyAllowances[kind] = toolNames
            }
        }
        if let privacy = root.optional("privacy"), let unseal = privacy.optional("unseal") {
            for (name, rule) in try privacy.object("unseal") {
                guard let kind = PIIKind(rawValue: name) else {
                    throw DomainPackError(path: unseal.path + "." + name, message: "unknown PII kind (\(PIIKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard pack.privacyAllowances[kind] == nil else {
                    throw DomainPackError(path: rule.path, message: "\(name) is both kept in clear (allow) and sealed for tools (unseal): choose one")
                }
                let toolNames = try rule.array("tools").map { try $0.stringValue() }
                guard !toolNames.isEmpty else { throw DomainPackError(path: rule.path, message: "name the tools that get \(name) unsealed") }
                for tool in toolNames where tools[tool] == nil {
                    throw DomainPackError(path: rule.path + ".tools", message: "unknown tool '\(tool)'")
                }
                let example = try rule.string("example")
                guard PIIDetector.shared.findings(in: example).map(\.kind) == [kind] else {
                    throw DomainPackError(path: rule.path + ".example", message: "'\(example)' does not read as one \(name) value")
                }
                pack.unsealing[kind] = UnsealRule(tools: Set(toolNames), example: example)
            }
        }
        for intent in pack.intents {
            for slot in intent.slots {
                if let kind = slot.pii, pack.unsealing[kind] == nil {
                    throw DomainPackError(path: "$.intents.\(intent.name).slots.\(slot.name).pii", message: "the pack does not seal \(kind.rawValue) for tools (privacy.unseal)")
                }
            }
        }
        return pack
    }
}

extension Node {
    /// An `mcp` entry: `server` (a name), `timeout_ms`, and either `command` (a list; an
    /// argument naming a file next to the pack is made absolute) with `environment`, for a
    /// server spoken to over its stdio, or `url` with `headers` and `auth` (`{header, scheme,
    /// secret_env}`), for a server spoken to over streamable HTTP.
    func mcpServer(directory: String) throws -> MCPServerSpec {
        let name = try string("server")
        let timeout = Duration.milliseconds(try int("timeout_ms", default: 5000, range: 1...120_000))
        switch (optional("command"), optional("url")) {
        case (nil, nil): throw DomainPackError(path: path, message: "needs a command (a stdio server) or a url (a streamable HTTP server)")
        case (.some, .some): throw DomainPackError(path: path, message: "has both a command and a url; a server is one or the other")
        case (nil, .some):
            let url = try string("url")
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw DomainPackError(path: path + ".url", message: "must be an http:// or https:// URL")
            }
            return MCPServerSpec(name: name, url: url, headers: try stringMap("headers"), auth: try auth(), timeout: timeout)
        case (.some, nil):
            let command = try array("command").map { try $0.stringValue() }
            guard !command.isEmpty else { throw DomainPackError(path: path + ".command", message: "must name a program") }
            let resolved = command.map { argument -> String in
                let candidate = (directory as NSString).appendingPathComponent(argument)
                return !argument.hasPrefix("/") && argument.contains(".") && FileManager.default.fileExists(atPath: candidate) ? candidate : argument
            }
            return MCPServerSpec(name: name, command: resolved, environment: try stringMap("environment"), timeout: timeout)
        }
    }

    /// A mapping of strings under `key` (empty when absent).
    func stringMap(_ key: String) throws -> [String: String] {
        guard optional(key) != nil else { return [:] }
        var map: [String: String] = [:]
        for (name, value) in try object(key) { map[name] = try value.stringValue() }
        return map
    }
}

/// A position in the pack document, for errors that say where.
struct Node {
    let value: JSONValue
    let path: String

    init(value: JSONValue, path: String) throws {
        self.value = value
        self.path = path
    }

    func optional(_ key: String) -> Node? {
        guard case .object(let object) = value, let child = object[key], child != .null else { return nil }
        return try? Node(value: child, path: path + "." + key)
    }
    func required(_ key: String) throws -> Node {
        guard let node = optional(key) else { throw DomainPackError(path: path + "." + key, message: "required") }
        return node
    }
    func child(_ key: String) throws -> Node { try required(key) }

    func stringValue() throws -> String {
        guard case .string(let text) = value, !text.isEmpty else { throw DomainPackError(path: path, message: "must be a non-empty string") }
        return text
    }
    func string(_ key: String) throws -> String { try required(key).stringValue() }
    /// A string that may be empty (a replacement that deletes what it matched).
    func text(_ key: String, default fallback: String) throws -> String {
        guard let node = optional(key) else { return fallback }
        guard case .string(let text) = node.value else { throw DomainPackError(path: node.path, message: "must be a string") }
        return text
    }
    func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let node = optional(key) else { return fallback }
        guard case .number(let number) = node.value, number == number.rounded(), range.contains(Int(number)) else {
            throw DomainPackError(path: node.path, message: "must be an integer in \(range)")
        }
        return Int(number)
    }
    func fraction(_ key: String, default fallback: Double) throws -> Double {
        guard let node = optional(key) else { return fallback }
        guard case .number(let number) = node.value, (0...1).contains(number) else {
            throw DomainPackError(path: node.path, message: "must be a number from 0 to 1")
        }
        return number
    }
    /// `risk_tier`: 0 (reads), 1 (low-risk write), 2 (high-risk write); `read` and `write` are
    /// accepted as 0 and 2.
    func riskTier() throws -> RiskTier {
        let node = try required("risk_tier")
        switch node.value {
        case .number(let number) where RiskTier(rawValue: Int(exactly: number) ?? -1) != nil: return RiskTier(rawValue: Int(number))!
        case .string("read"): return .read
        case .string("write"): return .highRiskWrite
        default: throw DomainPackError(path: node.path, message: "must be 0 (read), 1 (low-risk write) or 2 (high-risk write)")
        }
    }
    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let node = optional(key) else { return fallback }
        guard case .bool(let flag) = node.value else { throw DomainPackError(path: node.path, message: "must be true or false") }
        return flag
    }
    func enumeration<E: RawRepresentable>(_ key: String, _: E.Type) throws -> E where E.RawValue == String {
        let raw = try string(key)
        guard let value = E(rawValue: raw) else { throw DomainPackError(path: path + "." + key, message: "unknown value '\(raw)'") }
        return value
    }
    func object(_ key: String) throws -> [(String, Node)] {
        let node = try required(key)
        guard case .object(let object) = node.value else { throw DomainPackError(path: node.path, message: "must be a mapping") }
        return try object.keys.sorted().map { ($0, try Node(value: object[$0]!, path: node.path + "." + $0)) }
    }
    func array(_ key: String, optional isOptional: Bool = false) throws -> [Node] {
        guard let node = isOptional ? optional(key) : try required(key) else { return [] }
        guard case .array(let items) = node.value else { throw DomainPackError(path: node.path, message: "must be a list") }
        return try items.enumerated().map { try Node(value: $0.element, path: "\(node.path)[\($0.offset)]") }
    }
    func pattern() throws -> TextPattern {
        let source = try stringValue()
        do { return try TextPattern(source) } catch {
            throw DomainPackError(path: path, message: "invalid regular expression: \(error)")
        }
    }
    func template(_ key: String, default fallback: String) throws -> ReplyTemplate {
        guard optional(key) != nil else { return try ReplyTemplate(fallback) }
        return try template(key)
    }
    func template(_ key: String) throws -> ReplyTemplate {
        let node = try required(key)
        do { return try ReplyTemplate(try node.stringValue()) } catch let error as DomainPackError { throw error } catch {
            throw DomainPackError(path: node.path, message: "invalid template: \(error)")
        }
    }
    func schema(_ value: JSONValue, at key: String, formatAssertion: Bool = false) throws -> JSONSchema {
        do { return try JSONSchema(value, options: .init(formatAssertion: formatAssertion)) } catch {
            throw DomainPackError(path: path + "." + key, message: "invalid JSON Schema: \(error)")
        }
    }
}

extension JSONValue {
    /// What Yams loads as JSON, or the pack error naming where it is not.
    init(yaml: Any?, path: String) throws {
        do { self = try JSONValue(loaded: yaml, path: path) } catch { throw DomainPackError(path: error.path, message: error.message) }
    }
}
