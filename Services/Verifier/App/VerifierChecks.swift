public import DomainPack
public import Events
import Foundation
import ReadModels
import RuleExpressions
import Foundation
public import JSON
import JSONSchema

/// The verifier's decisions as pure functions of the pack and the event, so they are tested
/// without a broker and replayed identically.
public struct VerifierChecks: Sendable {
    public let pack: DomainPack
    /// Facts the pack's own texts state (templates, questions, rule messages): a reply may
    /// repeat them ("like ABC123", "between £5 and £100").
    public let packTokens: Set<String>

    public init(pack: DomainPack) {
        self.pack = pack
        packTokens = pack.ownTexts.reduce(into: Set<String>()) { tokens, text in
            // Mustache tags are placeholders, not facts.
            let literal = text.replacingOccurrences(of: #"\{\{[^}]*\}\}"#, with: " ", options: .regularExpression)
            tokens.formUnion(GroundingTokens.extract(literal))
        }
    }

    /// The facts a reply states that the pack's texts do not (to look up in the conversation).
    public func factsToGround(in text: String) -> Set<String> {
        GroundingTokens.extract(text).subtracting(packTokens)
    }

    /// The facts a write's arguments state that the pack's texts do not (each must come from
    /// the customer or a tool result).
    public func factsToGroundInArguments(_ args: JSONValue) -> Set<String> {
        GroundingTokens.extractArguments(args).subtracting(packTokens)
    }

    /// What the verifier knows when it checks a step, beyond the step itself.
    public struct StepContext: Sendable {
        public var tenant: String
        public var intent: String
        /// The deciding brain's confidence (nil: not given, which counts as 0).
        public var confidence: Double?
        public var facts: [String: String]
        /// The latest verified result of each tool in this conversation (tools some rule reads).
        public var results: [String: JSONValue]
        /// Tools of earlier steps of the same plan whose results are not in yet.
        public var pendingTools: Set<String>

        public init(tenant: String, intent: String, confidence: Double? = nil, facts: [String: String] = [:], results: [String: JSONValue] = [:], pendingTools: Set<String> = []) {
            self.tenant = tenant
            self.intent = intent
            self.confidence = confidence
            self.facts = facts
            self.results = results
            self.pendingTools = pendingTools
        }

        /// The values rules read.
        func roots(args: JSONValue, tenantSettings: [String: JSONValue]) -> [String: JSONValue] {
            [
                "args": args, "results": .object(results), "facts": .object(facts.mapValues(JSONValue.string)),
                "tenant": .object(tenantSettings), "intent": .string(intent), "confidence": .number(confidence ?? 0),
            ]
        }
    }

    public enum StepOutcome: Sendable, Equatable {
        /// Runs now.
        case approved(RiskTier)
        case rejected(StepRejection, issues: [ValidationIssue], message: String?)
        /// Runs only if a human approves (after a dry run shows what it would change).
        case needsApproval(RiskTier, reason: String)
        /// A rule reads the result of these earlier steps of the plan: checked when they are in.
        case waiting(for: Set<String>)
    }

    /// The tools whose results some rule reads: only these results are kept.
    public var toolsRulesRead: Set<String> {
        var tools = Set<String>()
        for contract in pack.tools.values {
            let expressions = (contract.rules + contract.resultRules).map(\.check) + (contract.escalateWhen.map { [$0] } ?? [])
            for path in expressions.flatMap(\.paths) where path.count >= 2 && path[0] == "results" { tools.insert(path[1]) }
        }
        return tools
    }

    /// The checks of DESIGN.md §4 step 3, in order: the tool exists, the tenant and the intent
    /// may use it, the arguments validate, the business rules hold; then the approval ladder
    /// (tier 0 runs; tier 1 runs at or above the pack's confidence threshold; tier 2, or a step
    /// the pack escalates, waits for a human).
    public func check(step: PlanStep, context: StepContext) -> StepOutcome {
        guard let tool = pack.tools[step.tool] else {
            return .rejected(.unknownTool, issues: [ValidationIssue(path: "/tool", message: "no tool named '\(step.tool)' in pack \(pack.name)")], message: nil)
        }
        guard let tenant = pack.tenant(context.tenant) else {
            return .rejected(.toolNotAllowed, issues: [ValidationIssue(path: "/tool", message: "tenant '\(context.tenant)' is not configured in pack \(pack.name)")], message: nil)
        }
        if let allowed = tenant.tools, !allowed.contains(step.tool) {
            return .rejected(.toolNotAllowed, issues: [ValidationIssue(path: "/tool", message: "tenant '\(context.tenant)' may not use '\(step.tool)'")], message: nil)
        }
        if let intent = pack.intent(named: context.intent), !intent.allowedTools.contains(step.tool) {
            return .rejected(.toolNotAllowed, issues: [ValidationIssue(path: "/tool", message: "intent '\(context.intent)' may not use '\(step.tool)' (allowed: \(intent.allowedTools.sorted().joined(separator: ", ")))")], message: nil)
        }
        // A sealed value's reference stands in an argument the executor unseals for this tool:
        // its shape is checked with the pack's example in its place (the executor checks the
        // unsealed value itself). A reference of a kind not unsealed for the tool stays as it is.
        let result = tool.inputSchema.validate(pack.argumentsForSchemaCheck(step.args, tool: step.tool))
        guard result.isValid else {
            return .rejected(.invalidArgs, issues: result.errors.map { ValidationIssue(path: "/args" + $0.instanceLocation, message: $0.message) }, message: nil)
        }
        let waitingFor = Set((tool.rules.map(\.check) + (tool.escalateWhen.map { [$0] } ?? [])).flatMap(\.paths).compactMap { path in
            path.count >= 2 && path[0] == "results" && context.pendingTools.contains(path[1]) ? path[1] : nil
        })
        if !waitingFor.isEmpty { return .waiting(for: waitingFor) }
        let roots = context.roots(args: step.args, tenantSettings: tenant.settings)
        if let failure = Self.firstFailing(tool.rules, roots: roots, path: "/rules") { return failure }

        var tier = tool.riskTier
        var reason = "\(step.tool) is a tier \(tier.rawValue) tool"
        if let escalate = tool.escalateWhen {
            do {
                if try escalate.holds(roots) { (tier, reason) = (.highRiskWrite, "\(escalate.source)") }
            } catch {
                (tier, reason) = (.highRiskWrite, "\(escalate.source) could not be evaluated (\(error)), so a human decides")
            }
        }
        switch tier {
        case .read:
            return .approved(.read)
        case .lowRiskWrite:
            let confidence = context.confidence ?? 0
            guard confidence >= pack.policy.approvals.confidenceThreshold else {
                return .needsApproval(.lowRiskWrite, reason: "confidence \(Self.format(confidence)) is below the threshold \(Self.format(pack.policy.approvals.confidenceThreshold))")
            }
            return .approved(.lowRiskWrite)
        case .highRiskWrite:
            return .needsApproval(.highRiskWrite, reason: tool.riskTier == .highRiskWrite ? "\(step.tool) always needs a human (tier 2)" : reason)
        }
    }

    /// A step as the loop check compares it: the tool and its arguments (keys sorted).
    public static func signature(_ step: PlanStep) -> String { step.tool + " " + step.args.serializedString() }

    /// The turn's budget over a plan's steps, given the signatures of the steps of its earlier
    /// rounds: past the deadline nothing more runs; a step repeating an earlier one (same tool,
    /// same arguments) is a loop; steps beyond the pack's tool-call budget are refused. Returns
    /// the refused steps with the reason.
    public func budget(_ steps: [PlanStep], earlier: [String], nowMillis: Int64, deadlineMillis: Int64?) -> [UUID: (StepRejection, String)] {
        var refused: [UUID: (StepRejection, String)] = [:]
        let limit = pack.policy.budget.toolCalls
        if let deadlineMillis, nowMillis > deadlineMillis {
            for step in steps { refused[step.stepID] = (.budgetExceeded, "the turn's wall time (\(pack.policy.budget.wallTimeMs) ms) is spent") }
            return refused
        }
        var seen = Set(earlier)
        var count = earlier.count
        for step in steps {
            let signature = Self.signature(step)
            if !seen.insert(signature).inserted {
                refused[step.stepID] = (.loopDetected, "\(step.tool) with the same arguments again in this turn")
                continue
            }
            count += 1
            if count > limit { refused[step.stepID] = (.budgetExceeded, "more than \(limit) tool calls in one turn") }
        }
        return refused
    }

    /// The first rule that does not hold (or cannot be shown to), as a rejection.
    static func firstFailing(_ rules: [ToolRule], roots: [String: JSONValue], path: String) -> StepOutcome? {
        for (index, rule) in rules.enumerated() {
            do {
                if try !rule.check.holds(roots) {
                    return .rejected(.ruleFailed, issues: [ValidationIssue(path: "\(path)/\(index)", message: "\(rule.code): \(rule.check.source) is false")], message: rule.message)
                }
            } catch {
                return .rejected(.ruleUnknown, issues: [ValidationIssue(path: "\(path)/\(index)", message: "\(rule.code): \(error)")], message: rule.message)
            }
        }
        return nil
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }

    /// A tool result must match the tool's output schema, and its result rules must hold,
    /// before the planner may rely on it.
    public func check(result: JSONValue, tool name: String, context: StepContext? = nil) -> [ValidationIssue] {
        guard let tool = pack.tools[name] else {
            return [ValidationIssue(path: "", message: "no tool named '\(name)' in pack \(pack.name)")]
        }
        let schemaIssues = tool.outputSchema.validate(result).errors.map { ValidationIssue(path: $0.instanceLocation, message: $0.message) }
        guard schemaIssues.isEmpty, !tool.resultRules.isEmpty else { return schemaIssues }
        let context = context ?? StepContext(tenant: "", intent: "")
        let roots: [String: JSONValue] = ["result": result, "results": .object(context.results), "tenant": .object(pack.tenant(context.tenant)?.settings ?? [:])]
        if case .rejected(_, let issues, _) = Self.firstFailing(tool.resultRules, roots: roots, path: "/result_rules") { return issues }
        return []
    }

    /// Checks a drafted reply before a customer sees it; nil means approved, else a reason code.
    public func check(reply: ReplyDrafted) -> String? {
        let text = reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return "empty" }
        if text.count > pack.policy.maxReplyCharacters { return "too_long" }
        if Self.containsCardNumber(text) { return "pii" }
        if reply.kind == .answer, !reply.grounding.isEmpty, text.contains("{{") { return "unrendered_template" }
        return nil
    }

    /// Digits grouped like a payment card number (13–19 digits, optionally split by single
    /// spaces or dashes) that pass the Luhn check. Candidates start and end at group
    /// boundaries, so a long reference number does not match by a lucky window inside it.
    static func containsCardNumber(_ text: String) -> Bool {
        var groups: [[Int]] = []
        var current: [Int] = []
        func endRun() -> Bool {
            if !current.isEmpty { groups.append(current) }
            defer { groups.removeAll(); current.removeAll() }
            for start in groups.indices {
                var digits: [Int] = []
                for end in start..<groups.count {
                    digits += groups[end]
                    if digits.count > 19 { break }
                    if digits.count >= 13, luhn(digits[...]) { return true }
                }
            }
            return false
        }
        var previousWasSeparator = false
        for scalar in text.unicodeScalars {
            if scalar.isASCII, let digit = Int(String(scalar)) {
                current.append(digit)
                previousWasSeparator = false
            } else if (scalar == " " || scalar == "-"), !current.isEmpty, !previousWasSeparator {
                groups.append(current)
                current = []
                previousWasSeparator = true
            } else {
                if endRun() { return true }
                previousWasSeparator = false
            }
        }
        return endRun()
    }

    static func luhn(_ digits: ArraySlice<Int>) -> Bool {
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            if index % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }
}
