/// Where a conversation stands, as one explicit state machine (issue 10):
///
///     NEW → AI_PROCESSING → FINISHED
///                         → HANDOVER → PENDING_HUMAN ⇄ HUMAN_ACTIVE → RESOLVED
///                                                                  → BACK_TO_AI → AI_PROCESSING
///
/// Every transition is an event on the log (`transition(for:)`). HILQueue refuses a command
/// whose transition is not legal in the current phase (409, nothing appended); projections
/// fold the log with the same table, so the gateway, the planner and the queue agree on when a
/// handover happens (on `HandoverRequested`) and when it ends. It lives beside the events, not
/// in one service, because three services fold it and services never import each other.
public enum ConversationPhase: String, Codable, Sendable, CaseIterable {
    case new
    case aiProcessing = "ai_processing"
    case finished
    case handover
    case pendingHuman = "pending_human"
    case humanActive = "human_active"
    case resolved
    case backToAI = "back_to_ai"

    /// What can happen to a conversation; each is one event type (a transfer is one of two,
    /// by its target).
    public enum Transition: String, Sendable, CaseIterable {
        /// `MessageReceived`.
        case customerMessage = "customer_message"
        /// `ReplyDelivered`: the AI's (or an approved action's) answer reached the customer.
        case aiReplied = "ai_replied"
        case handoverRequested = "handover_requested"
        /// `HandoverQueued`.
        case queued
        /// `HandoverClaimed`.
        case claimed
        /// `AgentReplied`.
        case agentReplied = "agent_replied"
        /// `InternalNoteAdded`.
        case noteAdded = "note_added"
        /// `HandoverTransferred` to an agent.
        case transferredToAgent = "transferred_to_agent"
        /// `HandoverTransferred` to a queue, or `HandoverReleased`.
        case returnedToQueue = "returned_to_queue"
        /// `HandoverSLABreached`.
        case slaBreached = "sla_breached"
        /// `ConversationResolved`.
        case resolved
        /// `HandedBackToAI`.
        case handedBack = "handed_back"
    }

    /// The phase after `transition`, or nil when it is not legal here.
    public func applying(_ transition: Transition) -> ConversationPhase? {
        switch (self, transition) {
        // The customer may always write. With humans, the message goes to them; otherwise it
        // starts (or joins) an AI turn.
        case (.handover, .customerMessage), (.pendingHuman, .customerMessage), (.humanActive, .customerMessage): return self
        case (_, .customerMessage): return .aiProcessing

        // An AI reply ends the AI's turn. The handover turn's own reply, or an approved
        // action's answer, can arrive after a handover started: the humans keep it.
        case (.aiProcessing, .aiReplied), (.finished, .aiReplied), (.backToAI, .aiReplied): return .finished
        case (.handover, .aiReplied), (.pendingHuman, .aiReplied), (.humanActive, .aiReplied), (.resolved, .aiReplied): return self

        // A handover starts from any AI phase (an approval can expire after the turn's reply);
        // a second reason while with humans changes nothing.
        case (.aiProcessing, .handoverRequested), (.finished, .handoverRequested), (.resolved, .handoverRequested), (.backToAI, .handoverRequested):
            return .handover
        case (.handover, .handoverRequested), (.pendingHuman, .handoverRequested), (.humanActive, .handoverRequested): return self

        case (.handover, .queued), (.pendingHuman, .queued): return .pendingHuman
        case (.pendingHuman, .slaBreached): return .pendingHuman
        case (.pendingHuman, .claimed): return .humanActive

        case (.humanActive, .agentReplied), (.humanActive, .noteAdded), (.humanActive, .transferredToAgent): return .humanActive
        case (.humanActive, .returnedToQueue): return .pendingHuman
        case (.humanActive, .resolved): return .resolved
        case (.humanActive, .handedBack): return .backToAI

        default: return nil
        }
    }

    /// A handover is under way: the AI does not answer the customer, humans do.
    public var isWithHumans: Bool {
        switch self {
        case .handover, .pendingHuman, .humanActive: true
        default: false
        }
    }

    /// The transition `event` makes, or nil for events that do not move a conversation.
    public static func transition(for event: EventEnvelope) throws -> Transition? {
        switch event.type {
        case MessageReceived.eventType: return .customerMessage
        case ReplyDelivered.eventType: return .aiReplied
        case HandoverRequested.eventType: return .handoverRequested
        case HandoverQueued.eventType: return .queued
        case HandoverClaimed.eventType: return .claimed
        case AgentReplied.eventType: return .agentReplied
        case InternalNoteAdded.eventType: return .noteAdded
        case HandoverTransferred.eventType:
            return try event.decode(HandoverTransferred.self).toAgent != nil ? .transferredToAgent : .returnedToQueue
        case HandoverReleased.eventType: return .returnedToQueue
        case HandoverSLABreached.eventType: return .slaBreached
        case ConversationResolved.eventType: return .resolved
        case HandedBackToAI.eventType: return .handedBack
        default: return nil
        }
    }

    /// The event types that move a conversation (what a projection of the phase reads).
    public static let eventTypes: Set<String> = [
        MessageReceived.eventType, ReplyDelivered.eventType, HandoverRequested.eventType, HandoverQueued.eventType,
        HandoverClaimed.eventType, AgentReplied.eventType, InternalNoteAdded.eventType, HandoverTransferred.eventType,
        HandoverReleased.eventType, HandoverSLABreached.eventType, ConversationResolved.eventType, HandedBackToAI.eventType,
    ]
}
