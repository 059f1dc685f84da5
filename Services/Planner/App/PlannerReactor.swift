import DomainPack
import EventBus
public import Events
import Foundation
import JSON
import Kafka
public import Knowledge
public import Logging
public import Postgres
import ServiceRuntime

/// The planner's side of a turn (DESIGN.md §4 steps 2 and 5): reacts to customer messages,
/// verified or failed steps, rejections and blocked replies; appends decisions, plans,
/// clarifications, drafted replies and handovers.
///
/// Effectively-once: outputs carry ids derived from the causing event, are appended before the
/// state change commits, and the event id is recorded with that commit. A crash in between
/// re-runs the handler on unchanged state, so it appends the same ids again, which readers drop.
public struct PlannerReactor: Sendable {
    public static let interestedIn: Set<String> = [
        MessageReceived.eventType, StepVerified.eventType, StepFailed.eventType,
        StepRejected.eventType, ReplyBlocked.eventType, MemoryConsentChanged.eventType,
    ]

    let brain: RulesBrain
    /// nil: no model configured; the rules brain decides alone.
    let llm: LLMBrain?
    /// Retrieval for both brains; nil disables it.
    let knowledge: KnowledgeIndex?
    /// Slots the pack marks `remember`: with none (the retail pack), customer memory is never
    /// looked up.
    let rememberedSlots: Set<String>
    let pool: PostgresPool
    let publish: @Sendable ([EventEnvelope]) async throws -> Void
    let producer: String
    let logger: Logger

    public init(brain: RulesBrain, llm: LLMBrain? = nil, knowledge: KnowledgeIndex? = nil, pool: PostgresPool, producer: String, logger: Logger, publish: @escaping @Sendable ([EventEnvelope]) async throws -> Void) {
        self.brain = brain
        self.llm = llm
        self.knowledge = knowledge
        self.rememberedSlots = Set(brain.pack.intents.flatMap { $0.slots.filter(\.remember).map(\.name) })
        self.pool = pool
        self.producer = producer
        self.logger = logger
        self.publish = publish
    }

    public func handle(_ event: EventEnvelope) async throws {
        if try await PlannerStore.isProcessed(event.id, pool: pool) { return }
        switch event.type {
        case MessageReceived.eventType: try await onMessage(event, try event.decode(MessageReceived.self))
        case MemoryConsentChanged.eventType:
            try await PlannerStore.recordConsent(event: event, try event.decode(MemoryConsentChanged.self), pool: pool)
        case StepVerified.eventType: try await onStepVerified(event, try event.decode(StepVerified.self))
        case StepFailed.eventType:
            let failed = try event.decode(StepFailed.self)
            try await handOver(after: event, reason: "tool_failed", text: brain.pack.replies.toolFailed.render([:]), summary: "Tool \(failed.tool) failed (\(failed.reason)).", planID: failed.planID)
        case StepRejected.eventType:
            let rejected = try event.decode(StepRejected.self)
            try await handOver(after: event, reason: "step_rejected", text: brain.pack.replies.stepRejected.render([:]), summary: "Step \(rejected.tool) was rejected (\(rejected.reason)).", planID: rejected.planID)
        case ReplyBlocked.eventType:
            let blocked = try event.decode(ReplyBlocked.self)
            // A blocked fallback is not redrafted: that could loop. The handover still happens.
            let text: String? = blocked.kind == .fallback || blocked.kind == .handover ? nil : brain.pack.replies.replyBlocked.render([:])
            try await handOver(after: event, reason: "reply_blocked", text: text, summary: "A drafted reply was blocked (\(blocked.reason)).", planID: nil)
        default:
            return
        }
    }

    func onMessage(_ event: EventEnvelope, _ message: MessageReceived) async throws {
        // A model answers differently each time: what was decided for this message is kept
        // until the message is marked handled, so a re-run after a crash appends exactly the
        // same events (same ids, same content) instead of a second, different decision.
        if llm != nil, let journaled = try await PlannerStore.loadJournal(event.id, pool: pool) {
            try await publish(journaled.outputs)
            try await PlannerStore.commit(event: event, state: journaled.state, newTurn: journaled.turn, pool: pool)
            return
        }
        var state = try await PlannerStore.loadState(event.conversationID, pool: pool)
        state.customerID = message.customerID
        // A new conversation starts with what a consenting customer told us before (profile
        // facts the pack marks `remember`), so it is not asked again.
        var remembered: [String] = []
        if !rememberedSlots.isEmpty, state.slots.isEmpty, state.recent.isEmpty {
            for (name, value) in try await PlannerStore.memory(tenant: event.tenantID, customer: message.customerID, pool: pool) {
                state.slots[name] = SlotValue(value: value, source: .customer)
                remembered.append(name)
            }
        }
        var brainName = "rules"
        var outputs: [EventEnvelope] = []
        var decision: BrainDecision
        if let llm {
            let retrieved = await retrieve(message.text)
            let episodes = try await PlannerStore.episodes(tenant: event.tenantID, customer: message.customerID, excluding: event.conversationID, similarTo: message.text, pool: pool)
            let outcome = await llm.decide(text: message.text, state: state, tenant: event.tenantID, conversation: event.conversationID, knowledge: retrieved?.hits ?? [], episodes: episodes)
            for (index, payload) in outcome.events.enumerated() {
                outputs.append(try event.reaction(payload, producer: producer, label: "brain/\(index)"))
            }
            if let decided = outcome.decision, let model = outcome.model {
                decision = SlotDiscipline(pack: brain.pack).apply(to: decided, text: message.text)
                brainName = model
                if !outcome.notes.isEmpty { decision.explain += " (" + outcome.notes.joined(separator: "; ") + ")" }
            } else {
                decision = await answerFromKnowledge(brain.decide(text: message.text, state: state), question: message.text, retrieved: retrieved)
            }
        } else {
            // Retrieval only when no intent covers the message: most turns never need it.
            decision = await answerFromKnowledge(brain.decide(text: message.text, state: state), question: message.text, retrieved: nil)
        }
        if !remembered.isEmpty { decision.explain += "; remembered from earlier conversations: " + remembered.sorted().joined(separator: ", ") }
        outputs.append(try event.reaction(DecisionMade(
            brain: brainName, intent: decision.intent, confidence: decision.confidence,
            entities: decision.state.slots, nextAction: decision.nextAction, explain: decision.explain
        ), producer: producer))
        state = decision.state
        let memory = state.slots.filter { rememberedSlots.contains($0.key) && $0.value.source == .customer }.mapValues(\.value)
        state.remember("customer", message.text)
        var turn: PlannerStore.Turn?
        switch decision.action {
        case .plan(let steps):
            let planID = DerivedID.make(from: event.id, label: "plan")
            let planSteps = steps.enumerated().map { index, step in
                PlanStep(stepID: DerivedID.make(from: planID, label: "step/\(index)"), tool: step.tool, args: step.args, why: step.why)
            }
            outputs.append(try event.reaction(PlanProposed(planID: planID, intent: decision.intent, steps: planSteps), producer: producer))
            turn = PlannerStore.Turn(planID: planID, turnID: event.correlationID, conversationID: event.conversationID, intent: decision.intent, stepIDs: planSteps.map(\.stepID), steps: planSteps)
        case .clarify(let slot, let question, let attempt):
            outputs.append(try event.reaction(ClarificationRequested(intent: decision.intent, slot: slot, question: question, attempt: attempt), producer: producer))
            outputs.append(try event.reaction(ReplyDrafted(replyID: DerivedID.make(from: event.id, label: "reply"), kind: .clarification, text: question, grounding: []), producer: producer))
            state.remember("assistant", question)
        case .respond(let text):
            outputs.append(try event.reaction(ReplyDrafted(replyID: DerivedID.make(from: event.id, label: "reply"), kind: .answer, text: text, grounding: []), producer: producer))
            state.remember("assistant", text)
        case .handover(let reason, let text, let skills):
            outputs.append(try event.reaction(ReplyDrafted(replyID: DerivedID.make(from: event.id, label: "reply"), kind: .handover, text: text, grounding: []), producer: producer))
            outputs.append(try event.reaction(HandoverRequested(reason: reason, summary: "Customer asked: intent \(decision.intent); \(decision.explain).", skills: skills), producer: producer))
            state.remember("assistant", text)
        }
        if llm != nil { try await PlannerStore.journal(event: event, outputs: outputs, state: state, turn: turn, pool: pool) }
        try await publish(outputs)
        let outcomeText: String
        switch decision.action {
        case .plan(let steps): outcomeText = "planned " + steps.map(\.tool).joined(separator: ", ")
        case .clarify(_, let question, _): outcomeText = "asked: " + Self.clip(question)
        case .respond(let text): outcomeText = "answered: " + Self.clip(text)
        case .handover(let reason, _, _): outcomeText = "handed over (\(reason))"
        }
        var tools: [String] = []
        if case .plan(let steps) = decision.action { tools = steps.map(\.tool) }
        try await PlannerStore.commit(
            event: event, state: state, newTurn: turn,
            memory: PlannerStore.MemoryWrite(tenant: event.tenantID, customer: message.customerID, facts: memory, at: event.occurredAt),
            episode: PlannerStore.Episode(
                tenant: event.tenantID, customer: message.customerID, turnID: event.correlationID, conversationID: event.conversationID,
                request: message.text, intent: decision.intent, tools: tools, outcome: outcomeText, at: event.occurredAt),
            pool: pool)
        logger.info("decided", metadata: ["conversation.id": "\(event.conversationID)", "turn.id": "\(event.correlationID)", "brain": "\(brainName)", "intent": "\(decision.intent)", "next_action": "\(decision.nextAction.rawValue)"])
    }

    /// Top passages for the message (20 by full-text search, reranked to 5). Retrieval is an
    /// aid: when it fails the brains decide without it.
    func retrieve(_ text: String) async -> KnowledgeRetrieval? {
        guard let knowledge else { return nil }
        do {
            return try await knowledge.retrieve(text, candidates: 20, limit: 5)
        } catch {
            logger.warning("knowledge retrieval failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The rules brain, offline, for a question no intent covers: when every word of the
    /// question matches a passage, answer with it and say where it is from, rather than hand
    /// over. A weaker match still goes to a human.
    func answerFromKnowledge(_ decision: BrainDecision, question: String, retrieved: KnowledgeRetrieval?) async -> BrainDecision {
        guard decision.intent == RulesBrain.unknownIntent else { return decision }
        let found: KnowledgeRetrieval?
        if let retrieved { found = retrieved } else { found = await retrieve(question) }
        guard let found, found.mode == .allTerms, let best = found.hits.first else {
            return decision
        }
        var answered = decision
        answered.intent = "knowledge_answer"
        answered.confidence = 0.6
        answered.action = .respond(text: "According to \(best.title): \(KnowledgeExcerpt.make(best.text))")
        answered.explain = "no intent matched; every word of the question matched \(best.source)"
        return answered
    }

    static func clip(_ text: String) -> String { text.count > 160 ? String(text.prefix(157)) + "..." : text }

    func onStepVerified(_ event: EventEnvelope, _ verified: StepVerified) async throws {
        guard var turn = try await PlannerStore.loadTurn(planID: verified.planID, pool: pool) else {
            throw PermanentEventError("no plan \(verified.planID) for verified step \(verified.stepID)")
        }
        turn.results[verified.stepID] = verified.result
        guard turn.stepIDs.allSatisfy({ turn.results[$0] != nil }) else {
            try await PlannerStore.commit(event: event, state: nil, updatedTurn: turn, pool: pool)
            return
        }
        if llm != nil, let journaled = try await PlannerStore.loadJournal(event.id, pool: pool) {
            try await publish(journaled.outputs)
            try await PlannerStore.commit(event: event, state: journaled.state, newTurn: journaled.turn, updatedTurn: turn, pool: pool)
            return
        }
        var state = try await PlannerStore.loadState(event.conversationID, pool: pool)
        var outputs: [EventEnvelope] = []
        var newTurn: PlannerStore.Turn?
        let replyID = DerivedID.make(from: turn.planID, label: "reply")
        // An inferred value a tool found nothing for was a wrong guess: take it back, so the
        // next question asks the customer instead.
        for (index, step) in turn.steps.enumerated() where index < turn.stepIDs.count {
            guard turn.results[turn.stepIDs[index]]?["found"] == .bool(false), case .object(let args) = step.args else { continue }
            for (name, value) in args.sorted(by: { $0.key < $1.key }) {
                guard let slot = state.slots[name], slot.source == .inferred, value.stringValue == slot.value else { continue }
                state.slots[name] = nil
                outputs.append(try event.reaction(
                    FactRetracted(name: name, value: slot.value, reason: "\(step.tool) found nothing for it"), producer: producer, label: "retract/\(name)"))
            }
        }
        if let llm, let spec = brain.pack.intent(named: turn.intent), spec.strategy != .singleShot, !turn.steps.isEmpty {
            // The model sees the results and answers from them, calls more tools, or hands over.
            let roundsLeft = spec.maxIterations - turn.iteration - 1
            let customerText = state.recent.last(where: { $0.role == "customer" })?.text ?? ""
            let outcome = await llm.reflect(
                text: customerText, state: state, strategy: spec.strategy, plan: turn.steps,
                results: turn.stepIDs.map { turn.results[$0] ?? .null }, roundsLeft: roundsLeft,
                tenant: event.tenantID, conversation: event.conversationID)
            for (index, payload) in outcome.events.enumerated() {
                outputs.append(try event.reaction(payload, producer: producer, label: "brain/\(index)"))
            }
            if let decision = outcome.decision, let model = outcome.model {
                outputs.append(try event.reaction(DecisionMade(
                    brain: model, intent: turn.intent, confidence: decision.confidence, entities: decision.state.slots,
                    nextAction: decision.nextAction, explain: decision.explain), producer: producer))
                switch decision.action {
                case .respond(let text):
                    outputs.append(try event.reaction(ReplyDrafted(replyID: replyID, kind: .answer, text: text, grounding: turn.stepIDs), producer: producer))
                    state.remember("assistant", text)
                case .plan(let steps) where roundsLeft > 0:
                    let planID = DerivedID.make(from: event.id, label: "plan")
                    let planSteps = steps.enumerated().map { index, step in
                        PlanStep(stepID: DerivedID.make(from: planID, label: "step/\(index)"), tool: step.tool, args: step.args, why: step.why)
                    }
                    outputs.append(try event.reaction(PlanProposed(planID: planID, intent: turn.intent, steps: planSteps), producer: producer))
                    newTurn = PlannerStore.Turn(
                        planID: planID, turnID: turn.turnID, conversationID: turn.conversationID, intent: turn.intent,
                        stepIDs: planSteps.map(\.stepID), steps: planSteps, iteration: turn.iteration + 1)
                case .handover(let reason, let text, let skills):
                    outputs.append(try event.reaction(ReplyDrafted(replyID: replyID, kind: .handover, text: text, grounding: []), producer: producer))
                    outputs.append(try event.reaction(HandoverRequested(reason: reason, summary: "After tool results: \(decision.explain)", skills: skills), producer: producer))
                    state.remember("assistant", text)
                default:
                    // Out of rounds (or a question after tools ran): the pack's template answers.
                    try templateAnswer()
                }
            } else {
                try templateAnswer()
            }
        } else {
            try templateAnswer()
        }

        /// Single-shot, and every fallback: the pack's answer template for the last result.
        func templateAnswer() throws {
            let last = turn.results[turn.stepIDs.last!]!
            if let text = brain.answer(intent: turn.intent, result: last, state: state) {
                outputs.append(try event.reaction(ReplyDrafted(replyID: replyID, kind: .answer, text: text, grounding: turn.stepIDs), producer: producer))
                state.remember("assistant", text)
            } else {
                outputs.append(try event.reaction(ReplyDrafted(replyID: replyID, kind: .handover, text: brain.pack.replies.toolFailed.render([:]), grounding: []), producer: producer))
                outputs.append(try event.reaction(HandoverRequested(reason: "no_answer_template", summary: "No answer template matched the result of \(verified.tool).", skills: ["general"]), producer: producer))
            }
        }

        if llm != nil { try await PlannerStore.journal(event: event, outputs: outputs, state: state, turn: newTurn, pool: pool) }
        try await publish(outputs)
        // The turn's episode gets its outcome (a reply, or a hand-over) once a round ends.
        var episode: PlannerStore.Episode?
        if let customer = state.customerID, newTurn == nil, let last = outputs.last(where: { $0.type == ReplyDrafted.eventType }) {
            let drafted = try last.decode(ReplyDrafted.self)
            episode = PlannerStore.Episode(
                tenant: event.tenantID, customer: customer, turnID: turn.turnID, conversationID: event.conversationID,
                request: state.recent.last(where: { $0.role == "customer" })?.text ?? "", intent: turn.intent,
                tools: turn.steps.map(\.tool), outcome: drafted.kind == .answer ? "answered: " + Self.clip(drafted.text) : "handed over", at: event.occurredAt)
        }
        try await PlannerStore.commit(event: event, state: state, newTurn: newTurn, updatedTurn: turn, episode: episode, pool: pool)
    }

    func handOver(after event: EventEnvelope, reason: String, text: String?, summary: String, planID: UUID?) async throws {
        var outputs: [EventEnvelope] = []
        if let text {
            outputs.append(try event.reaction(ReplyDrafted(replyID: DerivedID.make(from: event.id, label: "reply"), kind: .fallback, text: text, grounding: []), producer: producer))
        }
        outputs.append(try event.reaction(HandoverRequested(reason: reason, summary: summary, skills: ["general"]), producer: producer))
        try await publish(outputs)
        try await PlannerStore.commit(event: event, state: nil, pool: pool)
    }
}

/// The planner's own tables (schema `planner`): case state per conversation, plans per turn,
/// and the ids of events already handled.
enum PlannerStore {
    struct Turn: Sendable {
        var planID: UUID
        var turnID: UUID
        var conversationID: String
        var intent: String
        var stepIDs: [UUID]
        /// The plan as proposed (for a model's next round).
        var steps: [PlanStep] = []
        /// Model rounds after the first plan (react / plan_execute_reflect).
        var iteration = 0
        var results: [UUID: JSONValue] = [:]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "planner_state", sql: """
            CREATE TABLE processed_events (
                event_id uuid PRIMARY KEY,
                event_type text NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE conversations (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                state jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE turns (
                plan_id uuid PRIMARY KEY,
                turn_id uuid NOT NULL,
                conversation_id text NOT NULL,
                intent text NOT NULL,
                step_ids jsonb NOT NULL,
                results jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX turns_conversation ON turns (conversation_id);
            """),
        Migration(version: 2, name: "decision_journal", sql: """
            ALTER TABLE turns ADD COLUMN steps jsonb NOT NULL DEFAULT '[]', ADD COLUMN iteration integer NOT NULL DEFAULT 0;
            CREATE TABLE customer_consent (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                granted boolean NOT NULL,
                ttl_seconds integer NOT NULL,
                changed_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, customer_id)
            );
            CREATE TABLE customer_memory (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                name text NOT NULL,
                value text NOT NULL,
                said_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, customer_id, name)
            );
            CREATE TABLE episodes (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                turn_id uuid NOT NULL,
                conversation_id text NOT NULL,
                request text NOT NULL,
                intent text NOT NULL,
                tools text NOT NULL,
                outcome text NOT NULL,
                at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, customer_id, turn_id)
            );
            CREATE TABLE decision_journal (
                event_id uuid PRIMARY KEY,
                outputs jsonb NOT NULL,
                state jsonb NOT NULL,
                turn jsonb,
                recorded_at timestamptz NOT NULL DEFAULT now()
            );
            """),
    ]

    static func isProcessed(_ id: UUID, pool: PostgresPool) async throws -> Bool {
        try await pool.query("SELECT 1 FROM planner.processed_events WHERE event_id = \(id)").count > 0
    }

    static func loadState(_ conversationID: String, pool: PostgresPool) async throws -> ConversationState {
        let rows = try await pool.query("SELECT state::text AS state FROM planner.conversations WHERE conversation_id = \(conversationID)")
        guard let row = rows.first(where: { _ in true }) else { return ConversationState() }
        return try JSONDecoder().decode(ConversationState.self, from: Data(try row.decode("state", as: String.self).utf8))
    }

    static func loadTurn(planID: UUID, pool: PostgresPool) async throws -> Turn? {
        let rows = try await pool.query("SELECT turn_id, conversation_id, intent, step_ids::text AS step_ids, steps::text AS steps, iteration, results::text AS results FROM planner.turns WHERE plan_id = \(planID)")
        guard let row = rows.first(where: { _ in true }) else { return nil }
        let stepIDs = try JSONDecoder().decode([UUID].self, from: Data(try row.decode("step_ids", as: String.self).utf8))
        let results = try JSONValue.parse(Array(try row.decode("results", as: String.self).utf8))
        let steps = try JSONDecoder().decode([PlanStep].self, from: Data(try row.decode("steps", as: String.self).utf8))
        var turn = Turn(
            planID: planID, turnID: try row.decode("turn_id", as: UUID.self), conversationID: try row.decode("conversation_id", as: String.self),
            intent: try row.decode("intent", as: String.self), stepIDs: stepIDs, steps: steps, iteration: try row.decode("iteration", as: Int.self))
        if case .object(let object) = results {
            for (key, value) in object { if let id = UUID(uuidString: key) { turn.results[id] = value } }
        }
        return turn
    }

    /// Profile facts to remember for a customer; written only if the customer consented.
    struct MemoryWrite {
        var tenant: String
        var customer: String
        var facts: [String: String]
        var at: Date
    }

    /// A consent change: withdrawal erases what was remembered, in the same transaction.
    static func recordConsent(event: EventEnvelope, _ consent: MemoryConsentChanged, pool: PostgresPool) async throws {
        try await pool.transaction { connection in
            let inserted = try connection.query("INSERT INTO planner.processed_events (event_id, event_type) VALUES (\(event.id), \(event.type)) ON CONFLICT DO NOTHING")
            guard inserted.affectedRows == 1 else { return }
            try connection.query("""
                INSERT INTO planner.customer_consent (tenant_id, customer_id, granted, ttl_seconds, changed_at)
                VALUES (\(event.tenantID), \(consent.customerID), \(consent.granted), \(consent.ttlSeconds), \(event.occurredAt))
                ON CONFLICT (tenant_id, customer_id) DO UPDATE SET granted = EXCLUDED.granted, ttl_seconds = EXCLUDED.ttl_seconds, changed_at = EXCLUDED.changed_at
                WHERE customer_consent.changed_at <= EXCLUDED.changed_at
                """)
            if !consent.granted {
                try connection.query("DELETE FROM planner.customer_memory WHERE tenant_id = \(event.tenantID) AND customer_id = \(consent.customerID)")
                try connection.query("DELETE FROM planner.episodes WHERE tenant_id = \(event.tenantID) AND customer_id = \(consent.customerID)")
            }
        }
    }

    /// What a consenting customer told us before and has not expired (expired facts of the
    /// customer are deleted on the way).
    static func memory(tenant: String, customer: String, pool: PostgresPool) async throws -> [(String, String)] {
        try await pool.transaction { connection in
            try connection.query("DELETE FROM planner.customer_memory WHERE tenant_id = \(tenant) AND customer_id = \(customer) AND expires_at <= now()")
            return try connection.query("""
                SELECT m.name, m.value FROM planner.customer_memory m
                JOIN planner.customer_consent c ON c.tenant_id = m.tenant_id AND c.customer_id = m.customer_id AND c.granted
                WHERE m.tenant_id = \(tenant) AND m.customer_id = \(customer) ORDER BY m.name
                """).map { (try $0.decode("name", as: String.self), try $0.decode("value", as: String.self)) }
        }
    }

    /// One finished turn of a consenting customer: what they asked, what was done, how it ended.
    struct Episode {
        var tenant: String
        var customer: String
        var turnID: UUID
        var conversationID: String
        var request: String
        var intent: String
        var tools: [String]
        var outcome: String
        var at: Date
    }

    /// Past turns of the customer (other conversations) most similar to `text` by full-text
    /// rank, newest first among equals; nothing without consent.
    static func episodes(tenant: String, customer: String, excluding conversation: String, similarTo text: String, pool: PostgresPool) async throws -> [String] {
        let rows = try await pool.query("""
            SELECT e.at, e.request, e.intent, e.tools, e.outcome,
                   ts_rank(to_tsvector('english', e.request), replace(plainto_tsquery('english', \(text))::text, '&', '|')::tsquery) AS rank
            FROM planner.episodes e
            JOIN planner.customer_consent c ON c.tenant_id = e.tenant_id AND c.customer_id = e.customer_id AND c.granted
            WHERE e.tenant_id = \(tenant) AND e.customer_id = \(customer) AND e.conversation_id <> \(conversation) AND e.expires_at > now()
            ORDER BY rank DESC, e.at DESC LIMIT 3
            """)
        return try rows.compactMap { row in
            guard try row.decode("rank", as: Double.self) > 0 else { return nil }
            let at = try row.decode("at", as: Date.self)
            let tools = try row.decode("tools", as: String.self)
            return "\(Timestamp.format(millis: Int64(at.timeIntervalSince1970 * 1000)).prefix(10)): asked \"\(try row.decode("request", as: String.self))\"; "
                + "intent \(try row.decode("intent", as: String.self))\(tools.isEmpty ? "" : ", tools " + tools); \(try row.decode("outcome", as: String.self))"
        }
    }

    /// What was decided for a message, before its events are appended (see `onMessage`).
    struct Journaled {
        var outputs: [EventEnvelope]
        var state: ConversationState
        var turn: Turn?
    }

    static func journal(event: EventEnvelope, outputs: [EventEnvelope], state: ConversationState, turn: Turn?, pool: PostgresPool) async throws {
        let outputsJSON = JSONValue.array(try outputs.map { try JSONValue.parse(EventCodec.encode($0)) }).serializedString()
        let stateJSON = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        let turnJSON: String? = try turn.map { turn in
            JSONValue.object([
                "plan_id": .string(turn.planID.lowercaseString), "turn_id": .string(turn.turnID.lowercaseString),
                "conversation_id": .string(turn.conversationID), "intent": .string(turn.intent),
                "step_ids": .array(turn.stepIDs.map { .string($0.lowercaseString) }),
                "steps": try JSONValue.parse(try JSONEncoder().encode(turn.steps)), "iteration": .number(Double(turn.iteration)),
            ]).serializedString()
        }
        try await pool.query("""
            INSERT INTO planner.decision_journal (event_id, outputs, state, turn) VALUES (\(event.id), \(outputsJSON)::jsonb, \(stateJSON)::jsonb, \(turnJSON)::jsonb)
            ON CONFLICT (event_id) DO NOTHING
            """)
    }

    static func loadJournal(_ eventID: UUID, pool: PostgresPool) async throws -> Journaled? {
        let rows = try await pool.query("SELECT outputs::text AS outputs, state::text AS state, turn::text AS turn FROM planner.decision_journal WHERE event_id = \(eventID)")
        guard let row = rows.first(where: { _ in true }) else { return nil }
        let outputs = try (JSONValue.parse(try row.decode("outputs", as: String.self)).arrayValue ?? []).map { try EventCodec.decode($0.serialized()) }
        let state = try JSONDecoder().decode(ConversationState.self, from: Data(try row.decode("state", as: String.self).utf8))
        var turn: Turn?
        if let text = try row.decode("turn", as: String?.self) {
            let value = try JSONValue.parse(text)
            if let plan = value["plan_id"]?.stringValue.flatMap(UUID.init(canonical:)), let turnID = value["turn_id"]?.stringValue.flatMap(UUID.init(canonical:)) {
                turn = Turn(
                    planID: plan, turnID: turnID, conversationID: value["conversation_id"]?.stringValue ?? "", intent: value["intent"]?.stringValue ?? "",
                    stepIDs: (value["step_ids"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(UUID.init(canonical:)) },
                    steps: try JSONValueDecoder().decode([PlanStep].self, from: value["steps"] ?? []), iteration: value["iteration"]?.intValue ?? 0)
            }
        }
        return Journaled(outputs: outputs, state: state, turn: turn)
    }

    /// Records the event as handled together with the state it produced, in one transaction.
    static func commit(event: EventEnvelope, state: ConversationState?, newTurn: Turn? = nil, updatedTurn: Turn? = nil, memory: MemoryWrite? = nil, episode: Episode? = nil, pool: PostgresPool) async throws {
        let stateJSON = try state.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        let newTurnJSON = try newTurn.map { String(decoding: try JSONEncoder().encode($0.stepIDs), as: UTF8.self) }
        let newTurnStepsJSON = try newTurn.map { String(decoding: try JSONEncoder().encode($0.steps), as: UTF8.self) } ?? "[]"
        let resultsJSON = updatedTurn.map { turn in
            String(decoding: JSONValue.object(Dictionary(uniqueKeysWithValues: turn.results.map { ($0.key.uuidString, $0.value) })).serialized(), as: UTF8.self)
        }
        try await pool.transaction { connection in
            let inserted = try connection.query("INSERT INTO planner.processed_events (event_id, event_type) VALUES (\(event.id), \(event.type)) ON CONFLICT DO NOTHING")
            // Another instance handled it meanwhile (a rebalance overlap): keep its result.
            guard inserted.affectedRows == 1 else { return }
            try connection.query("DELETE FROM planner.decision_journal WHERE event_id = \(event.id)")
            if let stateJSON {
                try connection.query("""
                    INSERT INTO planner.conversations (conversation_id, tenant_id, state) VALUES (\(event.conversationID), \(event.tenantID), \(stateJSON)::jsonb)
                    ON CONFLICT (conversation_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
                    """)
            }
            if let newTurn, let newTurnJSON {
                try connection.query("""
                    INSERT INTO planner.turns (plan_id, turn_id, conversation_id, intent, step_ids, steps, iteration)
                    VALUES (\(newTurn.planID), \(newTurn.turnID), \(newTurn.conversationID), \(newTurn.intent), \(newTurnJSON)::jsonb, \(newTurnStepsJSON)::jsonb, \(newTurn.iteration))
                    ON CONFLICT (plan_id) DO NOTHING
                    """)
            }
            if let memory {
                for (name, value) in memory.facts.sorted(by: { $0.key < $1.key }) {
                    try connection.query("""
                        INSERT INTO planner.customer_memory (tenant_id, customer_id, name, value, said_at, expires_at)
                        SELECT c.tenant_id, c.customer_id, \(name), \(value), \(memory.at), \(memory.at)::timestamptz + make_interval(secs => c.ttl_seconds)
                        FROM planner.customer_consent c WHERE c.tenant_id = \(memory.tenant) AND c.customer_id = \(memory.customer) AND c.granted
                        ON CONFLICT (tenant_id, customer_id, name) DO UPDATE SET value = EXCLUDED.value, said_at = EXCLUDED.said_at, expires_at = EXCLUDED.expires_at
                        """)
                }
            }
            if let episode {
                // Kept like the customer's other memory: only with consent, until it expires.
                try connection.query("""
                    INSERT INTO planner.episodes (tenant_id, customer_id, turn_id, conversation_id, request, intent, tools, outcome, at, expires_at)
                    SELECT c.tenant_id, c.customer_id, \(episode.turnID), \(episode.conversationID), \(episode.request), \(episode.intent),
                           \(episode.tools.joined(separator: ", ")), \(episode.outcome), \(episode.at), \(episode.at)::timestamptz + make_interval(secs => c.ttl_seconds)
                    FROM planner.customer_consent c WHERE c.tenant_id = \(episode.tenant) AND c.customer_id = \(episode.customer) AND c.granted
                    ON CONFLICT (tenant_id, customer_id, turn_id) DO UPDATE SET tools = EXCLUDED.tools, outcome = EXCLUDED.outcome
                    """)
            }
            if let updatedTurn, let resultsJSON {
                try connection.query("UPDATE planner.turns SET results = \(resultsJSON)::jsonb WHERE plan_id = \(updatedTurn.planID)")
            }
        }
    }
}
