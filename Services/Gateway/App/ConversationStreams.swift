import Events
import Foundation
import JSON
import ReadModels

/// One message of a conversation as its stream sends it; the SSE id is its log position.
struct StreamedMessage: Sendable, Equatable {
    var partition: Int32
    var offset: Int64
    var messageID: UUID
    var turnID: UUID
    /// customer, assistant or agent.
    var role: String
    var kind: String?
    var agentID: String?
    var text: String
    var occurredAtMillis: Int64
    /// Whose message it is, for live messages from the log: a stream forwards only its own
    /// tenant's (and, for a customer session, its own customer's) messages. Nil for history
    /// read from the read model, which was checked as a whole.
    var tenantID: String? = nil
    var customerID: String? = nil

    var eventID: String { "\(partition)-\(offset)" }

    /// An SSE `id` back to the offset it names (`<partition>-<offset>`); nil when malformed.
    static func offset(fromEventID id: String) -> Int64? {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, Int32(parts[0]) != nil, let offset = Int64(parts[1]), offset >= 0 else { return nil }
        return offset
    }

    /// The message a log event adds to a conversation, at its position; nil for other events.
    init?(_ event: EventEnvelope, partition: Int32, offset: Int64) throws {
        (self.partition, self.offset, self.turnID, self.occurredAtMillis) = (partition, offset, event.correlationID, event.occurredAtMillis)
        tenantID = event.tenantID
        switch event.type {
        case MessageReceived.eventType:
            let message = try event.decode(MessageReceived.self)
            (messageID, role, kind, agentID, text) = (event.id, "customer", nil, nil, message.text)
            customerID = message.customerID
        case ReplyDelivered.eventType:
            let reply = try event.decode(ReplyDelivered.self)
            (messageID, role, kind, agentID, text) = (reply.replyID, "assistant", reply.kind.rawValue, nil, reply.text)
        case AgentReplied.eventType:
            let reply = try event.decode(AgentReplied.self)
            (messageID, role, kind, agentID, text) = (reply.messageID, "agent", nil, reply.agentID, reply.text)
        default:
            return nil
        }
    }

    init(_ message: ConversationQueries.Message) {
        (partition, offset, messageID, turnID) = (Int32(message.logPartition), message.logOffset, message.messageID, message.turnID)
        (role, kind, agentID, text, occurredAtMillis) = (message.role, message.kind, message.agentID, message.text, message.occurredAtMillis)
    }

    /// One server-sent event.
    var sse: String {
        let data = JSONValue.object([
            "message_id": .string(messageID.lowercaseString), "turn_id": .string(turnID.lowercaseString), "role": .string(role),
            "kind": kind.map(JSONValue.string) ?? .null, "agent_id": agentID.map(JSONValue.string) ?? .null, "text": .string(text),
            "occurred_at": .string(Timestamp.format(millis: occurredAtMillis)),
        ]).serializedString()
        return "id: \(eventID)\nevent: message\ndata: \(data)\n\n"
    }
}

/// The live side of `GET /v1/conversations/{id}/stream` on one gateway replica: every replica
/// tails the whole log (the reply tail), so whichever replica a customer's stream reaches sees
/// every message of the conversation. The last messages of recently active conversations are
/// kept, so a stream that opens while the read model still lags the tail misses nothing.
actor ConversationStreams {
    enum Item: Sendable {
        case message(StreamedMessage)
        /// Every `keepaliveInterval`: a comment line keeps proxies from closing an idle stream.
        case keepalive
    }

    private var subscribers: [String: [UUID: AsyncStream<Item>.Continuation]] = [:]
    private var recent: [String: (messages: [StreamedMessage], touched: ContinuousClock.Instant)] = [:]
    private var published = 0
    private var ticker: Task<Void, Never>?
    private var isShutDown = false
    let keepaliveInterval: Duration
    static let recentPerConversation = 32
    static let recentFor: Duration = .seconds(300)

    init(keepaliveInterval: Duration = .seconds(15)) {
        self.keepaliveInterval = keepaliveInterval
    }

    func publish(conversation: String, _ message: StreamedMessage) {
        var entry = recent[conversation] ?? ([], .now)
        entry.messages.append(message)
        if entry.messages.count > Self.recentPerConversation { entry.messages.removeFirst(entry.messages.count - Self.recentPerConversation) }
        entry.touched = .now
        recent[conversation] = entry
        published += 1
        if published % 1000 == 0 {
            let cutoff = ContinuousClock.now - Self.recentFor
            recent = recent.filter { $0.value.touched > cutoff }
        }
        for continuation in subscribers[conversation]?.values ?? [:].values { continuation.yield(.message(message)) }
    }

    /// Live messages of the conversation from now on, and those the tail saw recently.
    func subscribe(conversation: String) -> (id: UUID, items: AsyncStream<Item>, recent: [StreamedMessage]) {
        let id = UUID()
        let (items, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(256))
        if isShutDown {
            continuation.finish()
        } else {
            subscribers[conversation, default: [:]][id] = continuation
            startTicker()
        }
        return (id, items, recent[conversation]?.messages ?? [])
    }

    func unsubscribe(conversation: String, id: UUID) {
        subscribers[conversation]?.removeValue(forKey: id)?.finish()
        if subscribers[conversation]?.isEmpty == true { subscribers[conversation] = nil }
    }

    var subscriberCount: Int { subscribers.values.reduce(0) { $0 + $1.count } }

    /// Ends every stream (graceful shutdown: clients reconnect to another replica).
    func shutdown() {
        isShutDown = true
        ticker?.cancel()
        for continuations in subscribers.values { for continuation in continuations.values { continuation.finish() } }
        subscribers = [:]
    }

    private func startTicker() {
        guard ticker == nil else { return }
        let interval = keepaliveInterval
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                await self?.tick()
            }
        }
    }

    private func tick() {
        for continuations in subscribers.values { for continuation in continuations.values { continuation.yield(.keepalive) } }
    }
}
