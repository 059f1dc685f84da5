public import Foundation
public import JSON

/// A suite run's figures, its table and machine-readable summary, and the thresholds it broke.
public struct EvalSummary: Sendable {
    public var suite: String
    public var brain: String
    public var results: [ScenarioResult]
    public var thresholds: EvalSuite.Thresholds
    /// With faults injected only the safety thresholds apply (no invalid tool call executed,
    /// no policy violation, no unanswered turn): tasks may fail when their tools do.
    public var faults: String?

    public init(suite: String, brain: String, results: [ScenarioResult], thresholds: EvalSuite.Thresholds, faults: String? = nil) {
        self.suite = suite
        self.brain = brain
        self.results = results
        self.thresholds = thresholds
        self.faults = faults
    }

    public var passedCount: Int { results.filter(\.passed).count }
    public var taskSuccess: Double { results.isEmpty ? 0 : Double(passedCount) / Double(results.count) }
    public var wrongEscalations: Int { results.filter(\.wrongEscalation).count }
    public var invalidAttempted: Int { results.reduce(0) { $0 + $1.invalidToolCallsAttempted.count } }
    public var invalidExecuted: Int { results.reduce(0) { $0 + $1.invalidToolCallsExecuted.count } }
    public var policyViolations: Int { results.reduce(0) { $0 + $1.policyViolations.count } }
    public var unansweredTurns: Int { results.reduce(0) { $0 + $1.unansweredTurns } }
    public var turns: Int { results.reduce(0) { $0 + $1.turns.count } }
    public var llm: LLMFigures { results.reduce(LLMFigures()) { $0 + $1.llm } }

    /// Latency of turns that ended (a reply or a handover), from the customer's side.
    public var latencies: [Double] {
        results.flatMap { $0.turns.filter { $0.outcome == .replied || $0.outcome == .handedOver }.map(\.latencyMs) }.sorted()
    }

    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    /// Thresholds this run broke, each as a sentence; empty when the run passes.
    public var breaches: [String] {
        var broken: [String] = []
        if faults == nil, taskSuccess + 1e-9 < thresholds.taskSuccess {
            broken.append(String(format: "task success %.1f%% is under %.1f%%", taskSuccess * 100, thresholds.taskSuccess * 100))
        }
        if faults == nil, wrongEscalations > thresholds.wrongEscalations {
            broken.append("\(wrongEscalations) wrong escalations (at most \(thresholds.wrongEscalations))")
        }
        if invalidExecuted > thresholds.invalidToolCallsExecuted {
            broken.append("\(invalidExecuted) invalid tool calls executed (at most \(thresholds.invalidToolCallsExecuted))")
        }
        if policyViolations > thresholds.policyViolations {
            broken.append("\(policyViolations) policy violations (at most \(thresholds.policyViolations))")
        }
        if unansweredTurns > thresholds.unansweredTurns {
            broken.append("\(unansweredTurns) turns neither answered nor handed over (at most \(thresholds.unansweredTurns))")
        }
        if faults == nil, let limit = thresholds.latencyP95Ms, Self.percentile(latencies, 95) > Double(limit) {
            broken.append(String(format: "latency p95 %.0f ms is over %d ms", Self.percentile(latencies, 95), limit))
        }
        return broken
    }

    /// One line per scenario, then the totals.
    public func table() -> String {
        let idWidth = max(8, results.map(\.scenario.id.count).max() ?? 0)
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        var lines = [pad("scenario", idWidth) + "  result  turns  intent            tools                          handover"]
        for result in results {
            let tools = result.toolsCalled.isEmpty ? "-" : result.toolsCalled.joined(separator: ",")
            lines.append(pad(result.scenario.id, idWidth) + "  " + pad(result.passed ? "pass" : "FAIL", 6) + "  " + pad(String(result.turns.count), 5)
                + "  " + pad(result.intent ?? "-", 16) + "  " + pad(tools, 29) + "  " + (result.handoverReason ?? "-"))
            for failure in result.failures { lines.append("    - " + failure) }
        }
        let llm = self.llm
        let conversations = max(results.count, 1)
        lines.append("")
        lines.append(String(format: "suite %@ (brain %@%@): %d/%d scenarios passed, task success %.1f%%", suite, brain, faults.map { ", faults \($0)" } ?? "", passedCount, results.count, taskSuccess * 100))
        lines.append("wrong escalations \(wrongEscalations), invalid tool calls attempted \(invalidAttempted) / executed \(invalidExecuted), policy violations \(policyViolations), unanswered turns \(unansweredTurns)")
        lines.append(String(format: "turns %d (%.2f per conversation), latency p50 %.0f ms, p95 %.0f ms", turns, Double(turns) / Double(conversations), Self.percentile(latencies, 50), Self.percentile(latencies, 95)))
        lines.append(String(format: "llm calls %d, decisions by a model %d of %d, first-attempt valid %.1f%% (%d of %d), repairs %d, fallbacks %d, cut at max_tokens %d, tokens in %d / out %d, cost per conversation %.0f µ$",
            llm.calls, llm.modelDecisions, llm.decisions, llm.firstAttemptValidRate * 100, llm.firstAttempts - llm.firstAttemptRejections, llm.firstAttempts,
            llm.repairs, llm.fallbacks, llm.truncated, llm.tokensIn, llm.tokensOut, Double(llm.costMicros) / Double(conversations)))
        if llm.calls > 0 {
            let calls = llm.decisionCallMs.map(Double.init).sorted(), first = llm.firstTokenMs.map(Double.init).sorted()
            lines.append(String(format: "llm call p50 %.0f ms, p95 %.0f ms; first token p50 %.0f ms; model time per turn %.0f ms",
                Self.percentile(calls, 50), Self.percentile(calls, 95), Self.percentile(first, 50), turns == 0 ? 0 : Double(llm.latencyMs) / Double(turns)))
        }
        let broken = breaches
        lines.append(broken.isEmpty ? "thresholds: met" : "thresholds: BROKEN: " + broken.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    /// The machine-readable summary (docs/EVALUATION.md names every field).
    public func json() -> JSONValue {
        let llm = self.llm
        let conversations = Double(max(results.count, 1))
        var tags: [String: JSONValue] = [:]
        for tag in Set(results.flatMap(\.scenario.tags)).sorted() {
            let tagged = results.filter { $0.scenario.tags.contains(tag) }
            tags[tag] = ["scenarios": .number(Double(tagged.count)), "passed": .number(Double(tagged.filter(\.passed).count))]
        }
        let firstAttemptValid: JSONValue = llm.firstAttempts == 0 ? .null : .number(llm.firstAttemptValidRate)
        return [
            "suite": .string(suite),
            "brain": .string(brain),
            "faults": faults.map(JSONValue.string) ?? .null,
            "scenarios": .number(Double(results.count)),
            "passed": .number(Double(passedCount)),
            "task_success": .number((taskSuccess * 10_000).rounded() / 10_000),
            "wrong_escalations": .number(Double(wrongEscalations)),
            "invalid_tool_calls_attempted": .number(Double(invalidAttempted)),
            "invalid_tool_calls_executed": .number(Double(invalidExecuted)),
            "policy_violations": .number(Double(policyViolations)),
            "unanswered_turns": .number(Double(unansweredTurns)),
            "turns": .number(Double(turns)),
            "turns_per_conversation": .number((Double(turns) / conversations * 100).rounded() / 100),
            "latency_ms": ["p50": .number(Self.percentile(latencies, 50).rounded()), "p95": .number(Self.percentile(latencies, 95).rounded())],
            "llm": [
                "calls": .number(Double(llm.calls)),
                "decisions": .number(Double(llm.decisions)),
                "model_decisions": .number(Double(llm.modelDecisions)),
                "first_attempt_valid_rate": firstAttemptValid,
                "first_attempt_rejections": .number(Double(llm.firstAttemptRejections)),
                "repairs": .number(Double(llm.repairs)),
                "fallbacks": .number(Double(llm.fallbacks)),
                "truncated": .number(Double(llm.truncated)),
                "tokens_in": .number(Double(llm.tokensIn)),
                "tokens_out": .number(Double(llm.tokensOut)),
                "latency_ms_per_turn": .number(turns == 0 ? 0 : (Double(llm.latencyMs) / Double(turns)).rounded()),
                "call_latency_ms": ["p50": .number(Self.percentile(llm.decisionCallMs.map(Double.init).sorted(), 50)), "p95": .number(Self.percentile(llm.decisionCallMs.map(Double.init).sorted(), 95))],
                "first_token_ms": ["p50": .number(Self.percentile(llm.firstTokenMs.map(Double.init).sorted(), 50))],
            ],
            "cost_micros_per_conversation": .number((Double(llm.costMicros) / conversations).rounded()),
            "by_tag": .object(tags),
            "failures": .array(results.filter { !$0.passed }.map { ["id": .string($0.scenario.id), "conversation_id": .string($0.conversationID), "failures": .array($0.failures.map(JSONValue.string))] }),
            "results": .array(results.map { result in
                [
                    "id": .string(result.scenario.id), "passed": .bool(result.passed), "intent": result.intent.map(JSONValue.string) ?? .null,
                    "handover": result.handoverReason.map(JSONValue.string) ?? .null, "tools": .array(result.toolsCalled.map(JSONValue.string)),
                    "turns": .array(result.turns.map { ["outcome": .string($0.outcome.rawValue), "latency_ms": .number($0.latencyMs.rounded())] }),
                    // Where a model answer went wrong, so a rejected or cut-off call can be found.
                    "llm": [
                        "calls": .number(Double(result.llm.calls)), "first_attempt_rejections": .number(Double(result.llm.firstAttemptRejections)),
                        "repairs": .number(Double(result.llm.repairs)), "fallbacks": .number(Double(result.llm.fallbacks)),
                        "truncated": .number(Double(result.llm.truncated)), "tokens_out": .number(Double(result.llm.tokensOut)),
                    ],
                ]
            }),
            "thresholds_met": .bool(breaches.isEmpty),
            "breaches": .array(breaches.map(JSONValue.string)),
        ]
    }
}

extension LLMFigures {
    /// Decision calls whose first answer was a valid decision, of all first answers.
    public var firstAttemptValidRate: Double {
        guard firstAttempts > 0 else { return 0 }
        return (Double(firstAttempts - firstAttemptRejections) / Double(firstAttempts) * 10_000).rounded() / 10_000
    }
}
