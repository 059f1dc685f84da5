import Privacy
import DomainPack
import Foundation
import JSON
import Testing

@Suite struct DomainPackTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func retailPackLoads() throws {
        let pack = try DomainPack.load(path: Self.repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path)
        #expect(pack.name == "retail")
        let tool = try #require(pack.tools["get_order_status"])
        #expect(tool.riskTier == .read)
        #expect(tool.inputSchema.validate(["order_id": "ABC123"]).isValid)
        #expect(pack.intent(named: "order_status")?.slots.map(\.name) == ["order_id"])
    }

    static let minimal = """
        name: t
        tools:
          t1:
            description: d
            risk_tier: read
            binding: native
            input_schema: { type: object }
            output_schema: { type: object }
        intents:
          - name: i
            action: tool_calls
            patterns: ['x']
            steps: [{ tool: t1, args: {}, why: w }]
            answers: [{ text: ok }]
        replies: { unknown_intent: a, clarification_limit: b, step_rejected: c, tool_failed: d, reply_blocked: e }
        policy: {}
        """

    /// JSON null (a tool result's empty field) is falsy and renders as nothing, never "nil".
    @Test func nullIsAMissingValueInTemplates() throws {
        let template = try ReplyTemplate("by {{#eta}}{{eta}}{{/eta}}{{^eta}}soon{{/eta}}; [{{eta}}] {{#list}}<{{.}}>{{/list}} {{o.a}}{{o.b}}")
        #expect(template.render(["eta": nil, "list": ["x", nil], "o": ["a": "A", "b": nil]]) == "by soon; [] <x><> A")
        #expect(template.render(["eta": "Friday", "list": [], "o": [:]]) == "by Friday; [Friday]  ")
    }

    @Test func minimalPackParses() throws {
        _ = try DomainPack.parse(yaml: Self.minimal)
    }

    @Test(arguments: [
        ("tool: t1", "tool: nope", "unknown tool"),
        ("risk_tier: read", "risk_tier: maybe", "risk_tier"),
        ("patterns: ['x']", "patterns: ['(']", "regular expression"),
        ("input_schema: { type: object }", "input_schema: { type: 5 }", "input_schema"),
        ("answers: [{ text: ok }]", "answers: [{ text: '{{#x}}' }]", "template"),
    ])
    func brokenPackNamesTheMistake(original: String, replacement: String, mention: String) {
        let yaml = Self.minimal.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != Self.minimal)
        do {
            _ = try DomainPack.parse(yaml: yaml)
            Issue.record("accepted a broken pack: \(replacement)")
        } catch {
            #expect(String(describing: error).contains(mention), "\(error)")
        }
    }
}

/// Both shipped packs, and the slot normalisation the telecom pack relies on.
@Suite struct ShippedPackTests {
    static func load(_ name: String) throws -> DomainPack {
        try DomainPack.load(path: DomainPackTests.repoRoot.appendingPathComponent("deploy/packs/\(name).yaml").path)
    }

    @Test(arguments: ["retail", "telecom"])
    func packLoadsAndIsCoherent(name: String) throws {
        let pack = try Self.load(name)
        #expect(pack.name == name)
        #expect(pack.intents.contains { $0.action == .handover }, "a customer can always ask for a human")
        let used = Set(pack.intents.flatMap(\.allowedTools))
        #expect(used == Set(pack.tools.keys), "every tool is allowed to some intent and every step names a tool")
        for intent in pack.intents where intent.action == .toolCalls {
            // Every `{{slot}}` in step arguments is a slot the intent collects.
            let slots = Set(intent.slots.map(\.name))
            for step in intent.steps {
                guard case .object(let args) = step.args else { Issue.record("\(intent.name): args must be a mapping"); continue }
                for case .string(let text) in args.values where text.hasPrefix("{{") {
                    #expect(slots.contains(String(text.dropFirst(2).dropLast(2))), "\(intent.name): \(text)")
                }
            }
            #expect(!intent.slots.contains { $0.question.isEmpty })
        }
        #expect(Set(pack.intents.map(\.name)).count == pack.intents.count, "intent names are unique")
    }

    /// Personal data a pack keeps in clear (`privacy.allow`) or seals for its tools
    /// (`privacy.unseal`: references everywhere but in the executor). Telecom seals phone
    /// numbers (its account ids) for the tools that look accounts up by them; retail keeps
    /// nothing in clear and seals nothing.
    @Test func privacySections() throws {
        let telecom = try Self.load("telecom")
        #expect(telecom.clearPIIKinds.isEmpty)
        #expect(telecom.unsealing[.phone] == UnsealRule(tools: ["check_network_status", "get_balance", "get_puk", "activate_sim", "recharge"], example: "+447700900000"))
        #expect(telecom.unsealedKinds(for: "get_puk") == [.phone] && telecom.unsealedKinds(for: "nope").isEmpty)
        #expect(telecom.intents.flatMap(\.slots).filter { $0.name == "phone_number" }.allSatisfy { $0.pii == .phone }, "every phone slot takes references")
        #expect(try Self.load("retail").clearPIIKinds.isEmpty && Self.load("retail").unsealing.isEmpty)
        // What the gateway reads at start, without loading (or discovering) the pack's tools.
        let gatewayView = try DomainPack.privacyKinds(path: DomainPackTests.repoRoot.appendingPathComponent("deploy/packs/telecom.yaml").path)
        #expect(gatewayView.clear.isEmpty && gatewayView.referenced == [.phone])
        #expect(try DomainPack.clearPIIKinds(path: DomainPackTests.repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path).isEmpty)
        for (section, mention) in [
            ("privacy: { allow: { fingerprint: [t1] } }", "unknown PII kind"), ("privacy: { allow: { email: [nope] } }", "unknown tool"), ("privacy: { allow: { email: [] } }", "name the tools"),
            ("privacy: { unseal: { email: { tools: [t1], example: \"not an email\" } } }", "does not read as one email"),
            ("privacy: { unseal: { email: { tools: [nope], example: \"a@example.com\" } } }", "unknown tool"),
            ("privacy: { allow: { email: [t1] }, unseal: { email: { tools: [t1], example: \"a@example.com\" } } }", "choose one"),
        ] {
            #expect(throws: (any Error).self, "\(mention)") { try DomainPack.parse(yaml: DomainPackTests.minimal + "\n" + section + "\n") }
            do { _ = try DomainPack.parse(yaml: DomainPackTests.minimal + "\n" + section + "\n") } catch { #expect("\(error)".contains(mention), "\(error)") }
        }
        #expect(try DomainPack.parse(yaml: DomainPackTests.minimal + "\nprivacy: { allow: { email: [t1] } }\n").privacyAllowances == [.email: ["t1"]])
    }

    /// A slot that takes a sealed kind takes the customer's reference as it is (the executor
    /// normalizes the unsealed value); without one, its pattern reads the words as before.
    @Test func aSealedSlotTakesTheReference() throws {
        let slot = try #require(try Self.load("telecom").intents.flatMap(\.slots).first { $0.name == "phone_number" })
        #expect(slot.value(in: "my number is [PHONE#3f9a2b1c], thanks") == "[PHONE#3f9a2b1c]")
        #expect(slot.value(in: "my number is 07700 900123") == "+447700900123")
        #expect(slot.value(in: "mail [EMAIL#3f9a2b1c]") == nil, "another kind's reference is not a phone number")
    }

    @Test func telecomToolsAndTiers() throws {
        let pack = try Self.load("telecom")
        let tiers = pack.tools.mapValues(\.riskTier)
        #expect(tiers == ["check_network_status": .read, "get_balance": .read, "get_puk": .read, "activate_sim": .lowRiskWrite, "recharge": .highRiskWrite])
        let network = try #require(pack.tools["check_network_status"])
        #expect(network.inputSchema.validate(["region": "LONDON"]).isValid)
        #expect(network.inputSchema.validate(["phone_number": "+447700900123"]).isValid)
        #expect(!network.inputSchema.validate([:]).isValid, "one of region or phone_number is required")
        #expect(!network.inputSchema.validate(["region": "LONDON", "phone_number": "+447700900123"]).isValid)
        #expect(!network.inputSchema.validate(["phone_number": "07700900123"]).isValid, "numbers reach tools in E.164")
        let recharge = try #require(pack.tools["recharge"])
        #expect(recharge.inputSchema.validate(["phone_number": "+447700900123", "amount": "20.00"]).isValid)
        #expect(!recharge.inputSchema.validate(["phone_number": "+447700900123", "amount": "20"]).isValid)
    }

    static func slot(_ name: String, of intent: String) throws -> SlotSpec {
        let pack = try load("telecom")
        return try #require(pack.intent(named: intent)?.slots.first { $0.name == name })
    }

    @Test(arguments: [
        ("+44 7700 900123", "+447700900123"),
        ("07700900123", "+447700900123"),
        ("07700 900123", "+447700900123"),
        ("07700-900-123", "+447700900123"),
        ("my number is 0044 7700 900123 thanks", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("(+447700900123)", "+447700900123"),
        ("call +1 415 555 0100", "+14155550100"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("020 7946 0000", "+442079460000"),
    ])
    func phoneNumbersAreNormalisedToE164(text: String, expected: String) throws {
        let value = try Self.slot("phone_number", of: "recharge").value(in: text)
        #expect(value == expected)
        // The same anchored definition is used by every intent that asks for a number.
        #expect(try Self.slot("phone_number", of: "balance").value(in: text) == expected)
    }

    @Test(arguments: ["order 12345", "4111 1111 1111 1111", "call me at 5pm", "07700", "+44 77"])
    func notPhoneNumbers(text: String) throws {
        #expect(try Self.slot("phone_number", of: "recharge").value(in: text) == nil)
    }

    @Test(arguments: [
        ("no signal in Manchester", "MANCHESTER"),
        ("greater london", "LONDON"),
        ("I'm at SW1A 1AA", "SW1A"),
        ("m1 1ae", "M1"),
        ("M11AE", "M1"),
        ("EH1 2NG", "EH1"),
        ("postcode B10", "B10"),
        ("Newcastle upon Tyne", "NEWCASTLE"),
    ])
    func regionsAreCitiesOrPostcodeDistricts(text: String, expected: String) throws {
        #expect(try Self.slot("region", of: "network_issue").value(in: text) == expected)
    }

    @Test(arguments: ["Londonderry", "my 4g is down", "since 10am", "Paris"])
    func notRegions(text: String) throws {
        #expect(try Self.slot("region", of: "network_issue").value(in: text) == nil)
    }

    @Test(arguments: [
        ("top up £20 on 07700900123", "20.00"),
        ("£ 7.50 please", "7.50"),
        ("20", "20.00"),
        ("15 quid", "15.00"),
        ("add 10 pounds", "10.00"),
        ("recharge 07700900123 with 25", "25.00"),
        ("top up 30.", "30.00"),
    ])
    func amountsArePoundsWithPence(text: String, expected: String) throws {
        #expect(try Self.slot("amount", of: "recharge").value(in: text) == expected)
    }

    @Test(arguments: ["top up 07700900123", "+44 7700 900 123", "top up my phone", "2.5.6 firmware"])
    func notAmounts(text: String) throws {
        #expect(try Self.slot("amount", of: "recharge").value(in: text) == nil)
    }
}

@Suite struct SlotNormalisationTests {
    static let pack = DomainPackTests.minimal.replacingOccurrences(of: "    patterns: ['x']", with: """
            patterns: ['x']
            slots:
              - name: code
                pattern: '\\b([a-z]{2}[ -]?[0-9]{3})\\b'
                uppercase: true
                question: q
                normalize:
                  - { pattern: '[ -]' }
                  - { pattern: '^([A-Z]{2})([0-9]{3})$', replace: '$1/$2' }
        """)

    @Test func rewritesApplyInOrderAfterUppercase() throws {
        #expect(Self.pack != DomainPackTests.minimal)
        let slot = try #require(try DomainPack.parse(yaml: Self.pack).intents.first?.slots.first)
        #expect(slot.value(in: "it is ab-123") == "AB/123")
        #expect(slot.value(in: "xy 987") == "XY/987")
        #expect(slot.value(in: "nothing here") == nil)
        // A value from elsewhere (a model's proposal) gets the same canonical form.
        #expect(slot.normalized("cd 456") == "CD/456")
        #expect(slot.normalized(" - ") == nil, "nothing left")
    }

    @Test func slotsWithoutRewritesAreUnchanged() throws {
        let yaml = DomainPackTests.minimal.replacingOccurrences(
            of: "    patterns: ['x']", with: "    patterns: ['x']\n    slots: [{ name: code, pattern: '[a-z]+-[0-9]+', question: q }]")
        let slot = try #require(try DomainPack.parse(yaml: yaml).intents.first?.slots.first)
        #expect(slot.normalize.isEmpty)
        #expect(slot.value(in: "it is ab-123") == "ab-123")
    }

    @Test(arguments: [
        ("{ pattern: '[ -]' }", "{ pattern: '(' }", "normalize[0].pattern"),
        ("{ pattern: '[ -]' }", "{ replace: x }", "normalize[0].pattern"),
        ("{ pattern: '[ -]' }", "{ pattern: '[ -]', replace: 5 }", "normalize[0].replace"),
    ])
    func brokenRewriteNamesTheMistake(original: String, replacement: String, mention: String) {
        let yaml = Self.pack.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != Self.pack)
        do {
            _ = try DomainPack.parse(yaml: yaml)
            Issue.record("accepted a broken rewrite: \(replacement)")
        } catch {
            #expect(String(describing: error).contains(mention), "\(error)")
        }
    }
}
