public import DomainPack
import Events
import Foundation
public import JSON
import JSONSchema
import Privacy
public import LLM
public import ModelRouter

/// What a language model must answer with, for one customer message: the decision schema
/// (issue 4) built from the domain pack, and the checks that turn a model's text into a
/// `BrainDecision` — or into a list of errors to re-prompt with.
///
/// Shape: `{intent, confidence, entities, next_action, steps[{tool, args, why}],
/// clarification_question, reply, explain}`, properties sent in that order. Several choices
/// differ from a naive schema, all from measuring small local models under grammar-constrained
/// decoding (docs/BRAINS.md): `confidence` is an integer percentage (grammar engines enforce
/// integer bounds but not number bounds), `reply` carries the answer text for `respond`,
/// entities are the pack's slots, each step's arguments follow its tool's schema, and free text
/// is capped short.
public struct DecisionContract: Sendable {
    public let pack: DomainPack
    /// Sent as `response_format` / the forced tool's input schema: enums for intents and tools
    /// steer constrained decoding.
    public let responseSchema: JSONValue
    /// What the answer is validated against: tool names are free strings here, so that a
    /// near-miss can be canonicalised instead of rejected.
    let validationSchema: JSONSchema
    /// The system message: the same for every turn of the pack (cacheable).
    public let systemPrompt: String
    /// The pack's examples as exchanges (`PromptBuilder`), after the system message.
    public let exampleMessages: [ChatMessage]
    /// Each tool's step schema (`{tool: const, args: its arguments, why}`), for by-intent schemas.
    let stepSchemas: [String: JSONValue]

    public static let unknownIntent = RulesBrain.unknownIntent

    /// Output tokens a decision may use: a full decision with three steps is about 150 tokens
    /// under the caps below; an answer that needs more is running away (docs/BRAINS.md).
    public static let maxOutputTokens = 256

    public init(pack: DomainPack) {
        self.pack = pack
        let intents = pack.intents.map { JSONValue.string($0.name) } + [.string(Self.unknownIntent)]
        let toolNames = pack.tools.keys.sorted()
        var slotNames: [String] = []
        for intent in pack.intents { for slot in intent.slots where !slotNames.contains(slot.name) { slotNames.append(slot.name) } }
        self.systemPrompt = PromptBuilder.systemPrompt(pack)
        self.exampleMessages = Self.examples(for: pack, slotNames: slotNames)
        let required: JSONValue = ["intent", "confidence", "entities", "next_action", "steps", "clarification_question", "reply", "explain"]
        func string(_ maxLength: Int, nullable: Bool = false) -> JSONValue {
            ["type": nullable ? ["string", "null"] : "string", "maxLength": .number(Double(maxLength))]
        }
        // Sent to the model, where grammar engines enforce it: every slot of the pack as a
        // nullable entity, each tool's own argument schema per step, short caps on free text
        // (a small model otherwise fills a 1000-character field and runs out of tokens).
        let entities: JSONValue = [
            "type": "object", "additionalProperties": false, "required": .array(slotNames.map(JSONValue.string)),
            "properties": .object(Dictionary(uniqueKeysWithValues: slotNames.map { ($0, string(60, nullable: true)) })),
        ]
        let stepVariants: [JSONValue] = toolNames.map { name in
            [
                "type": "object", "additionalProperties": false, "required": ["tool", "args", "why"],
                "properties": [
                    "tool": ["const": .string(name)],
                    "args": Self.withReferences(Self.argumentSchema(pack.tools[name]!.inputSchemaJSON), pack.unsealing.filter { $0.value.tools.contains(name) }),
                    "why": string(40),
                ],
            ]
        }
        self.stepSchemas = Dictionary(uniqueKeysWithValues: zip(toolNames, stepVariants))
        let anyStep: JSONValue = [
            "type": "object", "additionalProperties": false, "required": ["tool", "args", "why"],
            "properties": ["tool": ["type": "string"], "args": ["type": "object"], "why": string(40)],
        ]
        self.responseSchema = [
            "type": "object", "additionalProperties": false, "required": required,
            "properties": [
                "intent": ["enum": .array(intents)],
                "confidence": ["type": "integer", "minimum": 0, "maximum": 100],
                "entities": entities,
                "next_action": ["enum": ["tool_calls", "clarify", "respond", "handover"]],
                "steps": ["type": "array", "maxItems": 3, "items": stepVariants.isEmpty ? anyStep : ["anyOf": .array(stepVariants)]],
                "clarification_question": string(160, nullable: true),
                "reply": string(300, nullable: true),
                "explain": string(60),
            ],
        ]
        // What an answer is validated against: looser than what is sent (free tool names, so a
        // near-miss can be canonicalised; any entity names; the old caps), for providers that
        // do not enforce the schema.
        self.validationSchema = try! JSONSchema([
            "type": "object", "additionalProperties": false, "required": required,
            "properties": [
                "intent": ["enum": .array(intents)],
                "confidence": ["type": "integer", "minimum": 0, "maximum": 100],
                "entities": ["type": "object", "additionalProperties": ["type": ["string", "null"], "maxLength": 200]],
                "workflow": ["type": "string", "maxLength": 200],
                "next_action": ["enum": ["tool_calls", "clarify", "respond", "handover"]],
                "steps": [
                    "type": "array", "maxItems": 5,
                    "items": [
                        "type": "object", "additionalProperties": false, "required": ["tool", "args", "why"],
                        "properties": ["tool": ["type": "string", "minLength": 1, "maxLength": 100], "args": ["type": "object"], "why": ["type": "string", "maxLength": 500]],
                    ],
                ],
                "clarification_question": ["type": ["string", "null"], "maxLength": 500],
                "reply": ["type": ["string", "null"], "maxLength": 2000],
                "explain": ["type": "string", "maxLength": 1000],
            ],
        ])
    }

    /// The schema for a message whose intent the pack's patterns narrowed to `intents` (every
    /// intent whose patterns match it): the model chooses among them or `unknown`. Empty: any
    /// intent of the pack. A small model cannot pick among a pack's intents on its own
    /// (docs/BRAINS.md); a large one loses little, since a message no pattern matches leaves it free.
    public func responseSchema(intents: [String]) -> JSONValue {
        let known = Set(pack.intents.map(\.name))
        let candidates = intents.filter { known.contains($0) }
        guard !candidates.isEmpty, case .object(var root) = responseSchema, case .object(var properties)? = root["properties"] else { return responseSchema }
        properties["intent"] = ["enum": .array((candidates + [Self.unknownIntent]).map(JSONValue.string))]
        root["properties"] = .object(properties)
        return .object(root)
    }

    /// `responseSchema(intents:)` in the model's shape. By intent: one alternative per candidate
    /// intent and next action, each fixing the rest — a single-shot tool intent's steps are its
    /// pack steps in order (each tool with its own arguments), a question or reply is text only
    /// where the action needs it — plus `unknown` handing over or answering from knowledge.
    /// Every alternative is valid under the flat schema, so validation does not change.
    ///
    /// `outputTokens`: the call's token limit. Each alternative is fitted to it (its free-text
    /// caps shrunk in proportion) so that its longest possible answer, counted one token per
    /// character, fits: an answer the grammar allows can never be cut off (issue 11).
    public func responseSchema(intents: [String], shape: DecisionSchema, knowledge: Bool = false, outputTokens: Int? = nil) -> JSONValue {
        let flat = responseSchema(intents: intents)
        guard shape == .byIntent, case .object(let root) = flat, let properties = root["properties"]?.objectValue else { return flat }
        let known = Set(pack.intents.map(\.name))
        let chosen = intents.filter { known.contains($0) }
        let specs = chosen.isEmpty ? pack.intents : chosen.compactMap { pack.intent(named: $0) }
        let null: JSONValue = ["type": "null"]
        let none: JSONValue = ["type": "array", "maxItems": 0]
        let question: JSONValue = ["type": "string", "minLength": 1, "maxLength": 160]
        let reply: JSONValue = ["type": "string", "minLength": 1, "maxLength": 300]
        func variant(_ intent: String, _ action: String, steps: JSONValue, question: JSONValue, reply: JSONValue) -> JSONValue {
            var fields = properties
            fields["intent"] = ["const": .string(intent)]
            fields["next_action"] = ["const": .string(action)]
            fields["steps"] = steps
            fields["clarification_question"] = question
            fields["reply"] = reply
            // Only the intent's own slots: another intent's entities are noise, and tokens.
            if case .object(var entities)? = fields["entities"], let all = entities["properties"]?.objectValue {
                let own = Set(pack.intent(named: intent)?.slots.map(\.name) ?? [])
                entities["properties"] = .object(all.filter { own.contains($0.key) })
                entities["required"] = .array(all.keys.filter { own.contains($0) }.sorted().map(JSONValue.string))
                fields["entities"] = .object(entities)
            }
            let schema: JSONValue = ["type": "object", "additionalProperties": false, "required": root["required"] ?? [], "properties": .object(fields)]
            return outputTokens.map { Self.fitted(schema, toCharacters: $0) } ?? schema
        }
        var variants: [JSONValue] = []
        for spec in specs {
            switch spec.action {
            case .toolCalls:
                let steps: JSONValue
                if spec.strategy == .singleShot, spec.steps.allSatisfy({ stepSchemas[$0.tool] != nil }) {
                    let sequence = spec.steps.map { stepSchemas[$0.tool]! }
                    steps = ["type": "array", "prefixItems": .array(sequence), "minItems": .number(Double(sequence.count)), "maxItems": .number(Double(sequence.count))]
                } else {
                    // A model may plan other tools in later rounds: any of the intent's tools.
                    let allowed = spec.allowedTools.sorted().compactMap { stepSchemas[$0] }
                    steps = ["type": "array", "minItems": 1, "maxItems": 3, "items": allowed.isEmpty ? properties["steps"]?["items"] ?? [:] : ["anyOf": .array(allowed)]]
                }
                variants.append(variant(spec.name, "tool_calls", steps: steps, question: null, reply: null))
                if !spec.slots.isEmpty { variants.append(variant(spec.name, "clarify", steps: none, question: question, reply: null)) }
            case .respond:
                // The pack's reply is the answer (`check`): the model need not write one.
                variants.append(variant(spec.name, "respond", steps: none, question: null, reply: spec.reply == nil ? reply : null))
            case .handover:
                variants.append(variant(spec.name, "handover", steps: none, question: null, reply: null))
            }
        }
        // A message the patterns matched is one of the matched intents: a small model offered
        // `unknown` beside them takes it too often (docs/BRAINS.md). Otherwise `unknown` hands
        // over, or answers from retrieved knowledge (cited).
        if chosen.isEmpty {
            variants.append(variant(Self.unknownIntent, "handover", steps: none, question: null, reply: null))
            if knowledge { variants.append(variant(Self.unknownIntent, "respond", steps: none, question: null, reply: reply)) }
        }
        return ["anyOf": .array(variants)]
    }

    /// An argument schema as a model sees it when the pack seals a kind for the tool
    /// (`privacy.unseal`): a property that takes such a value (the kind's example fits it) takes
    /// the value's reference instead, `[PHONE#3f9a2b1c]`, copied from the customer's words. The
    /// model never sees the value, so a grammar asking for its digits would make it invent some.
    static func withReferences(_ schema: JSONValue, _ rules: [PIIKind: UnsealRule]) -> JSONValue {
        guard !rules.isEmpty, case .object(var members) = schema, let properties = members["properties"]?.objectValue else { return schema }
        members["properties"] = .object(properties.mapValues { property in
            for (kind, rule) in rules.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                if let compiled = try? JSONSchema(property), compiled.isValid(.string(rule.example)) {
                    let tag = String(kind.placeholder.dropFirst().dropLast())
                    return ["type": "string", "pattern": .string("^\\[\(tag)#[0-9a-f]{8}\\]$"), "description": .string("the reference of the customer's \(kind.rawValue) as it appears in their words, e.g. [\(tag)#3f9a2b1c]")]
                }
            }
            return property
        })
        return .object(members)
    }

    /// The longest compact JSON text an instance of `schema` can be, in characters (an upper
    /// bound on the tokens a model spends writing it: a token is at least one character); nil
    /// when unbounded. Strings count their `maxLength` (a string bounded only by a pattern
    /// counts 40, an assumption the pack's ids and numbers keep; none is longer than that in
    /// the shipped packs), numbers 20 characters unless their range says fewer; whitespace
    /// between tokens is not counted.
    public static func longestInstance(_ schema: JSONValue) -> Int? {
        guard case .object(let members) = schema else { return schema.boolValue == false ? 0 : nil }
        if let constant = members["const"] { return constant.serialized().count }
        if let values = members["enum"]?.arrayValue { return values.map { $0.serialized().count }.max() ?? 0 }
        if let alternatives = (members["anyOf"] ?? members["oneOf"])?.arrayValue {
            var longest = 0
            for alternative in alternatives {
                guard let length = longestInstance(alternative) else { return nil }
                longest = max(longest, length)
            }
            return longest
        }
        let types = members["type"]?.arrayValue?.compactMap(\.stringValue) ?? members["type"]?.stringValue.map { [$0] } ?? []
        guard !types.isEmpty else { return nil }
        var longest = 0
        for type in types {
            let length: Int?
            switch type {
            case "null": length = 4
            case "boolean": length = 5
            case "string":
                if let cap = members["maxLength"]?.doubleValue { length = Int(cap) + 2 } else if members["pattern"] != nil { length = 42 } else { length = nil }
            case "integer", "number":
                if let low = members["minimum"]?.doubleValue ?? members["exclusiveMinimum"]?.doubleValue,
                   let high = members["maximum"]?.doubleValue ?? members["exclusiveMaximum"]?.doubleValue {
                    length = String(Int(max(abs(low), abs(high)))).count + 1 + (type == "number" ? 3 : 0)
                } else {
                    length = 20
                }
            case "array":
                let prefix = members["prefixItems"]?.arrayValue ?? []
                guard let maxItems = members["maxItems"]?.doubleValue.map(Int.init) else { length = nil; break }
                var total = 2 + max(0, maxItems - 1)
                for item in prefix.prefix(maxItems) {
                    guard let itemLength = longestInstance(item) else { return nil }
                    total += itemLength
                }
                if maxItems > prefix.count {
                    guard let items = members["items"], let itemLength = longestInstance(items) else { return nil }
                    total += (maxItems - prefix.count) * itemLength
                }
                length = total
            case "object":
                guard members["additionalProperties"]?.boolValue == false else { length = nil; break }
                let properties = members["properties"]?.objectValue ?? [:]
                var total = 2 + max(0, properties.count - 1)
                for (key, property) in properties {
                    guard let valueLength = longestInstance(property) else { return nil }
                    total += JSONValue.string(key).serialized().count + 1 + valueLength
                }
                length = total
            default: length = nil
            }
            guard let length else { return nil }
            longest = max(longest, length)
        }
        return longest
    }

    /// `schema` with its free-text caps (`maxLength` of strings with no pattern, enum or
    /// const) scaled down in proportion, none below 8, so that `longestInstance` is at most
    /// `limit` where the fixed parts leave room for it.
    static func fitted(_ schema: JSONValue, toCharacters limit: Int) -> JSONValue {
        guard let longest = longestInstance(schema), longest > limit else { return schema }
        // Each cap c becomes max(min(c, floor), c * factor): at most min(c, floor) + c * factor.
        func scaled(_ value: JSONValue, _ factor: Double, floor: Double) -> JSONValue {
            switch value {
            case .object(var members):
                let isFreeText = members["type"] == "string" || (members["type"]?.arrayValue?.contains("string") ?? false)
                if isFreeText, members["pattern"] == nil, members["enum"] == nil, members["const"] == nil, let cap = members["maxLength"]?.doubleValue {
                    members["maxLength"] = .number(max(min(cap, floor), (cap * factor).rounded(.down)))
                }
                return .object(members.mapValues { scaled($0, factor, floor: floor) })
            case .array(let items): return .array(items.map { scaled($0, factor, floor: floor) })
            default: return value
            }
        }
        // `bare`: no free text at all; `floored`: every free text at its floor of 8. With
        // factor (limit - floored) / (longest - bare) the longest instance is at most the limit.
        let floored = scaled(schema, 0, floor: 8)
        guard let bare = longestInstance(scaled(schema, 0, floor: 0)), let atFloor = longestInstance(floored), atFloor < limit else { return floored }
        return scaled(schema, Double(limit - atFloor) / Double(longest - bare), floor: 8)
    }

    /// A tool's argument schema as the grammar gets it: strings capped at 200 characters, and
    /// `multipleOf` dropped (grammars cannot express it; the validator still checks it). A
    /// schema using keywords outside what grammar engines convert (`if`, `not`, `$ref`, …)
    /// is sent as any object: the tool's contract still validates the arguments.
    public static func argumentSchema(_ schema: JSONValue) -> JSONValue {
        let supported: Set<String> = [
            "type", "properties", "required", "additionalProperties", "enum", "const", "pattern", "minLength", "maxLength",
            "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems", "anyOf", "oneOf",
            "format", "description", "title", "multipleOf", "default", "examples",
        ]
        func convertible(_ value: JSONValue) -> Bool {
            switch value {
            case .object(let members):
                return members.allSatisfy { key, member in
                    guard supported.contains(key) else { return false }
                    switch key {
                    case "properties": return (member.objectValue ?? [:]).values.allSatisfy(convertible)
                    case "items", "additionalProperties": return member.boolValue != nil || convertible(member)
                    case "anyOf", "oneOf": return (member.arrayValue ?? []).allSatisfy(convertible)
                    default: return true
                    }
                }
            case .bool: return true
            default: return false
            }
        }
        func rewrite(_ value: JSONValue) -> JSONValue {
            guard case .object(var members) = value else { return value }
            members["multipleOf"] = nil
            members["examples"] = nil
            members["default"] = nil
            if let properties = members["properties"]?.objectValue { members["properties"] = .object(properties.mapValues(rewrite)) }
            if let items = members["items"], case .object = items { members["items"] = rewrite(items) }
            for key in ["anyOf", "oneOf"] { if let list = members[key]?.arrayValue { members[key] = .array(list.map(rewrite)) } }
            if members["oneOf"] != nil { members["anyOf"] = members["oneOf"]; members["oneOf"] = nil }
            let isString = members["type"] == "string" || (members["type"]?.arrayValue?.contains("string") ?? false)
            if isString, members["enum"] == nil, members["const"] == nil, members["pattern"] == nil {
                members["maxLength"] = .number(min(members["maxLength"]?.doubleValue ?? 200, 200))
            }
            return .object(members)
        }
        guard convertible(schema) else {
            // The properties alone, when they convert (the conditions between them are left to
            // the contract's own check): a bounded object rather than any object, so the
            // grammar bounds the answer.
            if let properties = schema["properties"]?.objectValue, properties.values.allSatisfy(convertible) {
                return ["type": "object", "additionalProperties": false, "properties": .object(properties.mapValues(rewrite))]
            }
            return ["type": "object"]
        }
        return rewrite(schema)
    }

    /// A checked decision, or why not.
    public enum Verdict: Sendable {
        case valid(BrainDecision, notes: [String])
        case invalid([String])
    }

    /// Parses and checks a model's answer for the message `text`, given the state before it.
    /// Notes say what was repaired on the way (a canonicalised tool name), for the decision's
    /// `explain`.
    /// `groundedIn`: other text an argument may come from (a model round's tool results).
    public func check(_ output: String, customerText text: String, state: ConversationState, model: String, sources: [String] = [], groundedIn: [String] = []) -> Verdict {
        let value: JSONValue
        do {
            value = try JSONValue.parse(Self.stripFences(output))
        } catch {
            return .invalid(["the answer is not JSON (\(error)); answer with one JSON object only"])
        }
        let result = validationSchema.validate(value, maxErrors: 10)
        guard result.isValid else {
            return .invalid(result.errors.map { "\($0.instanceLocation.isEmpty ? "/" : $0.instanceLocation): \($0.message)" })
        }
        var errors: [String] = []
        var notes: [String] = []
        let intent = value["intent"]?.stringValue ?? Self.unknownIntent
        let spec = pack.intent(named: intent)
        let confidence = Double(value["confidence"]?.intValue ?? 0) / 100
        let explain = value["explain"]?.stringValue ?? ""
        let action = value["next_action"]?.stringValue ?? "handover"

        // Entities: what the customer said is "customer"; anything else the model inferred.
        // An inference never overwrites what the customer said.
        var newState = state
        let lowered = text.lowercased()
        for (name, entity) in value["entities"]?.objectValue ?? [:] {
            guard let raw = entity.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else { continue }
            // The pack's slot rewrites (case, spacing, prefixes) apply to what a model proposes too.
            guard let candidate = spec?.slots.first(where: { $0.name == name }).map({ $0.normalized(raw) }) ?? raw else { continue }
            let source: SlotValue.Source = lowered.contains(raw.lowercased()) ? .customer : .inferred
            if source == .inferred, newState.slots[name]?.source == .customer { continue }
            newState.slots[name] = SlotValue(value: candidate, source: source)
        }

        switch action {
        case "tool_calls":
            guard let spec, spec.action == .toolCalls else {
                return .invalid(["/next_action: tool_calls needs an intent with tools; \(intent) has none"])
            }
            let steps = value["steps"]?.arrayValue ?? []
            if steps.isEmpty { errors.append("/steps: tool_calls needs at least one step") }
            var proposed: [BrainDecision.ProposedStep] = []
            for (index, step) in steps.enumerated() {
                let asked = step["tool"]?.stringValue ?? ""
                guard let tool = ToolNames.canonical(asked, known: Array(pack.tools.keys)) else {
                    errors.append("/steps/\(index)/tool: unknown tool \"\(asked)\"; known tools: \(pack.tools.keys.sorted().joined(separator: ", "))")
                    continue
                }
                if tool != asked { notes.append("tool \"\(asked)\" read as \(tool)") }
                var args = step["args"]?.objectValue ?? [:]
                for slot in spec.slots {
                    if let raw = args[slot.name]?.stringValue { args[slot.name] = slot.normalized(raw).map(JSONValue.string) ?? .null }
                    // An argument the customer never wrote, where they did give this value, is
                    // the customer's value (small models copy ids from the examples).
                    guard let given = args[slot.name], let said = newState.slots[slot.name], said.source == .customer else { continue }
                    let written = given.stringValue ?? given.doubleValue.map { JSONValue.number($0).serializedString() } ?? given.serializedString()
                    if written != said.value, slot.json(written) != slot.json(said.value), !lowered.contains(written.lowercased()),
                       !groundedIn.contains(where: { $0.lowercased().contains(written.lowercased()) }) {
                        args[slot.name] = slot.json(said.value)
                        notes.append("\(slot.name) \(written) is not in the conversation; used the customer's \(said.value)")
                    }
                }
                // Known slots fill arguments the model left out (same names as the contract's).
                for (name, slot) in newState.slots where args[name] == nil { args[name] = .string(slot.value) }
                let contract = pack.tools[tool]!
                let properties = contract.inputSchemaJSON["properties"]?.objectValue ?? [:]
                args = args.filter { properties.isEmpty || properties[$0.key] != nil }
                // A sealed value's reference is checked by its kind's example (the executor checks the value).
                let checked = contract.inputSchema.validate(pack.argumentsForSchemaCheck(.object(args), tool: tool), maxErrors: 5)
                if !checked.isValid {
                    errors += checked.errors.map { "/steps/\(index)/args\($0.instanceLocation): \($0.message)" }
                    continue
                }
                proposed.append(BrainDecision.ProposedStep(tool: tool, args: .object(args), why: step["why"]?.stringValue ?? ""))
            }
            guard errors.isEmpty else { return .invalid(errors) }
            newState.pendingIntent = nil
            return .valid(BrainDecision(intent: intent, confidence: confidence, action: .plan(steps: proposed), explain: explain, state: newState), notes: notes)
        case "clarify":
            guard let question = value["clarification_question"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !question.isEmpty else {
                return .invalid(["/clarification_question: clarify needs the question to ask"])
            }
            newState.pendingIntent = spec == nil ? nil : intent
            return .valid(BrainDecision(intent: intent, confidence: confidence, action: .clarify(slot: "open_question", question: question, attempt: 1), explain: explain, state: newState), notes: notes)
        case "respond":
            let reply = value["reply"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
            let templated = spec?.reply?.render(newState.slots.mapValues { .string($0.value) })
            // An intent with a reply in the pack answers with the pack's approved text; a
            // model's own words answer only what no intent covers (knowledge, cited).
            guard let text = templated ?? (reply?.isEmpty == false ? reply : nil) else {
                return .invalid(["/reply: respond needs the reply text"])
            }
            // An answer from retrieved knowledge says where it comes from.
            if spec == nil, !sources.isEmpty, !sources.contains(where: { text.contains("According to \($0)") }) {
                return .invalid(["/reply: cite the knowledge you used as \"According to <title>\" with one of: " + sources.map { "\"\($0)\"" }.joined(separator: ", ")])
            }
            newState.pendingIntent = nil
            return .valid(BrainDecision(intent: intent, confidence: confidence, action: .respond(text: text), explain: explain, state: newState), notes: notes)
        default:
            newState.pendingIntent = nil
            let text = spec?.reply?.render([:]) ?? pack.replies.unknownIntent.render([:])
            return .valid(BrainDecision(
                intent: intent, confidence: confidence,
                action: .handover(reason: intent == Self.unknownIntent ? .unknownIntent : .modelHandover, text: text, skills: spec?.skills ?? ["general"]),
                explain: explain, state: newState), notes: notes)
        }
    }

    // MARK: Native tool-call mode

    /// For models whose catalog `decision_mode` is `tool_calls`: the pack's tools as functions
    /// (a call is a plan step), plus three control functions for the other next actions.
    public var toolDefinitions: [ToolDefinition] {
        let intents = JSONValue.array(pack.intents.map { .string($0.name) } + [.string(Self.unknownIntent)])
        var tools = pack.tools.keys.sorted().map { name in
            ToolDefinition(name: name, description: pack.tools[name]!.description, parameters: pack.tools[name]!.inputSchemaJSON)
        }
        tools.append(ToolDefinition(
            name: "reply_to_customer", description: "Answer the customer directly (no tool needed).",
            parameters: ["type": "object", "required": ["intent", "reply"], "properties": ["intent": ["enum": intents], "reply": ["type": "string"]]]))
        tools.append(ToolDefinition(
            name: "ask_customer", description: "Ask the customer for exactly one missing piece of information.",
            parameters: ["type": "object", "required": ["intent", "question"], "properties": ["intent": ["enum": intents], "question": ["type": "string"]]]))
        tools.append(ToolDefinition(
            name: "hand_over", description: "Pass the conversation to a human agent.",
            parameters: ["type": "object", "required": ["reason"], "properties": ["intent": ["enum": intents], "reason": ["type": "string"]]]))
        return tools
    }

    /// Native tool calls as a decision object, so that both modes share one validation and
    /// repair path. Calls to pack tools become steps (the intent is the one whose steps use the
    /// first tool); otherwise the first control call decides. No call at all: the text is
    /// taken as a JSON decision.
    public func decisionJSON(fromToolCalls calls: [ToolCall], content: String?) -> String {
        guard !calls.isEmpty else { return content ?? "" }
        let controls: Set<String> = ["reply_to_customer", "ask_customer", "hand_over"]
        var decision: [String: JSONValue] = [
            "confidence": 70, "entities": [:], "steps": [], "clarification_question": nil, "reply": nil,
            "explain": .string("native tool calls: " + calls.map(\.name).joined(separator: ", ")),
        ]
        let toolCalls = calls.filter { !controls.contains($0.name) }
        if let first = toolCalls.first {
            let tool = ToolNames.canonical(first.name, known: Array(pack.tools.keys)) ?? first.name
            decision["intent"] = .string(pack.intents.first { $0.steps.contains { $0.tool == tool } }?.name ?? Self.unknownIntent)
            decision["next_action"] = "tool_calls"
            decision["steps"] = .array(toolCalls.map { ["tool": .string($0.name), "args": $0.arguments, "why": "tool call"] })
            var entities: [String: JSONValue] = [:]
            for call in toolCalls {
                for (name, value) in call.arguments.objectValue ?? [:] { if case .string = value { entities[name] = value } }
            }
            decision["entities"] = .object(entities)
            return JSONValue.object(decision).serializedString()
        }
        let control = calls[0]
        decision["intent"] = control.arguments["intent"] ?? .string(Self.unknownIntent)
        switch control.name {
        case "reply_to_customer":
            decision["next_action"] = "respond"
            decision["reply"] = control.arguments["reply"] ?? .null
        case "ask_customer":
            decision["next_action"] = "clarify"
            decision["clarification_question"] = control.arguments["question"] ?? .null
        default:
            decision["next_action"] = "handover"
            decision["explain"] = control.arguments["reason"] ?? "handover"
        }
        return JSONValue.object(decision).serializedString()
    }

    /// Models often wrap JSON in Markdown fences despite instructions.
    static func stripFences(_ output: String) -> String {
        var text = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("```") {
            if let newline = text.firstIndex(of: "\n") { text = String(text[text.index(after: newline)...]) }
            if text.hasSuffix("```") { text = String(text.dropLast(3)) }
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Hallucinated tool names: case, punctuation and near-misses are mapped to a known tool;
/// anything further away is rejected (and the model re-prompted with the known names).
public enum ToolNames {
    public static func canonical(_ name: String, known: [String]) -> String? {
        if known.contains(name) { return name }
        let wanted = normalised(name)
        guard !wanted.isEmpty else { return nil }
        if let exact = known.first(where: { normalised($0) == wanted }) { return exact }
        // Closest by edit distance, if clearly closest and close enough (a typo, not another word).
        let scored = known.map { ($0, distance(normalised($0), wanted)) }.sorted { $0.1 < $1.1 }
        guard let best = scored.first else { return nil }
        let limit = max(1, min(3, wanted.count / 5))
        guard best.1 <= limit else { return nil }
        if scored.count > 1, scored[1].1 == best.1 { return nil }
        return best.0
    }

    /// Lower case, letters and digits only: `GetOrderStatus`, `get-order-status` and
    /// `get_order_status()` all read the same.
    static func normalised(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII }.map(Character.init))
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
