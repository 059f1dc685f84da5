import Events
import Foundation
import Testing

/// The conversation state machine, every pair of phase and transition: the legal ones with
/// their target, and every other pair refused.
@Suite struct ConversationPhaseTests {
    typealias P = ConversationPhase
    typealias T = ConversationPhase.Transition

    /// Written out by hand from the issue's diagram, independently of the implementation.
    static let legal: [P: [T: P]] = [
        .new: [.customerMessage: .aiProcessing],
        .aiProcessing: [.customerMessage: .aiProcessing, .aiReplied: .finished, .handoverRequested: .handover],
        .finished: [.customerMessage: .aiProcessing, .aiReplied: .finished, .handoverRequested: .handover],
        .handover: [.customerMessage: .handover, .aiReplied: .handover, .handoverRequested: .handover, .queued: .pendingHuman],
        .pendingHuman: [
            .customerMessage: .pendingHuman, .aiReplied: .pendingHuman, .handoverRequested: .pendingHuman, .queued: .pendingHuman,
            .slaBreached: .pendingHuman, .claimed: .humanActive,
        ],
        .humanActive: [
            .customerMessage: .humanActive, .aiReplied: .humanActive, .handoverRequested: .humanActive, .agentReplied: .humanActive,
            .noteAdded: .humanActive, .transferredToAgent: .humanActive, .returnedToQueue: .pendingHuman, .resolved: .resolved,
            .handedBack: .backToAI,
        ],
        .resolved: [.customerMessage: .aiProcessing, .aiReplied: .resolved, .handoverRequested: .handover],
        .backToAI: [.customerMessage: .aiProcessing, .aiReplied: .finished, .handoverRequested: .handover],
    ]

    struct Case: CustomTestStringConvertible, Sendable {
        var from: P, transition: T, to: P?
        var testDescription: String { "\(from.rawValue) --\(transition.rawValue)--> \(to?.rawValue ?? "refused")" }
    }

    static let cases: [Case] = P.allCases.flatMap { from in T.allCases.map { Case(from: from, transition: $0, to: legal[from]?[$0]) } }

    @Test(arguments: cases)
    func transition(_ c: Case) {
        #expect(c.from.applying(c.transition) == c.to)
    }

    @Test func everyPairIsCoveredAndMostAreRefused() {
        #expect(Self.cases.count == P.allCases.count * T.allCases.count)
        #expect(Self.cases.filter { $0.to == nil }.count == P.allCases.count * T.allCases.count - 32)
    }

    @Test func theIssuesPathsWalkThrough() {
        func walk(_ transitions: [T]) -> [P?] {
            var phase: P? = .new
            return transitions.map { transition in
                phase = phase?.applying(transition)
                return phase
            }
        }
        #expect(walk([.customerMessage, .aiReplied]) == [.aiProcessing, .finished])
        #expect(walk([.customerMessage, .handoverRequested, .queued, .claimed, .agentReplied, .handedBack, .customerMessage])
            == [.aiProcessing, .handover, .pendingHuman, .humanActive, .humanActive, .backToAI, .aiProcessing])
        #expect(walk([.customerMessage, .handoverRequested, .queued, .claimed, .returnedToQueue, .claimed, .resolved])
            == [.aiProcessing, .handover, .pendingHuman, .humanActive, .pendingHuman, .humanActive, .resolved])
        #expect(walk([.customerMessage, .handoverRequested, .claimed]) == [.aiProcessing, .handover, nil], "claimed before it was queued")
    }

    @Test func onlyHandoverPhasesKeepTheAIQuiet() {
        #expect(P.allCases.filter(\.isWithHumans) == [.handover, .pendingHuman, .humanActive])
    }

    @Test func eventsMapToTheirTransitions() throws {
        let message = try EventEnvelope.start(MessageReceived(customerID: "c", text: "hi"), conversationID: "c1", tenantID: "t", producer: "test")
        let handover = message.correlationID
        func transition<E: EventPayload>(_ payload: E) throws -> T? { try P.transition(for: message.reaction(payload, producer: "test")) }
        #expect(try P.transition(for: message) == .customerMessage)
        #expect(try transition(HandoverTransferred(handoverID: handover, fromAgent: "a", toAgent: "b", toQueue: nil, note: "")) == .transferredToAgent)
        #expect(try transition(HandoverTransferred(handoverID: handover, fromAgent: "a", toAgent: nil, toQueue: "tech", note: "")) == .returnedToQueue)
        #expect(try transition(HandoverReleased(handoverID: handover, agentID: "a", cause: .agentOffline)) == .returnedToQueue)
        #expect(try transition(HandedBackToAI(handoverID: handover, agentID: "a", note: "")) == .handedBack)
        #expect(try transition(ToolCallStarted(planID: UUID(), stepID: UUID(), tool: "x")) == nil)
        #expect(P.eventTypes.count == 12)
    }
}
