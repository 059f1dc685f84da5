import DomainPack
import Events
import Foundation
import JSON
import JSONSchema
import PlannerApp
import Testing

@Suite struct DecisionContractTests {
    let contract = DecisionContract(pack: retailPack)

    func answer(_ fields: [String: JSONValue]) -> String {
        var base: [String: JSONValue] = [
            "intent": "order_status", "confidence": 90, "entities": ["order_id": "ABC123"], "next_action": "tool_calls",
            "steps": [["tool": "get_order_status", "args": ["order_id": "ABC123"], "why": "asked"]],
            "clarification_question": nil, "reply": nil, "explain": "asked for an order",
        ]
        for (key, value) in fields { base[key] = value }
        return JSONValue.object(base).serializedString()
    }

    @Test func aValidToolDecisionBecomesAPlanWithCustomerProvenance() throws {
        let verdict = contract.check(answer([:]), customerText: "Where is order abc123?", state: ConversationState(), model: "m")
        guard case .valid(let decision, let notes) = verdict else { Issue.record("\(verdict)"); return }
        #expect(decision.intent == "order_status")
        #expect(decision.confidence == 0.9)
        #expect(notes.isEmpty)
        #expect(decision.state.slots["order_id"] == SlotValue(value: "ABC123", source: .customer))
        guard case .plan(let steps) = decision.action else { Issue.record("not a plan"); return }
        #expect(steps.map(\.tool) == ["get_order_status"])
        #expect(steps.first?.args == ["order_id": "ABC123"])
    }

    @Test func notJSONAndSchemaViolationsAreErrorsToRepairWith() {
        guard case .invalid(let notJSON) = contract.check("Sure! The order is shipped.", customerText: "x", state: ConversationState(), model: "m") else {
            Issue.record("prose accepted"); return
        }
        #expect(notJSON.first?.contains("not JSON") == true)
        guard case .invalid(let errors) = contract.check(answer(["next_action": "refund", "confidence": 182]), customerText: "x", state: ConversationState(), model: "m") else {
            Issue.record("schema violation accepted"); return
        }
        #expect(errors.contains { $0.hasPrefix("/next_action") })
        #expect(errors.contains { $0.hasPrefix("/confidence") })
    }

    @Test func fencedJSONIsAccepted() {
        let verdict = contract.check("```json\n" + answer([:]) + "\n```", customerText: "ABC123", state: ConversationState(), model: "m")
        guard case .valid = verdict else { Issue.record("\(verdict)"); return }
    }

    @Test(arguments: [
        ("GetOrderStatus", "get_order_status"), ("get-order-status", "get_order_status"), ("get_order_status()", "get_order_status"),
        ("get_ordr_status", "get_order_status"), ("GET_ORDER_STATUS", "get_order_status"),
    ])
    func nearMissToolNamesAreCanonicalised(asked: String, canonical: String) {
        let verdict = contract.check(answer(["steps": [["tool": .string(asked), "args": ["order_id": "ABC123"], "why": "w"]]]), customerText: "ABC123", state: ConversationState(), model: "m")
        guard case .valid(let decision, let notes) = verdict, case .plan(let steps) = decision.action else { Issue.record("\(verdict)"); return }
        #expect(steps.first?.tool == canonical)
        #expect(notes == (asked == canonical ? [] : ["tool \"\(asked)\" read as \(canonical)"]))
    }

    @Test func unknownToolsAndBadArgumentsAreRejected() {
        guard case .invalid(let unknown) = contract.check(answer(["steps": [["tool": "refund_everything", "args": [:], "why": "w"]]]), customerText: "x", state: ConversationState(), model: "m") else {
            Issue.record("unknown tool accepted"); return
        }
        #expect(unknown.first?.contains("unknown tool \"refund_everything\"; known tools: cancel_order, create_refund") == true)
        guard case .invalid(let bad) = contract.check(answer(["entities": [:], "steps": [["tool": "get_order_status", "args": ["order_id": "abc"], "why": "w"]]]), customerText: "x", state: ConversationState(), model: "m") else {
            Issue.record("bad args accepted"); return
        }
        #expect(bad.contains { $0.hasPrefix("/steps/0/args/order_id") })
    }

    @Test func anInferenceNeverOverwritesWhatTheCustomerSaid() {
        let state = ConversationState(slots: ["order_id": SlotValue(value: "ABC123", source: .customer)])
        let verdict = contract.check(answer(["entities": ["order_id": "DEF456"], "steps": [["tool": "get_order_status", "args": [:], "why": "w"]]]), customerText: "and the other one?", state: state, model: "m")
        guard case .valid(let decision, _) = verdict, case .plan(let steps) = decision.action else { Issue.record("\(verdict)"); return }
        #expect(decision.state.slots["order_id"] == SlotValue(value: "ABC123", source: .customer))
        #expect(steps.first?.args == ["order_id": "ABC123"], "known slots fill missing arguments")
    }

    @Test func respondNeedsTextAndClarifyNeedsAQuestion() {
        guard case .invalid = contract.check(answer(["intent": "unknown", "next_action": "respond", "steps": [], "reply": nil]), customerText: "x", state: ConversationState(), model: "m") else {
            Issue.record("respond without text accepted"); return
        }
        guard case .invalid = contract.check(answer(["next_action": "clarify", "steps": []]), customerText: "x", state: ConversationState(), model: "m") else {
            Issue.record("clarify without question accepted"); return
        }
        let verdict = contract.check(answer(["intent": "unknown", "next_action": "respond", "steps": [], "reply": "Hello!"]), customerText: "hi", state: ConversationState(), model: "m")
        guard case .valid(let decision, _) = verdict, case .respond(let text) = decision.action else { Issue.record("\(verdict)"); return }
        #expect(text == "Hello!")
    }

    @Test func theResponseSchemaListsThePacksIntentsToolsAndSlots() throws {
        let properties = try #require(contract.responseSchema["properties"])
        // Each step is one of the pack's tools with that tool's own arguments (so the grammar
        // can only produce arguments the tool accepts); free text is capped short.
        let variants = try #require(properties["steps"]?["items"]?["anyOf"]?.arrayValue)
        #expect(variants.compactMap { $0["properties"]?["tool"]?["const"]?.stringValue } == retailPack.tools.keys.sorted())
        let refund = try #require(variants.first { $0["properties"]?["tool"]?["const"] == "create_refund" }?["properties"]?["args"])
        #expect(refund["required"] == ["order_id", "amount"] && refund["properties"]?["order_id"]?["pattern"] == "^[A-Z]{3}[0-9]{3}$")
        #expect(refund["properties"]?["amount"]?["multipleOf"] == nil, "grammars cannot express multipleOf; the tool's contract still checks it")
        #expect(refund["properties"]?["reason"]?["maxLength"] == 200)
        let intents = properties["intent"]?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(Set(intents) == Set(retailPack.intents.map(\.name) + ["unknown"]))
        #expect(properties["entities"]?["required"] == ["order_id", "amount", "address"])
        #expect(properties["entities"]?["properties"]?["amount"]?["type"] == ["string", "null"])
        #expect(properties["explain"]?["maxLength"] == 60 && properties["reply"]?["maxLength"] == 300 && properties["workflow"] == nil)
        // Sent with its properties in the order a model should write them.
        let sent = contract.responseSchema.serializedString(keyOrder: .schema)
        let order = ["\"intent\":", "\"confidence\":", "\"entities\":", "\"next_action\":", "\"steps\":", "\"clarification_question\":", "\"reply\":", "\"explain\":"]
        let positions = order.map { sent.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil } && zip(positions, positions.dropFirst()).allSatisfy { $0! < $1! })
    }

    /// Small models copy ids from the examples: an argument the customer never wrote, where
    /// they gave that value, becomes theirs.
    @Test func anArgumentTheCustomerNeverWroteIsReplacedByTheirs() {
        let copied = answer(["steps": [["tool": "get_order_status", "args": ["order_id": "KLM456"], "why": "asked"]]])
        guard case .valid(let decision, let notes) = contract.check(copied, customerText: "Where is my order ABC123?", state: ConversationState(), model: "m"),
              case .plan(let steps) = decision.action else { Issue.record("rejected"); return }
        #expect(steps.first?.args == ["order_id": "ABC123"])
        #expect(notes == ["order_id KLM456 is not in the conversation; used the customer's ABC123"])
        // In a model's later round, a value a tool returned stands.
        guard case .valid(let fromResult, _) = contract.check(copied, customerText: "Where is my order ABC123?", state: ConversationState(), model: "m", groundedIn: [#"{"related_order":"KLM456"}"#]),
              case .plan(let resultSteps) = fromResult.action else { Issue.record("rejected"); return }
        #expect(resultSteps.first?.args == ["order_id": "KLM456"])
        // A value the customer did write stands (two ids in one message).
        let second = answer(["entities": ["order_id": "ABC123"], "steps": [["tool": "get_order_status", "args": ["order_id": "DEF456"], "why": "asked"]]])
        guard case .valid(let both, _) = contract.check(second, customerText: "Is ABC123 or DEF456 the late one?", state: ConversationState(), model: "m"),
              case .plan(let bothSteps) = both.action else { Issue.record("rejected"); return }
        #expect(bothSteps.first?.args == ["order_id": "DEF456"])
    }

    @Test func thePacksReplyAnswersItsIntentWhateverTheModelWrote() {
        let own = answer(["intent": "greeting", "next_action": "respond", "steps": [], "reply": "Yo, what do you want?"])
        guard case .valid(let decision, _) = contract.check(own, customerText: "hi", state: ConversationState(), model: "m"), case .respond(let text) = decision.action else {
            Issue.record("rejected"); return
        }
        #expect(text == retailPack.intent(named: "greeting")?.reply?.render([:]))
    }

    @Test func byIntentSchemasFixTheStepsOfTheChosenIntent() throws {
        let schema = contract.responseSchema(intents: ["refund", "order_status"], shape: .byIntent)
        let variants = try #require(schema["anyOf"]?.arrayValue)
        let labels = variants.compactMap { variant -> String? in
            guard let intent = variant["properties"]?["intent"]?["const"]?.stringValue, let action = variant["properties"]?["next_action"]?["const"]?.stringValue else { return nil }
            return "\(intent)/\(action)"
        }
        #expect(labels == ["refund/tool_calls", "refund/clarify", "order_status/tool_calls", "order_status/clarify"], "matched intents only, no unknown")
        let refundSteps = try #require(variants[0]["properties"]?["steps"]?["prefixItems"]?.arrayValue)
        #expect(refundSteps.compactMap { $0["properties"]?["tool"]?["const"]?.stringValue } == ["get_order", "create_refund"])
        #expect(variants[1]["properties"]?["steps"]?["maxItems"] == 0 && variants[1]["properties"]?["clarification_question"]?["type"] == "string")
        // Nothing matched: every intent, and unknown (answering from knowledge only when there is some).
        let open = try #require(contract.responseSchema(intents: [], shape: .byIntent)["anyOf"]?.arrayValue)
        #expect(open.last?["properties"]?["intent"]?["const"] == "unknown" && open.last?["properties"]?["next_action"]?["const"] == "handover")
        let withKnowledge = try #require(contract.responseSchema(intents: [], shape: .byIntent, knowledge: true)["anyOf"]?.arrayValue)
        #expect(withKnowledge.last?["properties"]?["next_action"]?["const"] == "respond")
        // The flat shape narrows the intents and keeps unknown.
        #expect(contract.responseSchema(intents: ["refund"], shape: .flat)["properties"]?["intent"]?["enum"] == ["refund", "unknown"])
    }

    /// The longest answer a schema allows, in characters (an upper bound on a model's tokens).
    @Test func theLongestInstanceOfASchemaIsCounted() {
        #expect(DecisionContract.longestInstance(["type": "string", "maxLength": 10]) == 12)
        #expect(DecisionContract.longestInstance(["type": ["string", "null"], "maxLength": 2]) == 4, "null is longer than a two-character string")
        #expect(DecisionContract.longestInstance(["enum": ["a", "bcd"]]) == 5)
        #expect(DecisionContract.longestInstance(["type": "integer", "minimum": 0, "maximum": 100]) == 4)
        #expect(DecisionContract.longestInstance(["type": "object", "additionalProperties": false, "properties": ["ab": ["const": 1], "c": ["type": "boolean"]]]) == 18, #"{"ab":1,"c":false}"#)
        #expect(DecisionContract.longestInstance(["type": "array", "maxItems": 3, "items": ["const": "x"]]) == 2 + 3 * 3 + 2)
        #expect(DecisionContract.longestInstance(["type": "string"]) == nil, "unbounded")
        #expect(DecisionContract.longestInstance(["type": "object", "properties": [:]]) == nil, "open objects are unbounded")
    }

    /// Issue 11: no call may run to its token limit. Every alternative of every by-intent schema
    /// (each intent alone, and nothing matched, with knowledge) of both packs is bounded and fits
    /// the output limits the catalogs use, counted one token per character (the call is given
    /// that room, up to the model's limit); and free text keeps room.
    @Test(arguments: [512, 1024])
    func everyAnswerTheGrammarAllowsFitsTheTokenLimit(limit: Int) throws {
        for pack in [retailPack, telecomPack] {
            let contract = DecisionContract(pack: pack)
            for intents in [[]] + pack.intents.map({ [$0.name] }) {
                let schema = contract.responseSchema(intents: intents, shape: .byIntent, knowledge: true, outputTokens: limit)
                for variant in try #require(schema["anyOf"]?.arrayValue) {
                    let longest = try #require(DecisionContract.longestInstance(variant), "bounded: \(pack.name) \(intents)")
                    let label = "\(variant["properties"]?["intent"]?["const"] ?? "?")/\(variant["properties"]?["next_action"]?["const"] ?? "?")"
                    #expect(longest <= limit, "\(pack.name) \(label): \(longest) characters")
                    if let reply = variant["properties"]?["reply"]?["maxLength"]?.doubleValue {
                        #expect(reply >= 60, "\(pack.name) \(label): a reply keeps \(reply) characters")
                    }
                }
            }
        }
    }

    /// Telecom seals phone numbers for its tools: a model sees references, so the grammar asks
    /// for a reference where a tool takes a number (else it would make the model invent digits).
    @Test func argumentsOfASealedKindAreReferencesInTheModelsGrammar() throws {
        let telecom = DecisionContract(pack: telecomPack)
        let variants = try #require(telecom.responseSchema(intents: ["balance"], shape: .byIntent)["anyOf"]?.arrayValue)
        let steps = try #require(variants.first { $0["properties"]?["next_action"]?["const"] == "tool_calls" }?["properties"]?["steps"]?["prefixItems"]?.arrayValue)
        let phone = try #require(steps.first?["properties"]?["args"]?["properties"]?["phone_number"])
        let schema = try JSONSchema(phone)
        #expect(schema.isValid("[PHONE#3f9a2b1c]"))
        #expect(!schema.isValid("+447700900123"), "digits the model never saw")
        // And such an answer is a valid decision: the reference is checked by the kind's example.
        let answer = #"{"intent":"balance","confidence":90,"entities":{"phone_number":"[PHONE#3f9a2b1c]"},"next_action":"tool_calls","steps":[{"tool":"get_balance","args":{"phone_number":"[PHONE#3f9a2b1c]"},"why":"asked"}],"clarification_question":null,"reply":null,"explain":"balance"}"#
        guard case .valid(let decision, _) = telecom.check(answer, customerText: "What's my balance on [PHONE#3f9a2b1c]?", state: ConversationState(), model: "m"), case .plan(let planned) = decision.action else {
            Issue.record("a reference in the arguments was rejected"); return
        }
        #expect(planned.first?.args == ["phone_number": "[PHONE#3f9a2b1c]"])
        // Retail seals nothing: its arguments are as the contracts say.
        let retail = try #require(contract.responseSchema(intents: ["order_status"], shape: .byIntent)["anyOf"]?.arrayValue)
        let orderID = retail.first?["properties"]?["steps"]?["prefixItems"]?[0]?["properties"]?["args"]?["properties"]?["order_id"]
        #expect(orderID?["pattern"] == "^[A-Z]{3}[0-9]{3}$")
    }

    @Test func eachAlternativeNamesOnlyItsIntentsSlots() throws {
        let variants = try #require(contract.responseSchema(intents: ["refund", "greeting"], shape: .byIntent)["anyOf"]?.arrayValue)
        let refund = try #require(variants.first { $0["properties"]?["intent"]?["const"] == "refund" })
        #expect(Set(refund["properties"]?["entities"]?["properties"]?.objectValue?.keys.map { $0 } ?? []) == Set(retailPack.intent(named: "refund")!.slots.map(\.name)))
        let greeting = try #require(variants.first { $0["properties"]?["intent"]?["const"] == "greeting" })
        #expect(greeting["properties"]?["entities"]?["properties"] == [:])
    }

    @Test func schemasGrammarsCannotConvertAreSentAsTheirPropertiesOrAnyObject() {
        let conditional: JSONValue = ["type": "object", "properties": ["a": ["type": "string"]], "if": ["required": ["a"]], "then": ["required": ["b"]]]
        #expect(DecisionContract.argumentSchema(conditional) == ["type": "object", "additionalProperties": false, "properties": ["a": ["type": "string", "maxLength": 200]]], "bounded, the condition left to the contract's check")
        let opaque: JSONValue = ["type": "object", "properties": ["a": ["$ref": "#/x"]], "if": ["required": ["a"]]]
        #expect(DecisionContract.argumentSchema(opaque) == ["type": "object"])
        let oneOf: JSONValue = ["oneOf": [["type": "string", "maxLength": 900], ["type": "integer"]]]
        #expect(DecisionContract.argumentSchema(oneOf) == ["anyOf": [["type": "string", "maxLength": 200], ["type": "integer"]]])
    }

    @Test func thePacksExamplesAreTheRulesBrainsDecisionsWrittenAsTheModelMustAnswer() throws {
        let examples = contract.exampleMessages
        #expect(examples.map(\.role) == [.user, .assistant, .user, .assistant])
        #expect(examples[2].content?.contains("Has order KLM456 shipped yet?") == true)
        #expect(examples[3].content == #"{"intent":"order_status","confidence":90,"entities":{"address":null,"amount":null,"order_id":"KLM456"},"next_action":"tool_calls","steps":[{"tool":"get_order_status","args":{"order_id":"KLM456"},"why":"get_order_status for order_status"}],"clarification_question":null,"reply":null,"explain":"the slots are known"}"#)
        let clarify = try JSONValue.parse(examples[1].content ?? "")
        #expect(clarify["next_action"] == "clarify" && clarify["intent"] == "refund")
        #expect(clarify["clarification_question"]?.stringValue?.contains("order number") == true)
        // Every example is itself a valid decision under the contract.
        for (question, answer) in [(examples[0], examples[1]), (examples[2], examples[3])] {
            guard case .valid = contract.check(answer.content ?? "", customerText: question.content ?? "", state: ConversationState(), model: "m") else {
                Issue.record("example answer rejected: \(answer.content ?? "")"); continue
            }
        }
    }

    @Test func recentMessagesFoldIntoABoundedSummary() {
        var state = ConversationState()
        for index in 0..<40 { state.remember(index % 2 == 0 ? "customer" : "assistant", String(repeating: "word\(index) ", count: 30)) }
        #expect(state.recent.count >= 2)
        #expect(state.recent.last?.text.hasPrefix("word39") == true)
        #expect(state.recent.reduce(0) { $0 + $1.text.utf8.count / 4 + 4 } <= 400 || state.recent.count == 2)
        let lines = state.summary?.components(separatedBy: "\n") ?? []
        #expect(lines.count == 12)
        #expect(lines.allSatisfy { $0.count <= 140 })
        // Old states without context fields still decode.
        let old = try? JSONDecoder().decode(ConversationState.self, from: Data(#"{"slots":{},"clarifications":{}}"#.utf8))
        #expect(old == ConversationState())
    }
}

@Suite struct BrainSettingsTests {
    @Test func theExampleCatalogLoadsAndTheEnvironmentOverrideWins() throws {
        let path = repoRoot.appendingPathComponent("deploy/models.example.yaml").path
        let catalog = try #require(try BrainSettings.catalog(.init(catalogPath: path)))
        #expect(catalog.models.map(\.id) == ["local-ollama", "groq-llama", "claude-haiku"])
        #expect(catalog.models.map(\.apiKeyEnv) == [nil, "GROQ_API_KEY", "ANTHROPIC_API_KEY"])
        let single = try #require(try BrainSettings.catalog(.init(baseURL: "http://127.0.0.1:11434/v1", model: "llama3.1", catalogPath: path)))
        #expect(single.models.map(\.id) == ["env-model"] && single.models.first?.model == "llama3.1")
        #expect(try BrainSettings.catalog(.init()) == nil)
    }
}

@Suite struct ModelSlotNormalisationTests {
    @Test func whatAModelProposesGetsThePacksSlotRewrites() {
        let contract = DecisionContract(pack: telecomPack)
        let answer = JSONValue.object([
            "intent": "balance", "confidence": 80, "entities": ["phone_number": "07700 900123"], "next_action": "tool_calls",
            "steps": [["tool": "get_balance", "args": ["phone_number": "07700 900123"], "why": "asked"]],
            "clarification_question": nil, "reply": nil, "explain": "balance question",
        ]).serializedString()
        let verdict = contract.check(answer, customerText: "what's the balance on 07700 900123", state: ConversationState(), model: "m")
        guard case .valid(let decision, _) = verdict, case .plan(let steps) = decision.action else { Issue.record("\(verdict)"); return }
        #expect(steps.first?.args == ["phone_number": "+447700900123"])
        #expect(decision.state.slots["phone_number"] == SlotValue(value: "+447700900123", source: .customer))
    }
}

@Suite struct SlotDisciplineTests {
    let contract = DecisionContract(pack: retailPack)

    /// A model that plans with an id nobody wrote (the examples' KLM456) is asked to ask for it.
    @Test func aSlotOnlyTheModelInferredIsAskedFor() throws {
        let invented = JSONValue.object([
            "intent": "order_status", "confidence": 90, "entities": ["order_id": "KLM456"], "next_action": "tool_calls",
            "steps": [["tool": "get_order_status", "args": ["order_id": "KLM456"], "why": "asked"]],
            "clarification_question": nil, "reply": nil, "explain": "x",
        ]).serializedString()
        guard case .valid(let decided, _) = contract.check(invented, customerText: "Where is my order?", state: ConversationState(), model: "m") else {
            Issue.record("rejected"); return
        }
        #expect(decided.state.slots["order_id"]?.source == .inferred)
        let disciplined = SlotDiscipline(pack: retailPack).apply(to: decided, text: "Where is my order?")
        guard case .clarify(let slot, let question, 1) = disciplined.action else { Issue.record("\(disciplined.action)"); return }
        #expect(slot == "order_id" && question == retailPack.intent(named: "order_status")?.slots.first?.question)
        // The same plan for a customer who wrote the id goes ahead.
        guard case .valid(let said, _) = contract.check(invented, customerText: "Where is my order KLM456?", state: ConversationState(), model: "m") else {
            Issue.record("rejected"); return
        }
        guard case .plan = SlotDiscipline(pack: retailPack).apply(to: said, text: "Where is my order KLM456?").action else { Issue.record("not a plan"); return }
    }
}
