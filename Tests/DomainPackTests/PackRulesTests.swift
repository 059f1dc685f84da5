import DomainPack
import Events
import Testing

/// Rules, tiers, tenants and approval settings as the pack declares them, and the load-time
/// errors for each kind of mistake (with the path and, for expressions, the column).
@Suite struct PackRulesTests {
    static let pack = """
        name: t
        policy:
          approvals: { confidence_threshold: 0.7, timeout_seconds: 120 }
          budget: { tokens: 2000, tool_calls: 4, wall_time_ms: 6000 }
        tenants:
          default: { settings: { auto_refund_limit: 50 } }
          "*": { tools: [lookup] }
        tools:
          lookup:
            description: d
            risk_tier: 0
            binding: native
            input_schema: { type: object, properties: { id: { type: string } } }
            output_schema: { type: object, properties: { total: { type: number } } }
          refund:
            description: d
            risk_tier: 1
            binding: native
            input_schema: { type: object, properties: { id: { type: string }, amount: { type: number } } }
            output_schema: { type: object, properties: { refund_id: { type: string } } }
            rules:
              - { check: "args.amount <= results.lookup.total", code: over_total, message: "Too much." }
            result_rules:
              - { check: "exists(result.refund_id)", code: no_id, message: "No refund id." }
            escalate_when: "args.amount > tenant.auto_refund_limit"
        intents:
          - name: i
            action: tool_calls
            patterns: ['x']
            slots: [{ name: order_id, pattern: '(x)', question: q }]
            tools: [refund]
            steps: [{ tool: lookup, args: {}, why: w }]
            answers: [{ text: ok }]
        replies: { unknown_intent: a, clarification_limit: b, step_rejected: c, tool_failed: d, reply_blocked: e }
        """

    @Test func everythingLoads() throws {
        let pack = try DomainPack.parse(yaml: Self.pack)
        let refund = try #require(pack.tools["refund"])
        #expect(refund.riskTier == .lowRiskWrite)
        #expect(refund.rules.map(\.code) == ["over_total"])
        #expect(refund.resultRules.map(\.code) == ["no_id"])
        #expect(refund.escalateWhen?.source == "args.amount > tenant.auto_refund_limit")
        #expect(pack.policy.approvals.confidenceThreshold == 0.7)
        #expect(pack.policy.approvals.timeoutSeconds == 120)
        #expect(pack.policy.budget.tokens == 2000 && pack.policy.budget.toolCalls == 4 && pack.policy.budget.wallTimeMs == 6000)
        #expect(pack.intent(named: "i")?.allowedTools == ["lookup", "refund"])
        #expect(pack.tenant("default")?.settings["auto_refund_limit"] == 50)
        #expect(pack.tenant("default")?.tools == nil)
        #expect(pack.tenant("other")?.tools == ["lookup"], "unlisted tenants get the '*' entry")
        #expect(pack.replies.approvalDenied.render(["reason": "duplicate"]).hasSuffix("duplicate"))
        #expect(pack.replies.all.count == 12, "every reply text, found by reflection")
        #expect(pack.ownTexts.contains("Too much."), "rule messages are the pack's own texts")
    }

    @Test func theHandoverPolicyLoadsWithItsRulesChecked() throws {
        let policy = "  budget: { tokens: 2000, tool_calls: 4, wall_time_ms: 6000 }\n"
        func load(_ handover: String) throws -> DomainPack {
            try DomainPack.parse(yaml: Self.pack.replacingOccurrences(of: policy, with: policy + handover))
        }
        let pack = try load("""
              handover:
                min_confidence: 0.5
                consecutive_errors: 2
                when: [{ check: 'intent == "i" and tenant.auto_refund_limit < 100', code: small_limit, note: "Small limits go to a person." }]

            """)
        #expect(pack.policy.handover.minConfidence == 0.5 && pack.policy.handover.consecutiveErrors == 2)
        #expect(pack.policy.handover.rules.map(\.code) == ["small_limit"])
        #expect(try DomainPack.parse(yaml: Self.pack).policy.handover.minConfidence == 0.4, "the default")
        for (bad, message) in [
            ("  handover: { when: [{ check: 'facts.nope == 1', code: c, note: n }] }\n", "facts.nope is not a slot of any intent"),
            ("  handover: { when: [{ check: 'args.amount > 1', code: c, note: n }] }\n", "args"),
            ("  handover: { min_confidence: 2 }\n", "min_confidence"),
        ] {
            #expect { try load(bad) } throws: { "\($0)".contains(message) }
        }
    }

    @Test(arguments: [
        ("risk_tier: 1", "risk_tier: 3", "$.tools.refund.risk_tier: must be 0 (read), 1 (low-risk write) or 2 (high-risk write)"),
        ("args.amount <= results.lookup.total", "args.amount =< results.lookup.total", "$.tools.refund.rules[0].check: column 13: unexpected '=' (write '==' to compare)"),
        ("args.amount <= results.lookup.total", "args.amout <= results.lookup.total", "args.amout is not an argument of refund (arguments: amount, id)"),
        ("args.amount <= results.lookup.total", "args.amount <= results.lokup.total", "results.lokup: no tool named 'lokup'"),
        ("args.amount <= results.lookup.total", "args.amount <= results.lookup.totl", "results.lookup.totl is not in the output of lookup (fields: total)"),
        ("args.amount <= results.lookup.total", "args.amount <= totl", "column 16: unknown name 'totl'"),
        ("args.amount <= results.lookup.total", "facts.order_number == args.id", "facts.order_number is not a slot of any intent (slots: order_id)"),
        ("args.amount > tenant.auto_refund_limit", "args.amount > tenant.refund_limit", "tenant.refund_limit is not a setting of any tenant (settings: auto_refund_limit)"),
        ("exists(result.refund_id)", "exists(result.id)", "result.id is not in the output of refund (fields: refund_id)"),
        ("exists(result.refund_id)", "exists(args.id)", "$.tools.refund.result_rules[0].check: column 8: unknown name 'args'"),
        ("code: over_total, ", "", "$.tools.refund.rules[0].code: required"),
        ("tools: [lookup] }", "tools: [lokup] }", "unknown tool 'lokup'"),
        ("tools: [refund]", "tools: [refnd]", "$.intents[0].tools[0]: unknown tool 'refnd'"),
        ("confidence_threshold: 0.7", "confidence_threshold: 7", "$.policy.approvals.confidence_threshold: must be a number from 0 to 1"),
    ])
    func mistakesAreNamed(original: String, replacement: String, message: String) {
        let yaml = Self.pack.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != Self.pack)
        do {
            _ = try DomainPack.parse(yaml: yaml)
            Issue.record("accepted: \(replacement)")
        } catch {
            #expect(String(describing: error).contains(message), "\(error)")
        }
    }

    @Test func onlyWriteToolsEscalate() {
        let yaml = Self.pack.replacingOccurrences(of: "risk_tier: 1", with: "risk_tier: 0")
        #expect(throws: DomainPackError.self) { try DomainPack.parse(yaml: yaml) }
    }

    @Test func legacyTierNamesStillLoad() throws {
        let yaml = Self.pack.replacingOccurrences(of: "risk_tier: 0", with: "risk_tier: read").replacingOccurrences(of: "risk_tier: 1", with: "risk_tier: write")
        let pack = try DomainPack.parse(yaml: yaml)
        #expect(pack.tools["lookup"]?.riskTier == .read)
        #expect(pack.tools["refund"]?.riskTier == .highRiskWrite)
    }
}
