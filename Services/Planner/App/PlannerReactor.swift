import DomainPack
import EventBus
public import Events
import Foundation
import JSON
public import Knowledge
public import Logging
public import Postgres

/// The planner's side of a turn (DESIGN.md §4 steps 2 and 5): reacts to customer messages,
/// verified or failed steps, rejections and blocked replies; appends decisions, plans,
/// clarifications, drafted replies and handovers. What a plan goes through is `PlanTurn`; what is
/// stored, and how, is `PlannerStore`.
///
/// Effectively-once: outputs carry ids derived from the causing event, are appended before the
/// state change commits, and the event id is recorded with that commit. A crash in between
/// re-runs the handler on unchanged state, so it appends the same ids again, which readers drop.
public struct PlannerReactor: Sendable {
    public static let interestedIn: Set<String> = Set([
        MessageReceived.eventType, StepVerified.eventType, StepFailed.eventType,
        StepRejected.eventType, ReplyBlocked.eventType, MemoryConsentChanged.eventType, CustomerErased.eventType, ApprovalRequested.eventType,
    ]).union(humanSide)

    /// The events of a handover: they move the conversation's phase (while it is with humans
    /// the AI does not answer), and an agent's replies and hand-back note join the context.
    static let humanSide: Set<String> = [
        HandoverRequested.eventType, HandoverQueued.eventType, HandoverClaimed.eventType, AgentReplied.eventType,
        HandoverTransferred.eventType, HandoverReleased.eventType, ConversationResolved.eventType, HandedBackToAI.eventType,
    ]

    let brain: RulesBrain
    /// nil: no model configured; the rules brain decides alone.
    let llm: LLMBrain?
    /// Retrieval for both brains; nil disables it.
    let knowledge: KnowledgeIndex?
    /// Slots the pack marks `remember`: with none (the retail pack), customer memory is never
    /// looked up.
    let rememberedSlots: Set<String>
    let store: PlannerStore
    let publish: @Sendable ([EventEnvelope]) async throws -> Void
    let producer: String
    let logger: Logger
    /// Each intent's rollout mode, re-read from the pack while the planner runs.
    let rollout: RolloutWatcher

    public init(
        brain: RulesBrain, llm: LLMBrain? = nil, knowledge: KnowledgeIndex? = nil, rollout: RolloutWatcher? = nil, pool: PostgresPool, producer: String, logger: Logger,
        publish: @escaping @Sendable ([EventEnvelope]) async throws -> Void
    ) {
        self.rollout = rollout ?? RolloutWatcher(initial: brain.pack.rollout, path: nil, logger: logger)
        self.brain = brain
        self.llm = llm
        self.knowledge = knowledge
        self.rememberedSlots = Set(brain.pack.intents.flatMap { $0.slots.filter(\.remember).map(\.name) })
        self.store = PlannerStore(pool: pool)
        self.producer = producer
        self.logger = logger
        self.publish = publish
    }

    var replies: ReplyTexts { brain.pack.replies }

    /// Each event is read with what handling it starts from (`PlannerStore.load`, one round
    /// trip) and skipped if it was handled already.
    public func handle(_ event: EventEnvelope) async throws {
        switch event.type {
        case MessageReceived.eventType:
            let message = try event.decode(MessageReceived.self)
            let loaded = try await store.load(event)
            guard !loaded.processed else { return }
            // With humans: the message is theirs; the AI keeps it for later and stays quiet.
            guard !loaded.state.phase.isWithHumans else {
                var state = loaded.state
                state.remember("customer", message.text)
                try await store.commit(event, .init(state: state))
                return
            }
            try await onMessage(event, message, state: loaded.state)
        case let type where Self.humanSide.contains(type):
            let loaded = try await store.load(event)
            guard !loaded.processed else { return }
            var state = loaded.state
            if let transition = try ConversationPhase.transition(for: event), let next = state.phase.applying(transition) { state.phase = next }
            switch type {
            case AgentReplied.eventType: state.remember("agent", try event.decode(AgentReplied.self).text)
            case HandedBackToAI.eventType:
                let note = try event.decode(HandedBackToAI.self).note
                if !note.isEmpty { state.remember("handback", note) }
            default: break
            }
            try await store.commit(event, .init(state: state))
        case MemoryConsentChanged.eventType:
            // Skips an event handled already in its own transaction.
            try await store.recordConsent(event: event, try event.decode(MemoryConsentChanged.self))
        case CustomerErased.eventType:
            // Erasure withdraws consent for good: what was remembered goes, nothing new is kept.
            try await store.recordConsent(event: event, MemoryConsentChanged(customerID: try event.decode(CustomerErased.self).customerID, granted: false, ttlSeconds: 1))
        case StepVerified.eventType:
            let verified = try event.decode(StepVerified.self)
            let loaded = try await store.load(event, plan: verified.planID)
            guard !loaded.processed else { return }
            try await onStepVerified(event, verified, loaded)
        case StepFailed.eventType:
            let failed = try event.decode(StepFailed.self)
            let loaded = try await store.load(event, plan: failed.planID)
            guard !loaded.processed else { return }
            if failed.errorCode == "circuit_open", var turn = loaded.turn {
                return try await onToolUnavailable(event, failed, &turn, state: loaded.state)
            }
            // The system refused the request as given (HTTP 4xx, an MCP tool's error): the
            // customer can fix it, so they are asked to, rather than handed over.
            if ["rejected_request", "tool_error"].contains(failed.errorCode), var turn = loaded.turn {
                return try await declineAfterError(event, failed, &turn, state: loaded.state, reply: replies.toolRejected.render([:]))
            }
            try await onStepFailure(
                event, loaded.turn, planID: failed.planID, stepID: failed.stepID, reason: .toolFailed,
                reply: replies.toolFailed.render([:]), summary: "Tool \(failed.tool) failed (\(failed.reason)).")
        case StepRejected.eventType:
            let rejected = try event.decode(StepRejected.self)
            let loaded = try await store.load(event, plan: rejected.planID)
            guard !loaded.processed else { return }
            try await onRejection(event, rejected, loaded.turn)
        case ApprovalRequested.eventType:
            let requested = try event.decode(ApprovalRequested.self)
            // A reply waiting for a person (assisted mode) is no step of a plan: nothing to say.
            guard requested.tool != ApprovalRequested.replyTool else { return }
            let loaded = try await store.load(event, plan: requested.planID)
            guard !loaded.processed else { return }
            guard let turn = loaded.turn else {
                try await store.commit(event, .init())
                return
            }
            switch try Self.permanent({ () throws(PlanTurnError) in
                try turn.awaitApproval(of: requested.stepID, after: event.id, reply: replies.approvalPending.render(["tool": .string(requested.tool)]))
            }) {
            case .failed(let emissions): try await finish(event, emissions)
            case .ignored(let why):
                logIgnored(event, requested.planID, why)
                try await store.commit(event, .init())
            }
        case ReplyBlocked.eventType:
            let blocked = try event.decode(ReplyBlocked.self)
            guard !(try await store.load(event).processed) else { return }
            // A blocked fallback is not redrafted: that could loop. The handover still happens.
            let reply: String? = blocked.kind == .fallback || blocked.kind == .handover ? nil : replies.replyBlocked.render([:])
            try await finish(event, Emission.fallback(
                after: event.id, reply: reply, reason: .replyBlocked, summary: "A drafted reply was blocked (\(blocked.reason))."))
        default:
            return
        }
    }

    // MARK: A customer message

    func onMessage(_ event: EventEnvelope, _ message: MessageReceived, state stored: ConversationState) async throws {
        if llm != nil, let journaled = try await store.journaled(event.id) { return try await replay(journaled, after: event) }
        let decisionStartedMillis = EventEnvelope.nowMillis()
        var state = stored
        state.customerID = message.customerID
        state.phase = state.phase.applying(.customerMessage) ?? .aiProcessing
        let remembered = try await recall(into: &state, tenant: event.tenantID, customer: message.customerID)
        let decided = try await decide(message, state: state, event: event)
        var (emissions, decision) = (decided.emissions, decided.decision)
        if let (reason, note) = HandoverTriggers.escalation(decision, pack: brain.pack, tenant: event.tenantID) {
            let skills = brain.pack.intent(named: decision.intent)?.skills ?? ["general"]
            decision.explain += "; handed over: \(note)"
            decision.action = .handover(reason: reason, text: replies.handover.render([:]), skills: skills.isEmpty ? ["general"] : skills)
        }
        if !remembered.isEmpty { decision.explain += "; remembered from earlier conversations: " + remembered.sorted().joined(separator: ", ") }
        let opening = PlanTurn.open(
            after: event.id, turnID: event.correlationID, conversationID: event.conversationID, decision: decision, brain: decided.brain,
            // From when the turn is worked on, not when the message was sent: after an outage the
            // backlog's turns still get their full budget.
            deadlineMillis: decisionStartedMillis + Int64(brain.pack.policy.budget.wallTimeMs), tokensUsed: Self.tokens(in: emissions))
        emissions += opening.emissions
        state = decision.state
        // Replies of this turn wait for a person (`finish` marks them).
        state.assistedTurn = decision.mode == .assisted ? event.correlationID : nil
        let facts = state.slots.filter { rememberedSlots.contains($0.key) && $0.value.source == .customer }.mapValues(\.value)
        state.remember("customer", message.text)
        if let said = opening.said { state.remember("assistant", said) }
        let episode = PlannerStore.Episode(
            tenant: event.tenantID, customer: message.customerID, turnID: event.correlationID, conversationID: event.conversationID,
            request: message.text, intent: decision.intent, tools: opening.tools, outcome: opening.outcome, at: event.occurredAt)
        let memory = rememberedSlots.isEmpty ? nil : PlannerStore.MemoryWrite(tenant: event.tenantID, customer: message.customerID, facts: facts, at: event.occurredAt)
        try await finish(event, emissions, commit: .init(state: state, turns: opening.turn.map { [$0] } ?? [], memory: memory, episode: episode), opened: opening.turn)
        logger.info("decided", metadata: [
            "conversation.id": "\(event.conversationID)", "turn.id": "\(event.correlationID)", "brain": "\(decided.brain)",
            "intent": "\(decision.intent)", "next_action": "\(decision.nextAction.rawValue)",
        ])
    }

    /// A new conversation starts with what a consenting customer told us before (profile facts
    /// the pack marks `remember`), so it is not asked again. Returns the slots filled.
    func recall(into state: inout ConversationState, tenant: String, customer: String) async throws -> [String] {
        guard !rememberedSlots.isEmpty, state.slots.isEmpty, state.recent.isEmpty else { return [] }
        let facts = try await store.memory(tenant: tenant, customer: customer)
        for (name, value) in facts { state.slots[name] = SlotValue(value: value, source: .customer) }
        return facts.map { $0.name }
    }

    /// The model's decision when one is configured and it gives a valid one (under slot
    /// discipline), else the rules brain's; with the events that say how it was reached.
    func decide(_ message: MessageReceived, state: ConversationState, event: EventEnvelope) async throws -> (emissions: [Emission], brain: String, decision: BrainDecision) {
        var rules = brain.decide(text: message.text, state: state)
        // The turn's mode, by the intent the pack's patterns recognise, before any model call.
        let mode = rollout.mode(for: rules.intent)
        rules.mode = mode
        // An explicit request for a person ("agent", "human", in the pack's patterns) is done
        // as said, whatever a model would make of it, and without spending a call.
        if case .handover = rules.action, brain.pack.intent(named: rules.intent)?.action == .handover {
            return ([], "rules", rules)
        }
        guard let llm, mode != .shadow else {
            // Retrieval only when no intent covers the message: most turns never need it.
            var decision = await answerFromKnowledge(rules, question: message.text, retrieved: nil)
            decision.mode = mode
            // Shadow: the rules brain answers; the model decides in the background, for the record.
            if let llm, mode == .shadow { shadow(llm, message: message, state: state, event: event, production: decision) }
            return ([], "rules", decision)
        }
        let retrieved = await retrieve(message.text)
        let episodes = try await store.episodes(tenant: event.tenantID, customer: message.customerID, excluding: event.conversationID, similarTo: message.text)
        let outcome = await llm.decide(
            text: message.text, state: state, tenant: event.tenantID, conversation: event.conversationID, knowledge: retrieved?.hits ?? [], episodes: episodes,
            hint: rules, candidates: brain.matchingIntents(message.text, state: state))
        let emissions = Self.brainEmissions(outcome)
        guard let decided = outcome.decision, let model = outcome.model else {
            var decision = await answerFromKnowledge(rules, question: message.text, retrieved: retrieved)
            decision.mode = mode
            return (emissions, "rules", decision)
        }
        var decision = SlotDiscipline(pack: brain.pack).apply(to: decided, text: message.text)
        if !outcome.notes.isEmpty { decision.explain += " (" + outcome.notes.joined(separator: "; ") + ")" }
        decision.mode = mode
        return (emissions, model, decision)
    }

    /// What the candidate (the model) would have done, decided after the rules brain answered
    /// and appended as `ShadowDecisionRecorded` with the model calls it cost. Advisory: it runs
    /// outside the turn's effectively-once path, so a crash can lose it (never duplicate it:
    /// its ids derive from the message).
    func shadow(_ llm: LLMBrain, message: MessageReceived, state: ConversationState, event: EventEnvelope, production: BrainDecision) {
        let (publish, producer, logger, pack) = (self.publish, self.producer, self.logger, brain.pack)
        Task {
            let outcome = await llm.decide(text: message.text, state: state, tenant: event.tenantID, conversation: event.conversationID)
            let candidate = outcome.decision.map { SlotDiscipline(pack: pack).apply(to: $0, text: message.text) }
            let failure = candidate == nil ? (outcome.events.compactMap { ($0 as? BrainFellBack)?.reason }.last ?? "no_decision") : nil
            let recorded = ShadowDecisionRecorded(
                production: Self.choice(production, brain: "rules"), candidate: candidate.map { Self.choice($0, brain: outcome.model ?? "model") }, failure: failure)
            do {
                let calls = outcome.events.enumerated().compactMap { index, payload in
                    (payload as? LLMCallCompleted).map { try? event.reaction($0, producer: producer, label: "shadow/brain/\(index)") } ?? nil
                }
                try await publish(calls + [try event.reaction(recorded, producer: producer, label: "shadow")])
            } catch {
                logger.warning("shadow decision not recorded", metadata: ["conversation.id": "\(event.conversationID)", "error": "\(error)"])
            }
        }
    }

    static func choice(_ decision: BrainDecision, brain: String) -> ShadowDecisionRecorded.Choice {
        var steps: [ShadowDecisionRecorded.Step] = []
        var reply: String?
        switch decision.action {
        case .plan(let planned): steps = planned.map { .init(tool: $0.tool, args: $0.args) }
        case .clarify(_, let question, _): reply = question
        case .respond(let text): reply = text
        case .handover(_, let text, _): reply = text
        }
        return .init(brain: brain, intent: decision.intent, nextAction: decision.nextAction, steps: steps, reply: reply)
    }

    /// Model tokens (in + out) spent by the calls among `emissions`.
    static func tokens(in emissions: [Emission]) -> Int {
        emissions.reduce(0) { total, emission in
            guard let call = emission.payload as? LLMCallCompleted else { return total }
            return total + call.tokensIn + call.tokensOut
        }
    }

    static func brainEmissions(_ outcome: LLMBrain.Outcome) -> [Emission] {
        outcome.events.enumerated().map { index, payload in Emission(payload, label: "brain/\(index)") }
    }

    // MARK: Step results

    func onStepVerified(_ event: EventEnvelope, _ verified: StepVerified, _ loaded: PlannerStore.Loaded) async throws {
        guard var turn = loaded.turn else {
            throw PermanentEventError("no plan \(verified.planID) for verified step \(verified.stepID)")
        }
        switch try Self.permanent({ () throws(PlanTurnError) in try turn.receive(verified.result, for: verified.stepID) }) {
        case .ignored(let why):
            logIgnored(event, verified.planID, why)
            try await store.commit(event, .init())
        case .awaiting:
            try await store.commit(event, .init(turns: [turn]))
        case .resultsComplete:
            try await conclude(turn, state: loaded.state, after: event, tool: verified.tool)
        }
    }

    /// Every result is in: the round ends with an answer, a handover, or (a model's) next plan.
    func conclude(_ turn: PlanTurn, state stored: ConversationState, after event: EventEnvelope, tool: String) async throws {
        var turn = turn
        if llm != nil, let journaled = try await store.journaled(event.id) {
            try Self.permanent { () throws(PlanTurnError) in try turn.markConcluded() }
            return try await replay(journaled, after: event, concluding: turn)
        }
        var state = stored
        var emissions = turn.retractions(from: &state)
        let (brainEmissions, conclusion) = await roundConclusion(turn, state: state, event: event, tool: tool)
        turn.spend(tokens: Self.tokens(in: brainEmissions))
        let concluded = try Self.permanent { () throws(PlanTurnError) in try turn.conclude(conclusion, after: event.id) }
        emissions += brainEmissions + concluded.emissions
        if let said = concluded.said { state.remember("assistant", said) }
        // Tools answered: the run of turns that could not help is over.
        state.failedTurns = 0
        // The turn's episode gets its outcome (a reply, or a hand-over) once a round ends it.
        let episode = concluded.outcome.flatMap { outcome in
            state.customerID.map { customer in
                PlannerStore.Episode(
                    tenant: event.tenantID, customer: customer, turnID: turn.turnID, conversationID: event.conversationID,
                    request: state.lastCustomerText, intent: turn.intent, tools: turn.steps.map(\.tool), outcome: outcome, at: event.occurredAt)
            }
        }
        let turns = [turn] + (concluded.next.map { [$0] } ?? [])
        try await finish(event, emissions, commit: .init(state: state, turns: turns, episode: episode), opened: concluded.next)
    }

    /// A model reflecting on the results (react / plan_execute_reflect intents), else the pack's
    /// answer template for the last result; with the events that say how the model was used.
    func roundConclusion(_ turn: PlanTurn, state: ConversationState, event: EventEnvelope, tool: String) async -> ([Emission], PlanTurn.Conclusion) {
        var template: PlanTurn.Conclusion {
            turn.templateConclusion(tool: tool, noAnswerReply: replies.toolFailed.render([:])) { brain.answer(intent: turn.intent, result: $0, state: state) }
        }
        guard let llm, let spec = brain.pack.intent(named: turn.intent), spec.strategy != .singleShot, !turn.steps.isEmpty else {
            return ([], template)
        }
        // The turn's token budget is spent: the pack's template answers from what the tools
        // returned instead of another model round.
        guard turn.tokensUsed < brain.pack.policy.budget.tokens else {
            logger.info("token budget spent; answering from the template", metadata: [
                "conversation.id": "\(event.conversationID)", "plan.id": "\(turn.planID)", "tokens": "\(turn.tokensUsed)",
            ])
            return ([], template)
        }
        // No progress: this round only got results earlier rounds had; the template answers.
        guard !turn.madeNoProgress else {
            logger.info("no progress in this round; answering from the template", metadata: [
                "conversation.id": "\(event.conversationID)", "plan.id": "\(turn.planID)", "round": "\(turn.iteration)",
            ])
            return ([], template)
        }
        let outcome = await llm.reflect(
            text: state.lastCustomerText, state: state, strategy: spec.strategy, plan: turn.steps, results: turn.orderedResults,
            roundsLeft: turn.roundsLeft(maxIterations: spec.maxIterations), tenant: event.tenantID, conversation: event.conversationID)
        var emissions = Self.brainEmissions(outcome)
        guard let decision = outcome.decision, let model = outcome.model else { return (emissions, template) }
        emissions.append(.decision(brain: model, intent: turn.intent, decision))
        return (emissions, turn.conclusion(fromModel: decision, maxIterations: spec.maxIterations) ?? template)
    }

    /// The tool's breaker is open: the system behind it is down. Asking a person to look it up
    /// by hand would flood them during an outage, so the customer is told it is unavailable,
    /// with what the knowledge base says about their question, and the turn ends.
    func onToolUnavailable(_ event: EventEnvelope, _ failed: StepFailed, _ turn: inout PlanTurn, state: ConversationState) async throws {
        var reply = replies.toolUnavailable.render(["tool": .string(failed.tool)])
        if let found = await retrieve(state.lastCustomerText), found.mode == .allTerms, let best = found.hits.first {
            let excerpt = KnowledgeExcerpt.make(best.text)
            if !excerpt.isEmpty { reply += " In the meantime, according to \(best.title): \(excerpt)" }
        }
        try await declineAfterError(event, failed, &turn, state: state, reply: reply)
    }

    /// A turn that could not help (a tool unavailable, or refusing the request as given): the
    /// customer is told, and the turn ends. After the pack's `consecutive_errors` such turns
    /// in a row, a person takes over instead (`repeated_errors`).
    func declineAfterError(_ event: EventEnvelope, _ failed: StepFailed, _ turn: inout PlanTurn, state stored: ConversationState, reply: String) async throws {
        var state = stored
        state.failedTurns += 1
        let limit = brain.pack.policy.handover.consecutiveErrors
        let outcome: PlanTurn.FailureTransition
        if state.failedTurns >= limit {
            let summary = "\(state.failedTurns) turns in a row could not help; the last: \(failed.tool) (\(failed.errorCode ?? failed.reason))."
            state.failedTurns = 0
            outcome = try Self.permanent({ () throws(PlanTurnError) in
                try turn.fail(failed.stepID, after: event.id, reply: replies.handover.render([:]), reason: .repeatedErrors, summary: summary)
            })
        } else {
            outcome = try Self.permanent({ () throws(PlanTurnError) in try turn.decline(failed.stepID, after: event.id, reply: reply) })
        }
        switch outcome {
        case .failed(let emissions):
            try await finish(event, emissions, commit: .init(state: state, turns: [turn]))
        case .ignored(let why):
            logIgnored(event, failed.planID, why)
            try await store.commit(event, .init())
        }
    }

    /// A rejected step. A rule that does not hold, or a human's denial, is explained to the
    /// customer and ends the turn; an approval nobody gave in time, and every other rejection
    /// (a bad plan), hand the conversation to a human.
    func onRejection(_ event: EventEnvelope, _ rejected: StepRejected, _ stored: PlanTurn?) async throws {
        let decline: String?
        switch rejected.reason {
        case .ruleFailed, .ruleUnknown: decline = rejected.message
        case .approvalDenied: decline = replies.approvalDenied.render(["reason": .string(rejected.message ?? "")])
        default: decline = nil
        }
        if let decline, var turn = stored {
            switch try Self.permanent({ () throws(PlanTurnError) in try turn.decline(rejected.stepID, after: event.id, reply: decline) }) {
            case .failed(let emissions): return try await finish(event, emissions, commit: .init(turns: [turn]))
            case .ignored(let why):
                logIgnored(event, rejected.planID, why)
                try await store.commit(event, .init())
                return
            }
        }
        let (reason, reply): (HandoverReason, ReplyTemplate) = switch rejected.reason {
        case .approvalExpired: (.approvalTimeout, replies.approvalTimeout)
        case .budgetExceeded, .loopDetected: (.budgetExhausted, replies.budgetExhausted)
        default: (.stepRejected, replies.stepRejected)
        }
        try await onStepFailure(
            event, stored, planID: rejected.planID, stepID: rejected.stepID, reason: reason, reply: reply.render([:]),
            summary: "Step \(rejected.tool) was rejected (\(rejected.reason.rawValue))\(rejected.issues.first.map { ": \($0.message)" } ?? "").")
    }

    /// A step failed or was rejected: a human takes over, once per turn. A plan the planner did
    /// not make (no turn) still gets one.
    func onStepFailure(_ event: EventEnvelope, _ stored: PlanTurn?, planID: UUID, stepID: UUID, reason: HandoverReason, reply: String, summary: String) async throws {
        guard var turn = stored else {
            return try await finish(event, Emission.fallback(after: event.id, reply: reply, reason: reason, summary: summary))
        }
        let transition = try Self.permanent { () throws(PlanTurnError) in
            try turn.fail(stepID, after: event.id, reply: reply, reason: reason, summary: summary)
        }
        switch transition {
        case .failed(let emissions):
            try await finish(event, emissions, commit: .init(turns: [turn]))
        case .ignored(let why):
            logIgnored(event, planID, why)
            try await store.commit(event, .init())
        }
    }

    // MARK: Appending and committing

    /// Appends the emissions as reactions to `event`, then commits. With a model configured, a
    /// decision (a commit that changes the conversation) is journalled first with the plan it
    /// `opened` (`PlannerStore.journal`), so a re-run appends the same events.
    func finish(_ event: EventEnvelope, _ emissions: [Emission], commit: PlannerStore.Commit = .init(), opened: PlanTurn? = nil) async throws {
        var emissions = emissions
        // Assisted mode: the turn's answers and questions wait for a person's approval.
        func approvable(_ emission: Emission) -> ReplyDrafted? {
            (emission.payload as? ReplyDrafted).flatMap { $0.kind == .answer || $0.kind == .clarification ? $0 : nil }
        }
        if rollout.modes.uses.contains(.assisted), emissions.contains(where: { approvable($0) != nil }) {
            let state = if let committed = commit.state { committed } else { try await store.load(event).state }
            if state.assistedTurn == event.correlationID {
                for index in emissions.indices {
                    guard var draft = approvable(emissions[index]) else { continue }
                    draft.approvalRequired = true
                    emissions[index] = Emission(draft, label: emissions[index].label)
                }
            }
        }
        // A handover's summary is the brief a human reads first, however the turn got there.
        if let index = emissions.firstIndex(where: { $0.payload is HandoverRequested }), var request = emissions[index].payload as? HandoverRequested {
            let state: ConversationState
            if let committed = commit.state { state = committed } else { state = try await store.load(event).state }
            let turn = opened ?? commit.turns.first
            request.summary = HandoverBrief(reason: request.reason, detail: request.summary, state: state, turn: turn).text
            emissions[index] = Emission(request, label: emissions[index].label)
        }
        let outputs = try emissions.map { try event.reaction($0.payload, producer: producer, label: $0.label) }
        if llm != nil, let state = commit.state { try await store.journal(event, .init(outputs: outputs, state: state, turn: opened)) }
        try await publish(outputs)
        try await store.commit(event, commit)
    }

    /// A model decided this before a crash: append exactly what was decided, then commit it.
    func replay(_ journaled: PlannerStore.Journaled, after event: EventEnvelope, concluding turn: PlanTurn? = nil) async throws {
        try await publish(journaled.outputs)
        try await store.commit(event, .init(state: journaled.state, turns: [turn, journaled.turn].compactMap { $0 }))
    }

    /// The state machine's errors are about the event, not the moment: retrying cannot help, so
    /// the event is dead-lettered.
    static func permanent<T>(_ body: () throws(PlanTurnError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw PermanentEventError(error.description)
        }
    }

    func logIgnored(_ event: EventEnvelope, _ planID: UUID, _ why: PlanTurn.IgnoredInput) {
        logger.info("ignored a step outcome the turn no longer expects", metadata: [
            "conversation.id": "\(event.conversationID)", "event.id": "\(event.id)", "event.type": "\(event.type)",
            "plan.id": "\(planID)", "reason": "\(why)",
        ])
    }

    // MARK: Knowledge

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
        // Nothing of the passage is safe to quote (docs/SECURITY.md): a person answers.
        let excerpt = KnowledgeExcerpt.make(best.text)
        guard !excerpt.isEmpty else { return decision }
        var answered = decision
        answered.intent = "knowledge_answer"
        answered.confidence = 0.6
        answered.action = .respond(text: "According to \(best.title): \(excerpt)")
        answered.explain = "no intent matched; every word of the question matched \(best.source)"
        return answered
    }
}

extension ConversationState {
    /// The customer's latest message in the recent context ("" when folded away).
    var lastCustomerText: String { recent.last(where: { $0.role == "customer" })?.text ?? "" }
}
