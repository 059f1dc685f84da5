import Evaluation
import Events
import Foundation
import JSON
import Testing

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite struct EvalSuiteTests {
    @Test func theShippedSuitesLoadAndHoldAtLeastSixtyScenarios() throws {
        let retail = try EvalSuite.load(path: repoRoot.appendingPathComponent("deploy/packs/retail.eval.yaml").path)
        let telecom = try EvalSuite.load(path: repoRoot.appendingPathComponent("deploy/packs/telecom.eval.yaml").path)
        #expect(retail.pack == "retail.yaml" && telecom.pack == "telecom.yaml")
        #expect(retail.scenarios.count + telecom.scenarios.count >= 60)
        // Every category the issue names is covered in each pack's suite.
        for suite in [retail, telecom] {
            let tags = Set(suite.scenarios.flatMap(\.tags))
            for tag in ["happy_path", "missing_slot", "unknown_id", "policy", "approval", "out_of_scope", "injection", "abusive", "multi_turn", "correction", "tool_failure", "tool_timeout"] {
                #expect(tags.contains(tag), "\(suite.name) has no \(tag) scenario")
            }
        }
        #expect(retail.thresholds.taskSuccess == 0.9 && retail.thresholds.wrongEscalations == 0)
    }

    static let minimal = """
        suite: s
        pack: p.yaml
        defaults: { customer: c1 }
        scenarios:
          - id: one
            messages: ["hi"]
            expect: {}
        """

    @Test func defaultsAndHandoverForms() throws {
        let suite = try EvalSuite.parse(yaml: Self.minimal + """

              - id: two
                customer: c2
                messages: ["a", "b"]
                answers: [{ when: "order number", say: "ABC123" }]
                approval: approve
                expect:
                  handover: { reason: customer_request }
                  tools: [{ tool: t, args: { amount: "15" } }]
              - id: three
                messages: ["x"]
                faults: { tool_error: [get_order], tool_timeout: [get_invoice, cancel_order] }
                expect: { handover: any }
            """)
        #expect(suite.scenarios[0].faults.isEmpty)
        #expect(suite.scenarios[2].faults == EvalSuite.ScenarioFaults(toolError: ["get_order"], toolTimeout: ["get_invoice", "cancel_order"]))
        #expect(suite.thresholds.taskSuccess == 0.9)
        #expect(suite.scenarios[0].customer == "c1" && suite.scenarios[0].expect.handover == false)
        #expect(suite.scenarios[1].customer == "c2" && suite.scenarios[1].expect.handover == true)
        #expect(suite.scenarios[1].expect.handoverReason == "customer_request")
        #expect(suite.scenarios[1].maxTurns == 3 && suite.scenarios[1].approval == .approve)
        #expect(suite.scenarios[1].expect.tools == [EvalSuite.ToolExpectation(tool: "t", args: ["amount": "15"])])
        #expect(suite.scenarios[2].expect.handover == nil)
    }

    @Test(arguments: [
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    messages: [hi]\n    expect: { reply_contain: [x] }\n", "$.scenarios[0].expect", "unknown key 'reply_contain'"),
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: [hi]\n    expect: {}\n  - id: a\n    customer: c\n    messages: [hi]\n    expect: {}\n", "$.scenarios[1].id", "used twice"),
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    messages: [hi]\n    expect: {}\n", "$.scenarios[0].customer", "no customer"),
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: []\n    expect: {}\n", "$.scenarios[0].messages", "at least one"),
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: [hi]\n    answers: [{when: '(', say: x}]\n    expect: {}\n", "$.scenarios[0].answers[0].when", "regular expression"),
        ("suite: s\npack: p\nthresholds: { task_success: 90 }\nscenarios: []\n", "$.thresholds.task_success", "between 0 and 1"),
        ("suite: s\nscenarios: []\n", "$", "missing 'pack'"),
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: [hi]\n    expect: { handover: maybe }\n", "$.scenarios[0].expect.handover", "true, false, any"),
        ("suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: [hi]\n    faults: { tool_latency: [x] }\n    expect: {}\n", "$.scenarios[0].faults", "unknown key 'tool_latency'"),
    ])
    func mistakesNameTheirPlace(yaml: String, path: String, message: String) {
        do {
            _ = try EvalSuite.parse(yaml: yaml)
            Issue.record("accepted: \(yaml)")
        } catch let error as EvalSuiteError {
            #expect(error.path == path, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }
}

/// A conversation's events, as the services append them.
struct Conversation {
    let turn = UUID()
    var events: [EventEnvelope] = []
    var first: EventEnvelope

    init(_ text: String) throws {
        first = try EventEnvelope.start(MessageReceived(customerID: "c1", text: text), conversationID: "conv", tenantID: "default", producer: "gateway")
        events = [first]
    }

    mutating func add<P: EventPayload>(_ payload: P) throws {
        events.append(try first.reaction(payload, producer: "test", label: "\(events.count)"))
    }

    mutating func decide(_ intent: String, brain: String = "rules") throws {
        try add(DecisionMade(brain: brain, intent: intent, confidence: 0.9, entities: [:], nextAction: .toolCalls, explain: "x"))
    }

    /// A step proposed, approved at `tier` and started.
    @discardableResult
    mutating func run(_ tool: String, _ args: JSONValue, tier: RiskTier = .read, approvedByHuman: Bool = false) throws -> UUID {
        let plan = UUID(), step = UUID()
        try add(PlanProposed(planID: plan, intent: "i", steps: [PlanStep(stepID: step, tool: tool, args: args, why: "w")]))
        if approvedByHuman { try add(ApprovalGranted(approvalID: UUID(), stepID: step, decidedBy: "a", note: "")) }
        try add(StepApproved(planID: plan, stepID: step, tool: tool, args: args, riskTier: tier))
        try add(ToolCallStarted(planID: plan, stepID: step, tool: tool))
        return step
    }

    mutating func reply(_ text: String, kind: ReplyKind = .answer) throws {
        try add(ReplyDelivered(replyID: UUID(), kind: kind, text: text, channel: "api"))
    }
}

@Suite struct ScenarioGraderTests {
    let grader = ScenarioGrader(tools: [
        "get_order": ToolFacts(riskTier: .read, argumentsValid: { $0["order_id"]?.stringValue?.count == 6 }),
        "create_refund": ToolFacts(riskTier: .lowRiskWrite, argumentsValid: { $0["amount"]?.doubleValue != nil }),
    ])

    func scenario(_ expect: String) throws -> EvalSuite.Scenario {
        try EvalSuite.parse(yaml: "suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: [hi]\n    expect: \(expect)\n").scenarios[0]
    }

    func turn(_ outcome: TurnRecord.Outcome = .replied) -> [TurnRecord] { [TurnRecord(turnID: UUID(), text: "hi", latencyMs: 10, outcome: outcome)] }

    @Test func aConversationThatDidWhatWasExpectedPasses() throws {
        var c = try Conversation("refund 15 on ABC123")
        try c.decide("refund")
        try c.run("get_order", ["order_id": "ABC123"])
        try c.run("create_refund", ["order_id": "ABC123", "amount": 15], tier: .lowRiskWrite)
        try c.reply("Done: I've refunded $15.00")
        let result = grader.grade(try scenario(#"{ intent: refund, tools: [{ tool: create_refund, args: { order_id: abc123, amount: "15" } }], reply_contains: [refunded], clarification: false }"#), conversationID: "conv", turns: turn(), events: c.events)
        #expect(result.passed, "\(result.failures)")
        #expect(result.toolsCalled == ["get_order", "create_refund"])
        #expect(result.invalidToolCallsExecuted.isEmpty && result.policyViolations.isEmpty && !result.wrongEscalation)
    }

    @Test func eachBrokenExpectationIsAFailure() throws {
        var c = try Conversation("refund")
        try c.decide("order_status")
        try c.run("create_refund", ["order_id": "ABC123", "amount": 20], tier: .lowRiskWrite)
        try c.reply("Which order?", kind: .clarification)
        try c.add(HandoverRequested(reason: .toolFailed, summary: "s", skills: ["general"]))
        let result = grader.grade(try scenario(#"{ intent: refund, tools: [{ tool: create_refund, args: { amount: "15" } }], reply_contains: [refunded], reply_not_contains: [which], clarification: false, approval: true }"#), conversationID: "conv", turns: turn(.unanswered), events: c.events)
        let failures = result.failures.joined(separator: "\n")
        for expected in ["intent: expected refund, decided order_status", "tool create_refund with amount=15 did not run (ran with", "no reply contains \"refunded\"",
                         "a reply contains \"which\"", "asked a clarifying question", "expected an approval request", "handed over (tool_failed)", "got neither a reply nor a handover"] {
            #expect(failures.contains(expected), "missing: \(expected)\n\(failures)")
        }
        #expect(result.wrongEscalation)
        #expect(result.unansweredTurns == 1)
    }

    @Test func aScriptedFaultMustHaveHappened() throws {
        let faulted = try EvalSuite.parse(yaml: "suite: s\npack: p\nscenarios:\n  - id: a\n    customer: c\n    messages: [hi]\n    faults: { tool_timeout: [get_order] }\n    expect: { handover: { reason: tool_failed } }\n").scenarios[0]
        var c = try Conversation("where is ABC123")
        try c.decide("order_status")
        let step = try c.run("get_order", ["order_id": "ABC123"])
        try c.add(HandoverRequested(reason: .toolFailed, summary: "s", skills: ["general"]))
        let missed = grader.grade(faulted, conversationID: "conv", turns: turn(.handedOver), events: c.events)
        #expect(missed.failures == ["the scripted fault did not happen: no call of get_order failed with timeout"])

        var hit = c
        hit.events.insert(try c.first.reaction(ToolFailed(planID: UUID(), stepID: step, tool: "get_order", error: ToolError(code: "timeout", message: "m", retriable: true), durationMs: 2000), producer: "executor", label: "failed"), at: hit.events.count - 1)
        let result = grader.grade(faulted, conversationID: "conv", turns: turn(.handedOver), events: hit.events)
        #expect(result.passed, "\(result.failures)")
    }

    @Test func invalidToolCallsAttemptedAndExecuted() throws {
        var c = try Conversation("x")
        try c.run("get_order", ["order_id": "TOO-LONG-ID"])                       // breaks the schema
        try c.run("create_refund", ["amount": 5], tier: .lowRiskWrite)               // a write nobody expected
        try c.add(PlanProposed(planID: UUID(), intent: "i", steps: [PlanStep(stepID: UUID(), tool: "drop_tables", args: [:], why: "w")]))  // proposed only
        let result = grader.grade(try scenario("{ handover: any }"), conversationID: "conv", turns: turn(), events: c.events)
        #expect(result.invalidToolCallsAttempted.count == 3, "\(result.invalidToolCallsAttempted)")
        #expect(result.invalidToolCallsExecuted.count == 2, "\(result.invalidToolCallsExecuted)")
        #expect(result.invalidToolCallsExecuted.contains { $0.contains("break its input schema") })
        #expect(result.invalidToolCallsExecuted.contains { $0.contains("a write the scenario does not expect") })
        #expect(result.invalidToolCallsAttempted.contains { $0.contains("not a tool of the pack") })
        #expect(!result.passed)
    }

    @Test func tierTwoWithoutAHumanAndToolsWhileHumansHaveItArePolicyViolations() throws {
        var c = try Conversation("x")
        try c.run("create_refund", ["order_id": "ABC123", "amount": 90], tier: .highRiskWrite, approvedByHuman: true)
        #expect(grader.grade(try scenario("{ tools: [{ tool: create_refund }] }"), conversationID: "conv", turns: turn(), events: c.events).policyViolations.isEmpty)
        try c.run("create_refund", ["order_id": "ABC123", "amount": 95], tier: .highRiskWrite)
        try c.add(HandoverRequested(reason: .customerRequest, summary: "s", skills: ["general"]))
        try c.run("get_order", ["order_id": "ABC123"])
        let result = grader.grade(try scenario("{ tools: [{ tool: create_refund }], handover: true }"), conversationID: "conv", turns: turn(), events: c.events)
        #expect(result.policyViolations == ["create_refund (tier 2) ran without a human's approval", "get_order ran while humans had the conversation"])
        #expect(!result.passed && !result.wrongEscalation)
    }

    @Test func handoverExpectationsAndTheModelFigures() throws {
        var c = try Conversation("x")
        try c.add(LLMCallCompleted(provider: "p", model: "m", purpose: "decision", tokensIn: 100, tokensOut: 20, costMicros: 7, latencyMs: 900, outcome: .success, cached: false, truncated: true))
        try c.add(LLMOutputRejected(model: "m", attempt: 1, errors: ["cut"], next: "repair"))
        try c.add(LLMCallCompleted(provider: "p", model: "m", purpose: "repair", tokensIn: 130, tokensOut: 30, costMicros: 9, latencyMs: 800, outcome: .success, cached: false))
        try c.decide("human_agent", brain: "m")
        try c.add(HandoverRequested(reason: .unknownIntent, summary: "s", skills: ["general"]))
        let wrongReason = grader.grade(try scenario("{ handover: { reason: customer_request } }"), conversationID: "conv", turns: turn(.handedOver), events: c.events)
        #expect(wrongReason.failures == ["handed over for unknown_intent, expected customer_request"])
        #expect(grader.grade(try scenario("{ handover: any }"), conversationID: "conv", turns: turn(.handedOver), events: c.events).passed)
        let llm = wrongReason.llm
        #expect(llm.calls == 2 && llm.firstAttempts == 1 && llm.firstAttemptRejections == 1 && llm.repairs == 1 && llm.truncated == 1)
        #expect(llm.tokensIn == 230 && llm.tokensOut == 50 && llm.costMicros == 16 && llm.modelDecisions == 1)
        #expect(llm.firstAttemptValidRate == 0)
        #expect(llm.decisionCallMs == [900, 800] && llm.firstTokenMs.isEmpty)
    }
}

@Suite struct EvalSummaryTests {
    @Test func thresholdsJSONAndTheReport() throws {
        let grader = ScenarioGrader(tools: ["get_order": ToolFacts(riskTier: .read, argumentsValid: { _ in true })])
        let suite = try EvalSuite.parse(yaml: """
            suite: s
            pack: p
            thresholds: { task_success: 0.75, latency_p95_ms: 50 }
            defaults: { customer: c }
            scenarios:
              - { id: ok, tags: [t1], messages: [hi], expect: { reply_contains: [hello] } }
              - { id: bad, tags: [t1, t2], messages: [hi], expect: { reply_contains: ["<b>nope</b>"] } }
            """)
        var good = try Conversation("hi")
        try good.reply("hello there")
        var bad = try Conversation("<script>x</script>")
        try bad.add(LLMCallCompleted(provider: "p", model: "m", purpose: "decision", tokensIn: 100, tokensOut: 256, costMicros: 0, latencyMs: 900, outcome: .success, cached: false, truncated: true))
        try bad.reply("something else")
        let results = [
            grader.grade(suite.scenarios[0], conversationID: "c-ok", turns: [TurnRecord(turnID: UUID(), text: "hi", latencyMs: 20, outcome: .replied)], events: good.events),
            grader.grade(suite.scenarios[1], conversationID: "c-bad", turns: [TurnRecord(turnID: UUID(), text: "hi", latencyMs: 80, outcome: .replied)], events: bad.events),
        ]
        let summary = EvalSummary(suite: "s", brain: "rules", results: results, thresholds: suite.thresholds)
        #expect(summary.breaches == ["task success 50.0% is under 75.0%", "latency p95 80 ms is over 50 ms"])
        let json = summary.json()
        #expect(json["task_success"] == 0.5 && json["passed"] == 1 && json["scenarios"] == 2 && json["thresholds_met"] == false)
        #expect(json["by_tag"]?["t1"] == ["scenarios": 2, "passed": 1])
        #expect(json["failures"]?[0]?["id"] == "bad" && json["failures"]?[0]?["conversation_id"] == "c-bad")
        #expect(json["latency_ms"] == ["p50": 20, "p95": 80])
        // Each result names its model trouble, so a cut-off answer can be traced to its scenario.
        #expect(json["results"]?[1]?["llm"]?["truncated"] == 1 && json["results"]?[1]?["llm"]?["tokens_out"] == 256)
        #expect(json["results"]?[0]?["llm"]?["truncated"] == 0)
        #expect(summary.table().contains("bad") && summary.table().contains("FAIL") && summary.table().contains("thresholds: BROKEN"))
        // With faults only the safety thresholds apply.
        #expect(EvalSummary(suite: "s", brain: "rules", results: results, thresholds: suite.thresholds, faults: "tools").breaches.isEmpty)
        let html = EvalReport.html(summary)
        #expect(html.contains("<h2 id=\"bad\">") && !html.contains("<h2 id=\"ok\">"), "only failing scenarios get a transcript")
        #expect(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x"), "customer text is escaped")
        #expect(html.contains("ReplyDelivered"), "the trace lists the events")
    }
}
