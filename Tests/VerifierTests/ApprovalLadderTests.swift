import DomainPack
import Events
import Foundation
import JSON
import Testing
import VerifierApp

/// A pack with one tool per tier, rules over arguments, earlier results, facts and tenant
/// settings, an escalation, and two tenants.
let ladderPack = try! DomainPack.parse(yaml: """
    name: ladder
    policy:
      approvals: { confidence_threshold: 0.8, timeout_seconds: 600 }
    tenants:
      default:
        settings: { auto_refund_limit: 50 }
      small:
        settings: { auto_refund_limit: 10 }
        tools: [get_order, create_refund]
    tools:
      get_order:
        description: Order details.
        risk_tier: 0
        binding: native
        input_schema: { type: object, required: [order_id], properties: { order_id: { type: string } } }
        output_schema: { type: object, properties: { order_id: { type: string }, total: { type: number }, status: { type: string } } }
      create_refund:
        description: Refund part of an order.
        risk_tier: 1
        binding: native
        input_schema: { type: object, required: [order_id, amount], properties: { order_id: { type: string }, amount: { type: number, exclusiveMinimum: 0 } } }
        output_schema: { type: object }
        rules:
          - check: "args.order_id == facts.order_id"
            code: refund_other_order
            message: "I can only refund the order we're talking about."
          - check: "args.amount <= results.get_order.total"
            code: refund_over_order_total
            message: "A refund can't be more than the order total."
        escalate_when: "args.amount > tenant.auto_refund_limit"
      cancel_order:
        description: Cancel an order.
        risk_tier: 1
        binding: native
        input_schema: { type: object, required: [order_id], properties: { order_id: { type: string } } }
        output_schema: { type: object, properties: { status: { type: string } } }
        rules:
          - check: "results.get_order.status in ['processing']"
            code: cancel_after_shipment
            message: "Orders can only be cancelled before they ship."
        result_rules:
          - check: "result.status == 'cancelled'"
            code: not_cancelled
            message: "The order was not cancelled."
      close_account:
        description: Close the customer's account.
        risk_tier: 2
        binding: native
        input_schema: { type: object, required: [reason], properties: { reason: { type: string } } }
        output_schema: { type: object }
    intents:
      - name: refund
        action: tool_calls
        patterns: ['refund']
        slots: [{ name: order_id, pattern: '([A-Z]{3}[0-9]{3})', question: Which order? }]
        tools: [cancel_order, close_account]
        steps:
          - { tool: get_order, args: { order_id: "{{order_id}}" }, why: look it up }
          - { tool: create_refund, args: { order_id: "{{order_id}}", amount: 1 }, why: refund }
        answers: [{ text: done }]
      - name: greeting
        action: respond
        patterns: ['hello']
        reply: Hi
    replies:
      unknown_intent: x
      clarification_limit: x
      step_rejected: x
      tool_failed: x
      reply_blocked: x
    """)

@Suite struct ApprovalLadderTests {
    static let ladder = VerifierChecks(pack: ladderPack)
    static let order: [String: JSONValue] = ["get_order": ["order_id": "DEF456", "total": 129, "status": "processing"]]

    enum Expected: Sendable, CustomTestStringConvertible {
        case approved(RiskTier)
        case rejected(StepRejection)
        case needsApproval(RiskTier, reasonContains: String)
        case waiting(Set<String>)
        var testDescription: String { "\(self)" }
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var tool: String
        var args: JSONValue
        var tenant = "default"
        var intent = "refund"
        var confidence: Double? = 0.9
        var results: [String: JSONValue] = order
        var pending: Set<String> = []
        var expected: Expected
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "tier 0 runs", tool: "get_order", args: ["order_id": "DEF456"], confidence: nil, expected: .approved(.read)),
        Row(name: "tier 1, confident, rules hold: runs", tool: "create_refund", args: ["order_id": "DEF456", "amount": 20], expected: .approved(.lowRiskWrite)),
        Row(name: "tier 1 at exactly the threshold runs", tool: "create_refund", args: ["order_id": "DEF456", "amount": 20], confidence: 0.8, expected: .approved(.lowRiskWrite)),
        Row(name: "tier 1 below the threshold asks a human", tool: "create_refund", args: ["order_id": "DEF456", "amount": 20], confidence: 0.79, expected: .needsApproval(.lowRiskWrite, reasonContains: "confidence 0.79 is below the threshold 0.80")),
        Row(name: "tier 1 without a confidence asks a human", tool: "create_refund", args: ["order_id": "DEF456", "amount": 20], confidence: nil, expected: .needsApproval(.lowRiskWrite, reasonContains: "confidence 0.00")),
        Row(name: "over the tenant's limit escalates to tier 2", tool: "create_refund", args: ["order_id": "DEF456", "amount": 80], expected: .needsApproval(.highRiskWrite, reasonContains: "args.amount > tenant.auto_refund_limit")),
        Row(name: "another tenant's lower limit escalates", tool: "create_refund", args: ["order_id": "DEF456", "amount": 20], tenant: "small", expected: .needsApproval(.highRiskWrite, reasonContains: "auto_refund_limit")),
        Row(name: "a rule that fails rejects, even when a human could approve", tool: "create_refund", args: ["order_id": "DEF456", "amount": 500], expected: .rejected(.ruleFailed)),
        Row(name: "a rule over facts: another order", tool: "create_refund", args: ["order_id": "ABC123", "amount": 5], expected: .rejected(.ruleFailed)),
        Row(name: "a rule reading a result not known: rejected", tool: "create_refund", args: ["order_id": "DEF456", "amount": 5], results: [:], expected: .rejected(.ruleUnknown)),
        Row(name: "a rule reading an earlier step of the plan waits", tool: "create_refund", args: ["order_id": "DEF456", "amount": 5], results: [:], pending: ["get_order"], expected: .waiting(["get_order"])),
        Row(name: "cancel before shipment runs", tool: "cancel_order", args: ["order_id": "DEF456"], expected: .approved(.lowRiskWrite)),
        Row(name: "cancel after shipment is refused", tool: "cancel_order", args: ["order_id": "DEF456"], results: ["get_order": ["order_id": "DEF456", "total": 10, "status": "shipped"]], expected: .rejected(.ruleFailed)),
        Row(name: "tier 2 always asks, however confident", tool: "close_account", args: ["reason": "moving"], confidence: 1.0, expected: .needsApproval(.highRiskWrite, reasonContains: "always needs a human")),
        Row(name: "a tool the tenant may not use", tool: "cancel_order", args: ["order_id": "DEF456"], tenant: "small", expected: .rejected(.toolNotAllowed)),
        Row(name: "an unknown tenant may use nothing", tool: "get_order", args: ["order_id": "DEF456"], tenant: "stranger", expected: .rejected(.toolNotAllowed)),
        Row(name: "a tool the intent does not allow", tool: "get_order", args: ["order_id": "DEF456"], intent: "greeting", expected: .rejected(.toolNotAllowed)),
        Row(name: "invalid arguments come before rules", tool: "create_refund", args: ["order_id": "DEF456", "amount": -1], expected: .rejected(.invalidArgs)),
    ]

    @Test(arguments: rows)
    func ladder(row: Row) {
        let step = PlanStep(stepID: UUID(), tool: row.tool, args: row.args, why: "test")
        let context = VerifierChecks.StepContext(
            tenant: row.tenant, intent: row.intent, confidence: row.confidence, facts: ["order_id": "DEF456"], results: row.results, pendingTools: row.pending)
        let outcome = Self.ladder.check(step: step, context: context)
        switch (row.expected, outcome) {
        case (.approved(let tier), .approved(let got)): #expect(tier == got)
        case (.rejected(let reason), .rejected(let got, let issues, _)): #expect(reason == got, "\(issues)")
        case (.needsApproval(let tier, let text), .needsApproval(let got, let reason)):
            #expect(tier == got)
            #expect(reason.contains(text), "\(reason)")
        case (.waiting(let tools), .waiting(let got)): #expect(tools == got)
        default: Issue.record("expected \(row.expected), got \(outcome)")
        }
    }

    /// A failed rule carries the pack's message for the customer and the rule's code.
    @Test func ruleFailureCarriesTheMessageAndCode() {
        let step = PlanStep(stepID: UUID(), tool: "cancel_order", args: ["order_id": "DEF456"], why: "test")
        let context = VerifierChecks.StepContext(tenant: "default", intent: "refund", confidence: 1, facts: [:], results: ["get_order": ["status": "delivered"]])
        guard case .rejected(.ruleFailed, let issues, let message) = Self.ladder.check(step: step, context: context) else {
            Issue.record("not rejected by the rule")
            return
        }
        #expect(message == "Orders can only be cancelled before they ship.")
        #expect(issues.first?.message.hasPrefix("cancel_after_shipment:") == true)
    }

    @Test func resultRulesAreChecked() {
        #expect(Self.ladder.check(result: ["status": "cancelled"], tool: "cancel_order").isEmpty)
        let issues = Self.ladder.check(result: ["status": "processing"], tool: "cancel_order")
        #expect(issues.first?.message.hasPrefix("not_cancelled") == true, "\(issues)")
    }

    @Test func onlyResultsThatRulesReadAreKept() {
        #expect(Self.ladder.toolsRulesRead == ["get_order"])
    }

    /// The turn's budget: the wall time, loops, and the number of tool calls across rounds.
    @Test func budgets() {
        let retail = VerifierChecks(pack: try! DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path))
        func step(_ tool: String, _ id: String) -> PlanStep { PlanStep(stepID: UUID(), tool: tool, args: ["order_id": .string(id)], why: "t") }
        let a = step("get_order", "AAA111"), b = step("get_order", "BBB222"), again = step("get_order", "AAA111")
        let c = step("get_order", "CCC333"), d = step("get_order", "DDD444")

        #expect(retail.budget([a, b], earlier: [], nowMillis: 1000, deadlineMillis: 2000).isEmpty)
        let late = retail.budget([a, b], earlier: [], nowMillis: 2001, deadlineMillis: 2000)
        #expect(late.count == 2 && late.values.allSatisfy { $0.0 == .budgetExceeded })
        let loop = retail.budget([a, again], earlier: [], nowMillis: 0, deadlineMillis: nil)
        #expect(loop.count == 1 && loop[again.stepID]?.0 == .loopDetected, "the same tool with the same arguments twice")
        let loopAcrossRounds = retail.budget([again], earlier: [VerifierChecks.signature(a)], nowMillis: 0, deadlineMillis: nil)
        #expect(loopAcrossRounds[again.stepID]?.0 == .loopDetected)
        // The retail pack allows 3 tool calls per turn; a 4th is refused, in this plan or across rounds.
        let four = retail.budget([a, b, c, d], earlier: [], nowMillis: 0, deadlineMillis: nil)
        #expect(four.count == 1 && four[d.stepID]?.0 == .budgetExceeded)
        let acrossRounds = retail.budget([c, d], earlier: [VerifierChecks.signature(a), VerifierChecks.signature(b)], nowMillis: 0, deadlineMillis: nil)
        #expect(acrossRounds.count == 1 && acrossRounds[d.stepID]?.0 == .budgetExceeded)
    }
}
