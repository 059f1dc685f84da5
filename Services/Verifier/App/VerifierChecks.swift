public import DomainPack
public import Events
import Foundation
public import JSON
import JSONSchema

/// The verifier's decisions as pure functions of the pack and the event, so they are tested
/// without a broker and replayed identically.
public struct VerifierChecks: Sendable {
    public let pack: DomainPack

    public init(pack: DomainPack) { self.pack = pack }

    public enum StepOutcome: Sendable, Equatable {
        case approved(riskTier: String)
        case rejected(reason: String, issues: [ValidationIssue])
    }

    /// Known tool, arguments valid against its input schema, risk tier allowed without a human.
    public func check(step: PlanStep) -> StepOutcome {
        guard let tool = pack.tools[step.tool] else {
            return .rejected(reason: "unknown_tool", issues: [ValidationIssue(path: "/tool", message: "no tool named '\(step.tool)' in pack \(pack.name)")])
        }
        let result = tool.inputSchema.validate(step.args)
        guard result.isValid else {
            return .rejected(reason: "invalid_args", issues: result.errors.map { ValidationIssue(path: "/args" + $0.instanceLocation, message: $0.message) })
        }
        switch tool.riskTier {
        case .read:
            return .approved(riskTier: tool.riskTier.rawValue)
        case .write:
            // The approval ladder (ApprovalRequested → a human) is a later milestone; until it
            // exists a write never runs unapproved.
            return .rejected(reason: "approval_required", issues: [ValidationIssue(path: "/tool", message: "tool '\(step.tool)' changes data and needs human approval, which is not available yet")])
        }
    }

    /// A tool result must match the tool's output schema before the planner may rely on it.
    public func check(result: JSONValue, tool name: String) -> [ValidationIssue] {
        guard let tool = pack.tools[name] else {
            return [ValidationIssue(path: "", message: "no tool named '\(name)' in pack \(pack.name)")]
        }
        return tool.outputSchema.validate(result).errors.map { ValidationIssue(path: $0.instanceLocation, message: $0.message) }
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
