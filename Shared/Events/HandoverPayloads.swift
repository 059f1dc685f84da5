public import Foundation

// The human side of a handover (issue 10), appended by HILQueue. Every event names the
// handover it belongs to: the turn whose `HandoverRequested` started it (its correlation id,
// which these events share, so `switchboard trace` shows a handover as one story).

/// An agent took a queued conversation: PENDING_HUMAN → HUMAN_ACTIVE.
public struct HandoverClaimed: EventPayload {
    public static let eventType = "HandoverClaimed"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var agentID: String
    /// The queue (skill) it was taken from.
    public var queue: String
    public init(handoverID: UUID, agentID: String, queue: String) {
        (self.handoverID, self.agentID, self.queue) = (handoverID, agentID, queue)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", agentID = "agent_id", queue }
}

/// A human agent's message to the customer (the customer sees it through the gateway).
public struct AgentReplied: EventPayload {
    public static let eventType = "AgentReplied"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var messageID: UUID
    public var agentID: String
    public var text: String
    public init(handoverID: UUID, messageID: UUID, agentID: String, text: String) {
        (self.handoverID, self.messageID, self.agentID, self.text) = (handoverID, messageID, agentID, text)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", messageID = "message_id", agentID = "agent_id", text }
}

/// A note between agents. Never shown to the customer, never given to a model.
public struct InternalNoteAdded: EventPayload {
    public static let eventType = "InternalNoteAdded"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var noteID: UUID
    public var agentID: String
    public var text: String
    public init(handoverID: UUID, noteID: UUID, agentID: String, text: String) {
        (self.handoverID, self.noteID, self.agentID, self.text) = (handoverID, noteID, agentID, text)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", noteID = "note_id", agentID = "agent_id", text }
}

/// The owning agent passed the conversation on: to another agent (it stays HUMAN_ACTIVE with
/// them) or to a queue (PENDING_HUMAN again, for whoever has that skill). Exactly one of
/// `to_agent` and `to_queue` is set.
public struct HandoverTransferred: EventPayload {
    public static let eventType = "HandoverTransferred"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var fromAgent: String
    public var toAgent: String?
    public var toQueue: String?
    public var note: String
    public init(handoverID: UUID, fromAgent: String, toAgent: String?, toQueue: String?, note: String) {
        (self.handoverID, self.fromAgent, self.toAgent, self.toQueue, self.note) = (handoverID, fromAgent, toAgent, toQueue, note)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", fromAgent = "from_agent", toAgent = "to_agent", toQueue = "to_queue", note }
}

/// Why a conversation went back to its queue without its agent deciding so.
public enum HandoverReleaseCause: String, Codable, Sendable, CaseIterable {
    /// The agent set themselves offline.
    case agentOffline = "agent_offline"
    /// The agent's inbox stopped sending heartbeats.
    case heartbeatMissed = "heartbeat_missed"
}

/// The owning agent is gone: HUMAN_ACTIVE → PENDING_HUMAN, same queue.
public struct HandoverReleased: EventPayload {
    public static let eventType = "HandoverReleased"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var agentID: String
    public var cause: HandoverReleaseCause
    public init(handoverID: UUID, agentID: String, cause: HandoverReleaseCause) {
        (self.handoverID, self.agentID, self.cause) = (handoverID, agentID, cause)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", agentID = "agent_id", cause }
}

/// The agent closed the case: HUMAN_ACTIVE → RESOLVED. The customer's next message starts a
/// new AI turn.
public struct ConversationResolved: EventPayload {
    public static let eventType = "ConversationResolved"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var agentID: String
    public var note: String
    public init(handoverID: UUID, agentID: String, note: String) {
        (self.handoverID, self.agentID, self.note) = (handoverID, agentID, note)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", agentID = "agent_id", note }
}

/// The agent gave the conversation back to the AI: HUMAN_ACTIVE → BACK_TO_AI. The note is for
/// the AI's context (what the human did, what is left).
public struct HandedBackToAI: EventPayload {
    public static let eventType = "HandedBackToAI"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var agentID: String
    public var note: String
    public init(handoverID: UUID, agentID: String, note: String) {
        (self.handoverID, self.agentID, self.note) = (handoverID, agentID, note)
    }
    enum CodingKeys: String, CodingKey { case handoverID = "handover_id", agentID = "agent_id", note }
}

/// A queued conversation waited longer than its queue's SLA; it moves to the front
/// (`priority` 0, SLA-critical).
public struct HandoverSLABreached: EventPayload {
    public static let eventType = "HandoverSLABreached"
    public static let eventVersion = 1
    public var handoverID: UUID
    public var queue: String
    public var waitedSeconds: Int
    public var slaSeconds: Int
    public var priority: Int
    public init(handoverID: UUID, queue: String, waitedSeconds: Int, slaSeconds: Int, priority: Int) {
        (self.handoverID, self.queue, self.waitedSeconds, self.slaSeconds, self.priority) = (handoverID, queue, waitedSeconds, slaSeconds, priority)
    }
    enum CodingKeys: String, CodingKey {
        case handoverID = "handover_id", queue, waitedSeconds = "waited_seconds", slaSeconds = "sla_seconds", priority
    }
}
