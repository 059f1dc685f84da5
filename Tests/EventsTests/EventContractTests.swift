import Privacy
import EventContracts
import Events
import Foundation
import JSON
import JSONSchema
import Testing

/// Keeps docs/events/*.json, docs/EVENTS.md and the code's EventCatalog in agreement, and checks
/// that events as the code builds them validate against the published schemas.
@Suite struct EventContractTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let eventsDir = repoRoot.appendingPathComponent("docs/events")

    static func schema(_ file: String) throws -> JSONSchema {
        let data = try Data(contentsOf: eventsDir.appendingPathComponent(file))
        return try JSONSchema(try JSONValue.parse(Array(data)))
    }

    @Test func everyCatalogTypeHasASchemaAndARowAndNothingElseDoes() throws {
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: Self.eventsDir.path).filter { $0.hasSuffix(".json") && $0 != "envelope.v1.json" })
        let expected = Set(EventCatalog.all.map { "\($0.eventType).v\($0.eventVersion).json" })
        #expect(files == expected)
        let catalogue = try String(contentsOf: Self.repoRoot.appendingPathComponent("docs/EVENTS.md"), encoding: .utf8)
        for type in EventCatalog.all {
            #expect(catalogue.contains("| \(type.eventType) | \(type.eventVersion) |"), "docs/EVENTS.md lacks a row for \(type.eventType)")
        }
    }

    @Test(arguments: EventSamples.all)
    func sampleValidatesAgainstItsSchema(sample: EventSamples.Sample) throws {
        let event = try sample.make()
        let envelope = try JSONValue.parse(EventCodec.encode(event))
        let envelopeResult = try Self.schema("envelope.v1.json").validate(envelope)
        #expect(envelopeResult.isValid, "\(envelopeResult.errors)")
        let payloadResult = try Self.schema("\(event.type).v\(event.version).json").validate(event.payload)
        #expect(payloadResult.isValid, "\(event.type): \(payloadResult.errors)")
    }

    @Test func schemasRejectWhatTheCodeWouldNotEmit() throws {
        let schema = try Self.schema("MessageReceived.v1.json")
        #expect(!schema.validate(["customer_id": "c", "text": "", "channel": "api"]).isValid)
        #expect(!schema.validate(["customer_id": "c", "text": "x", "channel": "api", "extra": 1]).isValid)
        #expect(!schema.validate(["customer_id": "c", "channel": "api"]).isValid)
    }

    /// The services check events against schemas built into their binaries
    /// (scripts/gen-event-schemas.py); those must be exactly the published files.
    @Test func theBuiltInSchemasAreThePublishedFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.eventsDir.path).filter { $0.hasSuffix(".json") }
        #expect(Set(EventContracts.schemaTexts.keys) == Set(files), "run python3 scripts/gen-event-schemas.py")
        for file in files {
            let published = try String(contentsOf: Self.eventsDir.appendingPathComponent(file), encoding: .utf8)
            #expect(EventContracts.schemaTexts[file]?.trimmingCharacters(in: .newlines) == published.trimmingCharacters(in: .newlines), "\(file) differs from its built-in copy: run python3 scripts/gen-event-schemas.py")
        }
    }

    @Test(arguments: EventSamples.all)
    func theConsumersContractAcceptsEverySample(sample: EventSamples.Sample) throws {
        let event = try sample.make()
        #expect(throws: Never.self) { try EventContracts.published.check(event) }
        #expect(try EventContracts.published.decode(EventCodec.encode(event)) == event)
    }

    @Test func theConsumersContractRefusesWhatTheTypedDecodeWouldLetThrough() throws {
        let approved = try EventSamples.message.reaction(StepApproved(planID: UUID(), stepID: UUID(), tool: "issue_refund", args: ["order_id": "DEF456"], riskTier: .read), producer: "test@1")
        func forged(_ change: (inout [String: JSONValue]) -> Void, version: Int = 1) -> EventEnvelope {
            var event = approved
            guard case .object(var payload) = event.payload else { return event }
            change(&payload)
            event.payload = .object(payload)
            event.version = version
            return event
        }
        func refusal(_ event: EventEnvelope) -> String? {
            do { try EventContracts.published.check(event); return nil } catch { return error.description }
        }
        #expect(refusal(approved) == nil)
        // An unknown field, a tier outside the enum, a customer id past its limit, a missing tool.
        #expect(refusal(forged { $0["approved_by"] = "attacker" })?.contains("StepApproved.v1.json") == true)
        #expect(refusal(forged { $0["risk_tier"] = "admin" }) != nil)
        #expect(refusal(forged { $0["customer_id"] = .string(String(repeating: "c", count: 129)) }) != nil)
        #expect(refusal(forged { $0["tool"] = nil }) != nil)
        #expect(refusal(forged({ _ in }, version: 2))?.contains("no schema is published") == true)
        // The whole path from bytes: a valid envelope with a bad payload is refused too.
        #expect(throws: EventContractViolation.self) { try EventContracts.published.decode(EventCodec.encode(forged { $0["approved_by"] = "attacker" })) }
    }

    @Test func everyCatalogTypeHasASample() {
        #expect(Set(EventSamples.all.map(\.type)) == Set(EventCatalog.all.map { $0.eventType }))
    }
}

/// One realistic instance of every v1 event type, built the way the services build them.
enum EventSamples {
    struct Sample: Sendable, CustomTestStringConvertible {
        var type: String
        var make: @Sendable () throws -> EventEnvelope
        var testDescription: String { type }
    }

    static let message = try! EventEnvelope.start(MessageReceived(customerID: "cus_1001", text: "Where is my order ABC123?"), conversationID: "conv-7", tenantID: "default", producer: "gateway@test")
    static let plan = UUID()
    static let step = UUID()
    static let preview = EffectPreview(summary: "Refund USD 80.00 of order DEF456", changes: [
        .init(target: "refunds/new", field: "amount_cents", before: nil, after: 8000),
        .init(target: "orders/DEF456", field: "refunded_cents", before: 0, after: 8000),
    ])

    static func reaction<P: EventPayload>(_ payload: P) -> Sample {
        Sample(type: P.eventType) { try message.reaction(payload, producer: "test@1") }
    }

    static let all: [Sample] = [
        Sample(type: MessageReceived.eventType) { message },
        reaction(DecisionMade(brain: "rules", intent: "order_status", confidence: 0.9, entities: ["order_id": SlotValue(value: "ABC123", source: .customer)], nextAction: .toolCalls, explain: "pattern")),
        reaction(DecisionMade(brain: "rules", intent: "refund", confidence: 0.9, entities: [:], nextAction: .toolCalls, explain: "pattern", mode: .assisted)),
        reaction(PlanProposed(planID: plan, intent: "order_status", steps: [PlanStep(stepID: step, tool: "get_order_status", args: ["order_id": "ABC123"], why: "asked")], confidence: 0.9, facts: ["order_id": "ABC123"])),
        reaction(ClarificationRequested(intent: "order_status", slot: "order_id", question: "Which order?", attempt: 1)),
        reaction(StepApproved(planID: plan, stepID: step, tool: "get_order_status", args: ["order_id": "ABC123"], riskTier: .read)),
        reaction(StepRejected(planID: plan, stepID: step, tool: "get_order_status", reason: .invalidArgs, issues: [ValidationIssue(path: "/args/order_id", message: "pattern")])),
        reaction(ToolCallStarted(planID: plan, stepID: step, tool: "get_order_status")),
        reaction(ToolSucceeded(planID: plan, stepID: step, tool: "get_order_status", result: ["order_id": "ABC123", "found": true], durationMs: 3)),
        reaction(ToolFailed(planID: plan, stepID: step, tool: "get_order_status", error: ToolError(code: "timeout", message: "slow", retriable: true), durationMs: 2000)),
        reaction(StepVerified(planID: plan, stepID: step, tool: "get_order_status", result: ["order_id": "ABC123", "found": false])),
        reaction(StepFailed(planID: plan, stepID: step, tool: "get_order_status", reason: "tool_failed", issues: [])),
        reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: "Shipped.", grounding: [step])),
        reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: "Shipped.", grounding: [step], approvalRequired: true)),
        reaction(ReplyApproved(replyID: UUID(), kind: .answer, text: "Shipped.")),
        reaction(ReplyBlocked(replyID: UUID(), kind: .answer, reason: "pii")),
        reaction(ReplyDelivered(replyID: UUID(), kind: .clarification, text: "Which order?", channel: "api")),
        reaction(HandoverRequested(reason: .unknownIntent, summary: "s", skills: ["general"])),
        reaction(HandoverQueued(queue: "general", reason: .unknownIntent, priority: 2)),
        reaction(LLMCallCompleted(provider: "openai-compatible", model: "smollm2-135m", purpose: "decision", tokensIn: 812, tokensOut: 64, costMicros: 125, latencyMs: 340, outcome: .success, cached: false)),
        reaction(RoutingDecided(
            purpose: "decision", profile: "balanced", chosen: "local-small",
            candidates: [.init(model: "local-small", score: 0.82, estimatedCostMicros: 0), .init(model: "cloud-large", score: 0.41, estimatedCostMicros: 1250)],
            rejected: [.init(model: "tiny", reason: "context_too_small", detail: "needs 2300 tokens, has 2048")],
            estimatedTokensIn: 2100, budget: "within", fallback: nil, fallbackReason: nil)),
        reaction(LLMOutputRejected(model: "local-small", attempt: 1, errors: ["/next_action: not one of tool_calls, clarify, respond, handover"], next: "repair")),
        reaction(BrainFellBack(to: "rules", reason: "invalid_output", tried: ["local-small", "cloud-large"])),
        Sample(type: "MemoryConsentChanged") {
            try EventEnvelope.start(MemoryConsentChanged(customerID: "cus_1001", granted: true, ttlSeconds: 7_776_000), conversationID: "customer:cus_1001", tenantID: "default", producer: "gateway@test")
        },
        Sample(type: "AnswerByEmailRequested") {
            try EventEnvelope.start(
                AnswerByEmailRequested(
                    customerID: "cus_1001", text: "Where is ABC123? Card [CARD]",
                    sealed: SealedText(alg: "A256GCM", nonce: "bm9uY2Vub25jZTEy", ciphertext: "c2VhbGVkIG9yaWdpbmFs", keyRef: "default/cus_1001")),
                conversationID: "conv-9", tenantID: "default", producer: "gateway@test")
        },
        Sample(type: "CustomerErased") {
            try EventEnvelope.start(CustomerErased(customerID: "cus_1001"), conversationID: "customer:cus_1001", tenantID: "default", producer: "gateway@test")
        },
        Sample(type: "MessageReceived") {
            try EventEnvelope.start(
                MessageReceived(
                    customerID: "cus_1001", text: "Email me at [EMAIL] about ABC123",
                    sealed: SealedText(alg: "A256GCM", nonce: "bm9uY2Vub25jZTEy", ciphertext: "c2VhbGVkIG9yaWdpbmFs", keyRef: "default/cus_1001"),
                    redactions: ["email": 1]),
                conversationID: "conv-8", tenantID: "default", producer: "gateway@test")
        },
        reaction(FactRetracted(name: "order_id", value: "ZZZ999", reason: "get_order_status found nothing for it")),
        Sample(type: "KnowledgeDocumentPublished") {
            try EventEnvelope.start(KnowledgeDocumentPublished(
                collection: "help-centre", documentID: "help-centre:doc_0a1b", title: "Refunds", source: "refunds.md",
                contentHash: String(repeating: "ab", count: 32),
                chunks: [.init(chunkID: "doc_0a1b-0-5f3c", ordinal: 0, headingPath: ["Refunds", "Timing"], text: "Refunds take 5 to 10 days.", tokenCount: 8)]),
                conversationID: "kb:help-centre", tenantID: "default", producer: "switchboard-kb@test")
        },
        reaction(DryRunRequested(planID: plan, stepID: step, tool: "create_refund", args: ["order_id": "DEF456", "amount": 80], riskTier: .highRiskWrite, reason: "args.amount > tenant.auto_refund_limit")),
        reaction(DryRunCompleted(planID: plan, stepID: step, tool: "create_refund", args: ["order_id": "DEF456", "amount": 80], riskTier: .highRiskWrite, reason: "over the limit", preview: preview)),
        reaction(ApprovalRequested(approvalID: UUID(), planID: plan, stepID: step, tool: "create_refund", args: ["order_id": "DEF456", "amount": 80], riskTier: .highRiskWrite, reason: "over the limit", preview: preview, timeoutSeconds: 900)),
        reaction(ApprovalGranted(approvalID: UUID(), stepID: step, decidedBy: "agent_ana", note: "customer is a regular")),
        reaction(ApprovalDenied(approvalID: UUID(), stepID: step, decidedBy: "agent_ana", reason: "already refunded by phone")),
        reaction(ApprovalExpired(approvalID: UUID(), stepID: step)),
        reaction(HandoverClaimed(handoverID: message.correlationID, agentID: "agent_ana", queue: "billing")),
        reaction(AgentReplied(handoverID: message.correlationID, messageID: UUID(), agentID: "agent_ana", text: "I've refunded the shipping fee.")),
        reaction(InternalNoteAdded(handoverID: message.correlationID, noteID: UUID(), agentID: "agent_ana", text: "Customer was double charged in March too.")),
        reaction(HandoverTransferred(handoverID: message.correlationID, fromAgent: "agent_ana", toAgent: nil, toQueue: "tech", note: "router problem")),
        reaction(HandoverReleased(handoverID: message.correlationID, agentID: "agent_ana", cause: .heartbeatMissed)),
        reaction(ConversationResolved(handoverID: message.correlationID, agentID: "agent_ana", note: "refunded")),
        reaction(HandedBackToAI(handoverID: message.correlationID, agentID: "agent_ana", note: "Refund done; the customer may ask about delivery.")),
        reaction(HandoverSLABreached(handoverID: message.correlationID, queue: "billing", waitedSeconds: 310, slaSeconds: 300, priority: 0)),
        reaction(ShadowDecisionRecorded(
            production: .init(brain: "rules", intent: "order_status", nextAction: .toolCalls, steps: [.init(tool: "get_order_status", args: ["order_id": "ABC123"])], reply: nil),
            candidate: .init(brain: "gpt-small", intent: "order_status", nextAction: .toolCalls, steps: [.init(tool: "get_order_status", args: ["order_id": "ABC123"])], reply: nil),
            failure: nil)),
        reaction(ShadowDecisionRecorded(
            production: .init(brain: "rules", intent: "greeting", nextAction: .respond, steps: [], reply: "Hello!"), candidate: nil, failure: "invalid_output")),
        Sample(type: "KnowledgeCollectionSynced") {
            try EventEnvelope.start(KnowledgeCollectionSynced(collection: "help-centre", documentIDs: ["help-centre:doc_0a1b"]), conversationID: "kb:help-centre", tenantID: "default", producer: "switchboard-kb@test")
        },
    ]
}

/// Typed payloads decode through `JSONValueDecoder` and encode through `JSONValueEncoder`;
/// every sample must agree with what Foundation's `JSONDecoder` and `JSONEncoder` do.
@Suite struct PayloadDecodingTests {
    @Test(arguments: EventSamples.all)
    func typedCodingMatchesFoundation(sample: EventSamples.Sample) throws {
        let event = try sample.make()
        guard let type = EventCatalog.all.first(where: { $0.eventType == event.type }) else {
            Issue.record("no catalog entry for \(event.type)")
            return
        }
        func check<P: EventPayload>(_: P.Type) throws {
            let ours = try event.decode(P.self)
            let foundation = try JSONDecoder().decode(P.self, from: Data(event.payload.serialized()))
            #expect(ours == foundation)
            // Payloads are encoded by `JSONValueEncoder`: exactly as Foundation's `JSONEncoder`
            // (parsed), so the log's bytes did not change with it.
            #expect(try JSONValueEncoder().encode(ours) == JSONValue.parse(Array(JSONEncoder().encode(ours))))
            #expect(try ours.jsonValue() == event.payload)
        }
        try check(type)
    }

    @Test func canonicalUUIDTextRoundTripsAndRejectsMalformed() throws {
        for _ in 0..<100 {
            let id = UUID()
            #expect(id.lowercaseString == id.uuidString.lowercased())
            #expect(UUID(canonical: id.lowercaseString) == id)
            #expect(UUID(canonical: id.uuidString) == id)
        }
        for bad in ["", "not-a-uuid", "5b1f3c8e2d4a4f7b9c1e8a2b3c4d5e6f", "5b1f3c8e-2d4a-4f7b-9c1e-8a2b3c4d5e6g", "5b1f3c8e-2d4a-4f7b-9c1e_8a2b3c4d5e6f", "5b1f3c8e-2d4a-4f7b-9c1e-8a2b3c4d5e6f0"] {
            #expect(UUID(canonical: bad) == nil, "\(bad)")
        }
    }

    @Test func traceparentParsingIsStrict() {
        #expect(TraceContext(parsing: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceContext(parsing: "00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceContext(parsing: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") == nil)
        #expect(TraceContext(parsing: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceContext(parsing: "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01") == nil)
        #expect(TraceContext(parsing: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-") == nil)
    }
}
