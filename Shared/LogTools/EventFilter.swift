public import Events
public import Foundation
public import Kafka

/// Which events an analyst wants: every given condition must hold. Times are `occurred_at`
/// (ms since epoch, `from` inclusive, `to` exclusive); offsets are per partition, likewise.
public struct EventFilter: Sendable, Equatable {
    public var types: Set<String> = []
    public var conversationID: String?
    /// The turn (correlation id).
    public var turnID: UUID?
    public var tenantID: String?
    public var fromMillis: Int64?
    public var toMillis: Int64?
    public var fromOffset: Int64?
    public var toOffset: Int64?

    public init(types: Set<String> = [], conversationID: String? = nil, tenantID: String? = nil, fromMillis: Int64? = nil, toMillis: Int64? = nil, fromOffset: Int64? = nil, toOffset: Int64? = nil) {
        self.types = types
        self.conversationID = conversationID
        self.tenantID = tenantID
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.fromOffset = fromOffset
        self.toOffset = toOffset
    }

    /// Checks that need only the record (no JSON parsing): position, key, type header.
    public func mightMatch(_ record: KafkaRecord) -> Bool {
        if let fromOffset, record.offset < fromOffset { return false }
        if let toOffset, record.offset >= toOffset { return false }
        if let conversationID, let key = record.key, key != Array(conversationID.utf8) { return false }
        if !types.isEmpty, let type = record.headers.first(where: { $0.key == "event-type" })?.value,
           !types.contains(String(decoding: type, as: UTF8.self)) { return false }
        return true
    }

    public func matches(_ event: EventEnvelope) -> Bool {
        if !types.isEmpty, !types.contains(event.type) { return false }
        if let conversationID, event.conversationID != conversationID { return false }
        if let turnID, event.correlationID != turnID { return false }
        if let tenantID, event.tenantID != tenantID { return false }
        if let fromMillis, event.occurredAtMillis < fromMillis { return false }
        if let toMillis, event.occurredAtMillis >= toMillis { return false }
        return true
    }
}
