public import Foundation
public import JSON

/// The envelope every event on the log carries (DESIGN.md §3). Events are immutable: a changed
/// payload shape is a new `version` of the type, read through an upcaster, never an edit.
public struct EventEnvelope: Sendable, Hashable {
    public var id: UUID
    public var type: String
    public var version: Int
    /// Aggregate id and Kafka key: every event of one conversation lands in one partition, in order.
    public var conversationID: String
    public var tenantID: String
    /// Milliseconds since the Unix epoch, UTC. Kept as an integer so encode/decode round-trips exactly.
    public var occurredAtMillis: Int64
    /// `service@instance` that appended the event.
    public var producer: String
    /// The event this one reacts to; nil only for events that start a turn (a customer message).
    public var causationID: UUID?
    /// The turn: every event caused, directly or not, by one customer message shares it.
    public var correlationID: UUID
    /// W3C trace context, so one turn can be followed across services.
    public var traceparent: String
    public var payload: JSONValue

    public init(
        id: UUID, type: String, version: Int, conversationID: String, tenantID: String,
        occurredAtMillis: Int64, producer: String, causationID: UUID?, correlationID: UUID,
        traceparent: String, payload: JSONValue
    ) {
        self.id = id
        self.type = type
        self.version = version
        self.conversationID = conversationID
        self.tenantID = tenantID
        self.occurredAtMillis = occurredAtMillis
        self.producer = producer
        self.causationID = causationID
        self.correlationID = correlationID
        self.traceparent = traceparent
        self.payload = payload
    }

    public var occurredAt: Date { Date(timeIntervalSince1970: Double(occurredAtMillis) / 1000) }

    /// The turn id clients see: the correlation id.
    public var turnID: UUID { correlationID }
}

/// A typed payload of one event type and version. The Swift type is the schema's mirror;
/// docs/events/<Type>.v<N>.json is the published contract, and a test keeps the two agreeing.
public protocol EventPayload: Codable, Sendable, Equatable {
    static var eventType: String { get }
    static var eventVersion: Int { get }
}

extension EventPayload {
    public func jsonValue() throws -> JSONValue {
        try JSONValueEncoder().encode(self)
    }
}

public struct EventPayloadError: Error, CustomStringConvertible, Sendable {
    public var eventType: String
    public var message: String
    public var description: String { "payload of \(eventType) does not match its type: \(message)" }
}

extension EventEnvelope {
    /// Milliseconds now, the resolution of `occurred_at`.
    public static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Starts a turn: a fresh correlation id and trace unless the caller passes them.
    public static func start<P: EventPayload>(
        _ payload: P, id: UUID = UUID(), conversationID: String, tenantID: String, producer: String,
        correlationID: UUID = UUID(), traceparent: String? = nil, occurredAtMillis: Int64 = nowMillis()
    ) throws -> EventEnvelope {
        EventEnvelope(
            id: id, type: P.eventType, version: P.eventVersion, conversationID: conversationID, tenantID: tenantID,
            occurredAtMillis: occurredAtMillis, producer: producer, causationID: nil, correlationID: correlationID,
            traceparent: traceparent.flatMap(TraceContext.init(parsing:))?.child(spanSeed: id).header ?? TraceContext.root(seed: id).header,
            payload: try payload.jsonValue()
        )
    }

    /// An event caused by this one: same conversation, tenant and turn, a child span, and an id
    /// derived from this event's id and `label`. Deriving the id makes reactions idempotent: a
    /// handler that runs again after a crash appends the same ids, and readers drop the repeats.
    public func reaction<P: EventPayload>(_ payload: P, producer: String, label: String? = nil, occurredAtMillis: Int64 = nowMillis()) throws -> EventEnvelope {
        let id = DerivedID.make(from: self.id, label: label ?? P.eventType)
        return EventEnvelope(
            id: id, type: P.eventType, version: P.eventVersion, conversationID: conversationID, tenantID: tenantID,
            occurredAtMillis: occurredAtMillis, producer: producer, causationID: self.id, correlationID: correlationID,
            traceparent: (TraceContext(parsing: traceparent) ?? TraceContext.root(seed: self.id)).child(spanSeed: id).header,
            payload: try payload.jsonValue()
        )
    }

    /// Decodes the payload as `P`, after checking that type and version match.
    public func decode<P: EventPayload>(_: P.Type) throws -> P {
        guard type == P.eventType, version == P.eventVersion else {
            throw EventPayloadError(eventType: type, message: "expected \(P.eventType) v\(P.eventVersion), got \(type) v\(version)")
        }
        do {
            return try JSONValueDecoder().decode(P.self, from: payload)
        } catch {
            throw EventPayloadError(eventType: type, message: String(describing: error))
        }
    }

    public func `is`<P: EventPayload>(_: P.Type) -> Bool { type == P.eventType && version == P.eventVersion }
}
