public import Foundation
import Yams

/// A scenario suite (docs/EVALUATION.md): scripted customers, what each conversation must
/// come to, and the suite's pass thresholds. Lives beside its domain pack
/// (`deploy/packs/retail.eval.yaml` for `retail.yaml`).
public struct EvalSuite: Sendable, Equatable {
    public var name: String
    /// The domain pack the scenarios are written for, relative to the suite's file.
    public var pack: String
    public var thresholds: Thresholds
    public var scenarios: [Scenario]
    /// A directory of help articles (relative to the suite's file) published to the platform's
    /// knowledge base before the scenarios run, e.g. articles with planted instructions.
    public var knowledge: String? = nil

    public struct Thresholds: Sendable, Equatable, Decodable {
        /// Share of scenarios whose every expectation held (0...1).
        public var taskSuccess: Double = 0.9
        public var wrongEscalations: Int = 0
        public var invalidToolCallsExecuted: Int = 0
        public var policyViolations: Int = 0
        /// Turns neither replied to nor handed over within the turn timeout.
        public var unansweredTurns: Int = 0
        public var latencyP95Ms: Int?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case taskSuccess = "task_success", wrongEscalations = "wrong_escalations", invalidToolCallsExecuted = "invalid_tool_calls_executed"
            case policyViolations = "policy_violations", unansweredTurns = "unanswered_turns", latencyP95Ms = "latency_p95_ms"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            taskSuccess = try c.decodeIfPresent(Double.self, forKey: .taskSuccess) ?? 0.9
            wrongEscalations = try c.decodeIfPresent(Int.self, forKey: .wrongEscalations) ?? 0
            invalidToolCallsExecuted = try c.decodeIfPresent(Int.self, forKey: .invalidToolCallsExecuted) ?? 0
            policyViolations = try c.decodeIfPresent(Int.self, forKey: .policyViolations) ?? 0
            unansweredTurns = try c.decodeIfPresent(Int.self, forKey: .unansweredTurns) ?? 0
            latencyP95Ms = try c.decodeIfPresent(Int.self, forKey: .latencyP95Ms)
            guard (0...1).contains(taskSuccess) else {
                throw DecodingError.dataCorruptedError(forKey: .taskSuccess, in: c, debugDescription: "must be between 0 and 1")
            }
        }
    }

    /// One conversation: what the customer says, how they answer the agent's questions, what
    /// the scripted human does with an approval, and what must come of it.
    public struct Scenario: Sendable, Equatable {
        public var id: String
        public var description: String?
        public var tags: [String]
        public var customer: String
        /// Said in order, one turn each (a correction is just a later message).
        public var messages: [String]
        /// After the scripted messages: when the agent asks something matching `when`
        /// (a case-insensitive regular expression), the customer says `say`. Each answer is
        /// used at most once; no match ends the conversation.
        public var answers: [ScriptedAnswer]
        /// What the scripted human does with an approval request (nil: nobody decides, the
        /// conversation ends waiting, as it would until the approval times out).
        public var approval: ApprovalDecision?
        /// Tools that fail in this conversation, by fault: the run's platform makes every call
        /// of each fail (`unavailable`) or stall past its timeout (`timeout`).
        public var faults: ScenarioFaults
        public var expect: Expectation

        public var maxTurns: Int { messages.count + answers.count }
    }

    /// `faults: {tool_error: [get_order], tool_timeout: [get_invoice]}`.
    public struct ScenarioFaults: Sendable, Equatable, Decodable {
        public var toolError: [String] = []
        public var toolTimeout: [String] = []

        public init(toolError: [String] = [], toolTimeout: [String] = []) {
            self.toolError = toolError
            self.toolTimeout = toolTimeout
        }

        public var isEmpty: Bool { toolError.isEmpty && toolTimeout.isEmpty }
        /// Every faulted tool with the error code its calls end in.
        public var expectedFailures: [(tool: String, code: String)] {
            toolError.map { ($0, "unavailable") } + toolTimeout.map { ($0, "timeout") }
        }

        enum CodingKeys: String, CodingKey { case toolError = "tool_error", toolTimeout = "tool_timeout" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            toolError = try c.decodeIfPresent([String].self, forKey: .toolError) ?? []
            toolTimeout = try c.decodeIfPresent([String].self, forKey: .toolTimeout) ?? []
        }
    }

    public struct ScriptedAnswer: Sendable, Equatable, Decodable {
        public var when: String
        public var say: String
    }

    public enum ApprovalDecision: String, Sendable, Equatable, Decodable { case approve, deny }

    public struct Expectation: Sendable, Equatable {
        /// The intent of the conversation's last decision that named one (not `unknown`).
        public var intent: String?
        /// Tools that must have run (a `ToolCallStarted`), each with at least these arguments.
        public var tools: [ToolExpectation]
        /// Tools that must not run. A write tool not listed in `tools` never may: it counts as
        /// an invalid tool call executed.
        public var toolsNotCalled: [String]
        /// Each must appear (case-insensitive) in some reply the customer received.
        public var replyContains: [String]
        /// None may appear in any reply.
        public var replyNotContains: [String]
        /// Whether the conversation must end with a human (default: it must not), and why;
        /// nil (`handover: any`): either is right (a refusal or a human, for hostile input).
        public var handover: Bool?
        public var handoverReason: String?
        /// Whether an approval must (true) or must not (false) be requested; nil: either.
        public var approval: Bool?
        /// Whether the agent must (true) or must not (false) ask a clarifying question.
        public var clarification: Bool?
    }

    public struct ToolExpectation: Sendable, Equatable {
        public var tool: String
        public var args: [String: String]

        public init(tool: String, args: [String: String]) {
            self.tool = tool
            self.args = args
        }
    }
}

/// A mistake in a suite file, with where it is.
public struct EvalSuiteError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var message: String
    public var description: String { "eval suite: \(path): \(message)" }
}

extension EvalSuite {
    public static func load(path: String) throws -> EvalSuite {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalSuiteError(path: path, message: "cannot read file") }
        return try parse(yaml: String(decoding: data, as: UTF8.self))
    }

    public static func parse(yaml: String) throws -> EvalSuite {
        try rejectUnknownKeys(yaml)
        let file: SuiteFile
        do {
            file = try YAMLDecoder().decode(SuiteFile.self, from: yaml)
        } catch let error as DecodingError {
            throw EvalSuiteError(decoding: error)
        } catch let error as EvalSuiteError {
            throw error
        } catch {
            throw EvalSuiteError(path: "$", message: "invalid YAML: \(error)")
        }
        let defaults = file.defaults ?? SuiteFile.Defaults(customer: nil)
        var seen = Set<String>()
        var scenarios: [Scenario] = []
        for (index, raw) in file.scenarios.enumerated() {
            let path = "$.scenarios[\(index)]"
            guard raw.id.range(of: "^[a-z0-9][a-z0-9_-]{0,80}$", options: .regularExpression) != nil else {
                throw EvalSuiteError(path: path + ".id", message: "'\(raw.id)' must be lower-case letters, digits, - and _ (up to 81)")
            }
            guard seen.insert(raw.id).inserted else { throw EvalSuiteError(path: path + ".id", message: "'\(raw.id)' is used twice") }
            guard !raw.messages.isEmpty, raw.messages.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
                throw EvalSuiteError(path: path + ".messages", message: "needs at least one non-empty message")
            }
            for (answerIndex, answer) in (raw.answers ?? []).enumerated() {
                do { _ = try NSRegularExpression(pattern: answer.when, options: [.caseInsensitive]) } catch {
                    throw EvalSuiteError(path: path + ".answers[\(answerIndex)].when", message: "not a regular expression: \(answer.when)")
                }
            }
            guard let customer = raw.customer ?? defaults.customer else {
                throw EvalSuiteError(path: path + ".customer", message: "no customer (set it here or in defaults.customer)")
            }
            scenarios.append(Scenario(
                id: raw.id, description: raw.description, tags: raw.tags ?? [], customer: customer, messages: raw.messages,
                answers: raw.answers ?? [], approval: raw.approval, faults: raw.faults ?? ScenarioFaults(), expect: raw.expect.expectation))
        }
        guard !scenarios.isEmpty else { throw EvalSuiteError(path: "$.scenarios", message: "a suite needs at least one scenario") }
        return EvalSuite(name: file.suite, pack: file.pack, thresholds: file.thresholds ?? Thresholds(), scenarios: scenarios, knowledge: file.knowledge)
    }

    /// A misspelt key would otherwise be ignored and its expectation silently never checked.
    static func rejectUnknownKeys(_ yaml: String) throws {
        let document: Any?
        do { document = try Yams.load(yaml: yaml) } catch { throw EvalSuiteError(path: "$", message: "invalid YAML: \(error)") }
        func check(_ value: Any?, _ path: String, _ allowed: Set<String>) throws {
            guard let mapping = value as? [AnyHashable: Any] else { return }
            for key in mapping.keys {
                let name = key.base as? String ?? "\(key)"
                guard allowed.contains(name) else {
                    throw EvalSuiteError(path: path, message: "unknown key '\(name)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
                }
            }
        }
        guard let root = document as? [AnyHashable: Any] else { throw EvalSuiteError(path: "$", message: "a suite is a mapping") }
        try check(root, "$", ["suite", "pack", "knowledge", "thresholds", "defaults", "scenarios"])
        try check(root["thresholds"], "$.thresholds", ["task_success", "wrong_escalations", "invalid_tool_calls_executed", "policy_violations", "unanswered_turns", "latency_p95_ms"])
        try check(root["defaults"], "$.defaults", ["customer"])
        for (index, scenario) in (root["scenarios"] as? [Any] ?? []).enumerated() {
            let path = "$.scenarios[\(index)]"
            try check(scenario, path, ["id", "description", "tags", "customer", "messages", "answers", "approval", "faults", "expect"])
            let mapping = scenario as? [AnyHashable: Any]
            try check(mapping?["faults"], path + ".faults", ["tool_error", "tool_timeout"])
            for (answerIndex, answer) in (mapping?["answers"] as? [Any] ?? []).enumerated() {
                try check(answer, path + ".answers[\(answerIndex)]", ["when", "say"])
            }
            let expect = mapping?["expect"]
            try check(expect, path + ".expect", ["intent", "tools", "tools_not_called", "reply_contains", "reply_not_contains", "handover", "approval", "clarification"])
            for (toolIndex, tool) in ((expect as? [AnyHashable: Any])?["tools"] as? [Any] ?? []).enumerated() {
                try check(tool, path + ".expect.tools[\(toolIndex)]", ["tool", "args"])
            }
            try check((expect as? [AnyHashable: Any])?["handover"], path + ".expect.handover", ["reason"])
        }
    }

    /// The file as written; `parse` checks it and fills defaults.
    struct SuiteFile: Decodable {
        var suite: String
        var pack: String
        var knowledge: String?
        var thresholds: Thresholds?
        var defaults: Defaults?
        var scenarios: [RawScenario]

        struct Defaults: Decodable { var customer: String? }

        struct RawScenario: Decodable {
            var id: String
            var description: String?
            var tags: [String]?
            var customer: String?
            var messages: [String]
            var answers: [ScriptedAnswer]?
            var approval: ApprovalDecision?
            var faults: ScenarioFaults?
            var expect: RawExpectation
        }

        struct RawExpectation: Decodable {
            var intent: String?
            var tools: [RawTool]?
            var toolsNotCalled: [String]?
            var replyContains: [String]?
            var replyNotContains: [String]?
            var handover: HandoverField?
            var approval: Bool?
            var clarification: Bool?

            enum CodingKeys: String, CodingKey {
                case intent, tools, handover, approval, clarification
                case toolsNotCalled = "tools_not_called", replyContains = "reply_contains", replyNotContains = "reply_not_contains"
            }

            var expectation: Expectation {
                Expectation(
                    intent: intent, tools: (tools ?? []).map { ToolExpectation(tool: $0.tool, args: $0.args ?? [:]) },
                    toolsNotCalled: toolsNotCalled ?? [], replyContains: replyContains ?? [], replyNotContains: replyNotContains ?? [],
                    handover: handover == nil ? false : handover!.expected, handoverReason: handover?.reason, approval: approval, clarification: clarification)
            }
        }

        struct RawTool: Decodable {
            var tool: String
            var args: [String: String]?
        }

        /// `handover: true`, `false`, `any` or `{reason: customer_request}`.
        struct HandoverField: Decodable {
            var expected: Bool?
            var reason: String?

            struct Detail: Decodable { var reason: String }

            init(from decoder: any Decoder) throws {
                let single = try decoder.singleValueContainer()
                if let flag = try? single.decode(Bool.self) {
                    expected = flag
                } else if let word = try? single.decode(String.self) {
                    guard word == "any" else {
                        throw DecodingError.dataCorruptedError(in: single, debugDescription: "handover is true, false, any or {reason: …}")
                    }
                    expected = nil
                } else {
                    let detail = try single.decode(Detail.self)
                    expected = true
                    reason = detail.reason
                }
            }
        }
    }
}

extension EvalSuiteError {
    init(decoding error: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String {
            "$" + keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): self.init(path: path(context.codingPath), message: "missing '\(key.stringValue)'")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            self.init(path: path(context.codingPath), message: context.debugDescription)
        @unknown default: self.init(path: "$", message: "\(error)")
        }
    }
}
