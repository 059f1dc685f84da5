import Events
import Foundation
import JSON
@testable import PlannerApp
import Testing

/// The plan turn as a value: every transition, and every input that does not fit, without a
/// database, a broker or a process.
@Suite struct PlanTurnTests {
    static let message = UUID(uuidString: "6f0d8a52-3b1e-4c7a-9d2f-0e4b5a6c7d8e")!
    static let turnID = UUID(uuidString: "0b9c4f1e-7a2d-4e3b-8c5f-1d6e7f8a9b0c")!
    static let verified = UUID(uuidString: "c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f")!
    static let failure = UUID(uuidString: "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b")!
    static let stranger = UUID(uuidString: "11111111-2222-4333-8444-555555555555")!

    static func step(_ tool: String, _ args: JSONValue = [:]) -> BrainDecision.ProposedStep {
        BrainDecision.ProposedStep(tool: tool, args: args, why: "test")
    }

    /// A fresh plan with `count` steps (tools t0, t1, …).
    static func planned(_ count: Int, iteration: Int = 0) -> PlanTurn {
        PlanTurn.propose(
            after: message, turnID: turnID, conversationID: "conv-1", intent: "order_status",
            steps: (0..<count).map { step("t\($0)") }, iteration: iteration
        ).turn
    }

    // MARK: Proposing

    @Test func proposingDerivesThePlanAndStepIDsFromTheCausingEvent() throws {
        let (turn, emission) = PlanTurn.propose(
            after: Self.message, turnID: Self.turnID, conversationID: "conv-1", intent: "order_status",
            steps: [Self.step("get_order_status", ["order_id": "ABC123"]), Self.step("t1")], confidence: 0.85, facts: ["order_id": "ABC123"],
            deadlineMillis: 1_800_000_008_000, tokensUsed: 120)
        let planID = DerivedID.make(from: Self.message, label: "plan")
        #expect(turn.planID == planID)
        #expect(turn.stepIDs == [DerivedID.make(from: planID, label: "step/0"), DerivedID.make(from: planID, label: "step/1")])
        #expect(turn.steps.map(\.stepID) == turn.stepIDs)
        #expect(turn.status == .awaitingResults && turn.missing == 2 && turn.iteration == 0)
        #expect(emission == Emission(PlanProposed(
            planID: planID, intent: "order_status", steps: turn.steps, confidence: 0.85, facts: ["order_id": "ABC123"], round: 0, deadlineMillis: 1_800_000_008_000)))
        #expect(turn.deadlineMillis == 1_800_000_008_000 && turn.tokensUsed == 120)
        #expect(turn.confidence == 0.85 && turn.facts == ["order_id": "ABC123"], "kept for the next round's plan")
        #expect(emission.label == nil, "the id is derived from the event type, as before")
    }

    // MARK: Results and failures, table-driven

    enum Input: Sendable, CustomStringConvertible {
        case result(step: Int, JSONValue)
        case resultForUnknownStep
        case failure(step: Int)
        case failureForUnknownStep
        /// Ends the round once every result is in (`conclude(.answer)`).
        case concludeWithAnswer

        var description: String {
            switch self {
            case .result(let step, let value): "result(\(step), \(value))"
            case .resultForUnknownStep: "result(unknown step)"
            case .failure(let step): "failure(\(step))"
            case .failureForUnknownStep: "failure(unknown step)"
            case .concludeWithAnswer: "conclude"
            }
        }
    }

    enum Outcome: Sendable, Equatable {
        case awaiting(missing: Int)
        case resultsComplete
        case failed
        case ignored(PlanTurn.IgnoredInput)
        case unknownStep
        case concluded
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var steps: Int
        var before: [Input]
        var input: Input
        var expect: Outcome
        var status: PlanTurn.Status
        /// Results the turn holds afterwards, by step index.
        var results: [Int: JSONValue]
        var testDescription: String { name }
    }

    static func apply(_ input: Input, to turn: inout PlanTurn) -> Outcome {
        do throws(PlanTurnError) {
            switch input {
            case .result(let index, let value):
                switch try turn.receive(value, for: turn.stepIDs[index]) {
                case .awaiting(let missing): return .awaiting(missing: missing)
                case .resultsComplete: return .resultsComplete
                case .ignored(let why): return .ignored(why)
                }
            case .resultForUnknownStep:
                _ = try turn.receive(["found": true], for: stranger)
                return .awaiting(missing: -1)
            case .failure(let index):
                switch try turn.fail(turn.stepIDs[index], after: failure, reply: "Sorry.", reason: .toolFailed, summary: "Tool failed.") {
                case .failed(let emissions):
                    #expect(emissions == Emission.fallback(after: failure, reply: "Sorry.", reason: .toolFailed, summary: "Tool failed."))
                    return .failed
                case .ignored(let why): return .ignored(why)
                }
            case .failureForUnknownStep:
                _ = try turn.fail(stranger, after: failure, reply: nil, reason: .stepRejected, summary: "Rejected.")
                return .failed
            case .concludeWithAnswer:
                _ = try turn.conclude(.answer("Shipped."), after: verified)
                return .concluded
            }
        } catch {
            #expect(error == .unknownStep(planID: turn.planID, stepID: stranger))
            return .unknownStep
        }
    }

    static let first: JSONValue = ["found": true, "status": "shipped"]
    static let second: JSONValue = ["found": true, "status": "delivered"]

    static let rows: [Row] = [
        Row(name: "first of two results: awaiting the other", steps: 2, before: [], input: .result(step: 0, first),
            expect: .awaiting(missing: 1), status: .awaitingResults, results: [0: first]),
        Row(name: "last result: the round ends", steps: 2, before: [.result(step: 1, second)], input: .result(step: 0, first),
            expect: .resultsComplete, status: .awaitingResults, results: [0: first, 1: second]),
        Row(name: "redelivered result: ignored, the first stands", steps: 2, before: [.result(step: 0, first)], input: .result(step: 0, second),
            expect: .ignored(.stepSettled), status: .awaitingResults, results: [0: first]),
        Row(name: "result for a step the plan does not have: error", steps: 2, before: [.result(step: 0, first)], input: .resultForUnknownStep,
            expect: .unknownStep, status: .awaitingResults, results: [0: first]),
        Row(name: "result for an empty plan (used to crash): error", steps: 0, before: [], input: .resultForUnknownStep,
            expect: .unknownStep, status: .awaitingResults, results: [:]),
        Row(name: "result after the turn concluded: ignored", steps: 1, before: [.result(step: 0, first), .concludeWithAnswer], input: .result(step: 0, second),
            expect: .ignored(.stepSettled), status: .concluded, results: [0: first]),
        Row(name: "failure: the turn fails and a human takes over", steps: 2, before: [.result(step: 0, first)], input: .failure(step: 1),
            expect: .failed, status: .failed, results: [0: first]),
        Row(name: "second failure in a failed turn: ignored", steps: 2, before: [.failure(step: 0)], input: .failure(step: 1),
            expect: .ignored(.turnEnded(.failed)), status: .failed, results: [:]),
        Row(name: "result after the turn failed: ignored", steps: 2, before: [.failure(step: 0)], input: .result(step: 1, second),
            expect: .ignored(.turnEnded(.failed)), status: .failed, results: [:]),
        Row(name: "failure for a step that already succeeded: ignored", steps: 2, before: [.result(step: 0, first)], input: .failure(step: 0),
            expect: .ignored(.stepSettled), status: .awaitingResults, results: [0: first]),
        Row(name: "failure for a step the plan does not have: error", steps: 1, before: [], input: .failureForUnknownStep,
            expect: .unknownStep, status: .awaitingResults, results: [:]),
    ]

    @Test(arguments: PlanTurnTests.rows)
    func transition(_ row: Row) {
        var turn = Self.planned(row.steps)
        for input in row.before { _ = Self.apply(input, to: &turn) }
        let before = turn
        #expect(Self.apply(row.input, to: &turn) == row.expect)
        #expect(turn.status == row.status)
        #expect(turn.results == Dictionary(uniqueKeysWithValues: row.results.map { (turn.stepIDs[$0.key], $0.value) }))
        if case .ignored = row.expect { #expect(turn == before, "an ignored input changes nothing") }
        if row.expect == .unknownStep { #expect(turn == before, "a rejected input changes nothing") }
    }

    // MARK: Ending a round

    static func complete(_ steps: Int = 2, iteration: Int = 0) throws -> PlanTurn {
        var turn = planned(steps, iteration: iteration)
        for (index, id) in turn.stepIDs.enumerated() { _ = try turn.receive(["found": true, "n": .number(Double(index))], for: id) }
        return turn
    }

    @Test func answeringRepliesGroundedInEveryStep() throws {
        var turn = try Self.complete()
        let concluded = try turn.conclude(.answer("Your order has shipped."), after: Self.verified)
        let replyID = DerivedID.make(from: turn.planID, label: "reply")
        #expect(concluded.emissions == [Emission(ReplyDrafted(replyID: replyID, kind: .answer, text: "Your order has shipped.", grounding: turn.stepIDs))])
        #expect(concluded.said == "Your order has shipped." && concluded.outcome == "answered: Your order has shipped.")
        #expect(concluded.next == nil && turn.status == .concluded)
    }

    @Test func aModelsHandoverRepliesAndAsksForAHuman() throws {
        var turn = try Self.complete()
        let concluded = try turn.conclude(.handOver(reason: .customerRequest, reply: "A colleague will help.", summary: "After tool results: x", skills: ["billing"]), after: Self.verified)
        #expect(concluded.emissions == [
            Emission(ReplyDrafted(replyID: DerivedID.make(from: turn.planID, label: "reply"), kind: .handover, text: "A colleague will help.", grounding: [])),
            Emission(HandoverRequested(reason: .customerRequest, summary: "After tool results: x", skills: ["billing"])),
        ])
        #expect(concluded.said == "A colleague will help." && concluded.outcome == "handed over")
    }

    @Test func noMatchingTemplateHandsOverWithoutAddingTheReplyToTheContext() throws {
        var turn = try Self.complete()
        let concluded = try turn.conclude(.noAnswer(tool: "get_order_status", reply: "Sorry."), after: Self.verified)
        #expect(concluded.emissions.last == Emission(HandoverRequested(
            reason: .noAnswerTemplate, summary: "No answer template matched the result of get_order_status.", skills: ["general"])))
        #expect(concluded.said == nil && concluded.outcome == "handed over" && turn.status == .concluded)
    }

    @Test func anotherRoundPlansAgainInTheSameTurn() throws {
        var turn = try Self.complete(iteration: 1)
        let concluded = try turn.conclude(.nextRound([Self.step("get_order_status")], confidence: 0.7), after: Self.verified)
        let next = try #require(concluded.next)
        #expect(next.planID == DerivedID.make(from: Self.verified, label: "plan"))
        #expect(next.turnID == turn.turnID && next.intent == turn.intent && next.iteration == 2 && next.status == .awaitingResults)
        #expect(concluded.emissions == [Emission(PlanProposed(planID: next.planID, intent: "order_status", steps: next.steps, confidence: 0.7, facts: turn.facts, round: 2, deadlineMillis: turn.deadlineMillis))])
        #expect(next.confidence == 0.7 && next.facts == turn.facts, "the next round is checked with the model's confidence and the case's facts")
        #expect(concluded.outcome == nil, "the turn goes on: no episode yet")
        #expect(turn.status == .concluded)
    }

    /// A rule or a human refused a step: the customer is told why, the turn ends declined, and
    /// no human is asked to take over; a later outcome of the turn is ignored.
    @Test func aDeclinedStepTellsTheCustomerWhyWithoutAHandover() throws {
        var turn = Self.planned(2)
        let cause = UUID()
        let transition = try turn.decline(turn.stepIDs[1], after: cause, reply: "That order has already shipped.")
        #expect(transition == .failed([.reply(DerivedID.make(from: cause, label: "reply"), .answer, "That order has already shipped.")]))
        #expect(turn.status == .declined)
        #expect(try turn.receive(Self.first, for: turn.stepIDs[0]) == .ignored(.turnEnded(.declined)))
    }

    /// While a step waits for approval the customer hears so, and the turn keeps waiting.
    @Test func awaitingApprovalRepliesAndKeepsWaiting() throws {
        var turn = Self.planned(1)
        let cause = UUID()
        #expect(try turn.awaitApproval(of: turn.stepIDs[0], after: cause, reply: "Asked a colleague.") == .failed([.reply(DerivedID.make(from: cause, label: "reply"), .answer, "Asked a colleague.")]))
        #expect(turn.status == .awaitingResults && turn.missing == 1)
        #expect(try turn.receive(Self.first, for: turn.stepIDs[0]) == .resultsComplete)
        #expect(try turn.awaitApproval(of: turn.stepIDs[0], after: cause, reply: "late") == .ignored(.stepSettled))
    }

    /// A model's next round that only gets results earlier rounds had made no progress.
    @Test func aRoundWithNothingNewMadeNoProgress() throws {
        var first = try Self.complete(iteration: 0)
        #expect(!first.madeNoProgress, "the first round always counts")
        let next = try #require(try first.conclude(.nextRound([Self.step("get_order_status")], confidence: 0.9), after: Self.verified).next)
        #expect(next.earlierResults == first.orderedResults.map { $0.serializedString() })
        var same = next
        _ = try same.receive(first.orderedResults[0], for: same.stepIDs[0])
        #expect(same.madeNoProgress)
        var new = next
        _ = try new.receive(["found": true, "status": "delivered"], for: new.stepIDs[0])
        #expect(!new.madeNoProgress)
    }

    @Test func concludingBeforeEveryResultOrTwiceIsAnErrorNotACrash() throws {
        var waiting = Self.planned(2)
        _ = try waiting.receive(Self.first, for: waiting.stepIDs[0])
        #expect(throws: PlanTurnError.cannotConclude(planID: waiting.planID, status: .awaitingResults, missing: 1)) {
            try waiting.conclude(.answer("x"), after: Self.verified)
        }
        var done = try Self.complete()
        _ = try done.conclude(.answer("x"), after: Self.verified)
        #expect(throws: PlanTurnError.cannotConclude(planID: done.planID, status: .concluded, missing: 0)) {
            try done.conclude(.answer("x"), after: Self.verified)
        }
        #expect(throws: PlanTurnError.self) { try done.markConcluded() }
    }

    @Test func replayingFromTheJournalOnlyEndsTheRound() throws {
        var turn = try Self.complete()
        try turn.markConcluded()
        #expect(turn.status == .concluded)
    }

    // MARK: The template, including the path that used to crash

    @Test func theTemplateAnswersFromTheLastStepsResult() throws {
        let turn = try Self.complete()
        let conclusion = turn.templateConclusion(tool: "t1", noAnswerReply: "Sorry.") { result in
            result["n"]?.intValue.map { "result \($0)" }
        }
        #expect(conclusion == .answer("result 1"))
    }

    @Test func anEmptyPlanOrNoMatchingTemplateHandsOverInsteadOfCrashing() throws {
        // `turn.results[turn.stepIDs.last!]!` crashed the process here and looped on redelivery.
        let empty = Self.planned(0)
        #expect(empty.templateConclusion(tool: "t0", noAnswerReply: "Sorry.") { _ in "never" } == .noAnswer(tool: "t0", reply: "Sorry."))
        let complete = try Self.complete()
        #expect(complete.templateConclusion(tool: "t1", noAnswerReply: "Sorry.") { _ in nil } == .noAnswer(tool: "t1", reply: "Sorry."))
    }

    @Test func aRealPackTemplateRendersTheResult() throws {
        var turn = PlanTurn.propose(
            after: Self.message, turnID: Self.turnID, conversationID: "conv-1", intent: "order_status",
            steps: [Self.step("get_order_status", ["order_id": "ABC123"])]).turn
        let result: JSONValue = ["found": true, "order_id": "ABC123", "status": "shipped", "carrier": "UPS", "tracking_number": "1Z999"]
        #expect(try turn.receive(result, for: turn.stepIDs[0]) == .resultsComplete)
        let brain = RulesBrain(pack: retailPack)
        let state = ConversationState(slots: ["order_id": said("ABC123")])
        let conclusion = turn.templateConclusion(tool: "get_order_status", noAnswerReply: "Sorry.") { brain.answer(intent: turn.intent, result: $0, state: state) }
        guard case .answer(let text) = conclusion else { Issue.record("expected an answer, got \(conclusion)"); return }
        #expect(text == "Your order ABC123 has shipped with UPS. The tracking number is 1Z999.", "\(text)")
    }

    // MARK: A model's round

    struct ModelRow: Sendable, CustomTestStringConvertible {
        var name: String
        var action: BrainDecision.Action
        var iteration: Int
        var expect: PlanTurn.Conclusion?
        var testDescription: String { name }
    }

    @Test(arguments: [
        ModelRow(name: "respond answers", action: .respond(text: "Shipped."), iteration: 0, expect: .answer("Shipped.")),
        ModelRow(name: "handover hands over", action: .handover(reason: .customerRequest, text: "Connecting you.", skills: ["general"]), iteration: 0,
                 expect: .handOver(reason: .customerRequest, reply: "Connecting you.", summary: "After tool results: because", skills: ["general"])),
        ModelRow(name: "more tools with a round left plan again", action: .plan(steps: [PlanTurnTests.step("t9")]), iteration: 0, expect: .nextRound([PlanTurnTests.step("t9")], confidence: 0.9)),
        ModelRow(name: "more tools with no round left: the template", action: .plan(steps: [PlanTurnTests.step("t9")]), iteration: 1, expect: nil),
        ModelRow(name: "a question after tools ran: the template", action: .clarify(slot: "x", question: "?", attempt: 1), iteration: 0, expect: nil),
    ])
    func modelConclusion(_ row: ModelRow) {
        let turn = Self.planned(1, iteration: row.iteration)
        let decision = BrainDecision(intent: "order_status", confidence: 0.9, action: row.action, explain: "because", state: ConversationState())
        #expect(turn.conclusion(fromModel: decision, maxIterations: 2) == row.expect)
    }

    // MARK: Wrong inferences

    @Test func anInferredValueAToolFoundNothingForIsRetracted() throws {
        var turn = PlanTurn.propose(
            after: Self.message, turnID: Self.turnID, conversationID: "conv-1", intent: "order_status",
            steps: [Self.step("get_order_status", ["order_id": "ZZZ999"]), Self.step("lookup", ["phone": "+44"])]).turn
        _ = try turn.receive(["found": false], for: turn.stepIDs[0])
        _ = try turn.receive(["found": false], for: turn.stepIDs[1])
        var state = ConversationState(slots: ["order_id": SlotValue(value: "ZZZ999", source: .inferred), "phone": said("+44")])
        let emissions = turn.retractions(from: &state)
        #expect(emissions == [Emission(FactRetracted(name: "order_id", value: "ZZZ999", reason: "get_order_status found nothing for it"), label: "retract/order_id")])
        #expect(state.slots["order_id"] == nil, "the guess is gone")
        #expect(state.slots["phone"] == said("+44"), "what the customer said stays")
    }

    // MARK: Opening a turn from a message's decision

    @Test func aMessagesDecisionOpensAPlanOrEndsTheTurn() {
        let replyID = DerivedID.make(from: Self.message, label: "reply")
        func open(_ action: BrainDecision.Action) -> PlanTurn.Opening {
            let decision = BrainDecision(intent: "order_status", confidence: 0.9, action: action, explain: "why", state: ConversationState())
            return PlanTurn.open(after: Self.message, turnID: Self.turnID, conversationID: "conv-1", decision: decision, brain: "rules")
        }
        let planned = open(.plan(steps: [Self.step("get_order_status")]))
        #expect(planned.turn?.planID == DerivedID.make(from: Self.message, label: "plan"))
        #expect(planned.emissions.map(\.description) == ["DecisionMade", "PlanProposed"])
        #expect(planned.said == nil && planned.outcome == "planned get_order_status" && planned.tools == ["get_order_status"])

        let asked = open(.clarify(slot: "order_id", question: "Which order?", attempt: 1))
        #expect(asked.turn == nil && asked.said == "Which order?" && asked.outcome == "asked: Which order?")
        #expect(asked.emissions.last == Emission.reply(replyID, .clarification, "Which order?"))
        #expect(asked.emissions.map(\.description) == ["DecisionMade", "ClarificationRequested", "ReplyDrafted"])

        let answered = open(.respond(text: "Hello!"))
        #expect(answered.emissions.last == Emission.reply(replyID, .answer, "Hello!") && answered.outcome == "answered: Hello!")

        let handedOver = open(.handover(reason: .unknownIntent, text: "A human will help.", skills: ["general"]))
        #expect(handedOver.emissions.last == Emission(HandoverRequested(reason: .unknownIntent, summary: "Customer asked: intent order_status; why.", skills: ["general"])))
        #expect(handedOver.outcome == "handed over (unknown_intent)" && handedOver.said == "A human will help.")
    }

    // MARK: The stored form

    @Test func theStoredFormRoundTrips() throws {
        var turn = try Self.complete()
        _ = try turn.conclude(.answer("x"), after: Self.verified)
        let text = String(decoding: try JSONEncoder().encode(turn), as: UTF8.self)
        #expect(try JSONDecoder().decode(PlanTurn.self, from: Data(text.utf8)) == turn)
        let object = try JSONValue.parse(text)
        #expect(object["status"] == "concluded")
        #expect(object["plan_id"]?.stringValue == turn.planID.uuidString.lowercased())
    }

    @Test func olderJournalEntriesAndRowsStillLoad() throws {
        // A journal entry written before results and status were part of the turn.
        let journaled = #"{"plan_id":"6f0d8a52-3b1e-4c7a-9d2f-0e4b5a6c7d8e","turn_id":"0b9c4f1e-7a2d-4e3b-8c5f-1d6e7f8a9b0c","conversation_id":"c","intent":"order_status","step_ids":["c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f"],"steps":[],"iteration":1}"#
        let fromJournal = try JSONDecoder().decode(PlanTurn.self, from: Data(journaled.utf8))
        #expect(fromJournal.status == .awaitingResults && fromJournal.results.isEmpty && fromJournal.iteration == 1)
        // A row of the turns table as `to_jsonb` gives it, with results keyed in upper case.
        let row = #"{"plan_id":"6f0d8a52-3b1e-4c7a-9d2f-0e4b5a6c7d8e","turn_id":"0b9c4f1e-7a2d-4e3b-8c5f-1d6e7f8a9b0c","conversation_id":"c","intent":"order_status","step_ids":["C3D2E1F0-A9B8-4C7D-8E6F-5A4B3C2D1E0F"],"steps":[],"iteration":0,"results":{"C3D2E1F0-A9B8-4C7D-8E6F-5A4B3C2D1E0F":{"found":true}},"status":"awaiting_results"}"#
        var fromRow = try JSONDecoder().decode(PlanTurn.self, from: Data(row.utf8))
        #expect(fromRow.results[Self.verified] == ["found": true])
        #expect(try fromRow.receive(["found": false], for: Self.verified) == .ignored(.stepSettled))
    }
}
