import Events
import Foundation
import JSON
import Testing

@Suite struct EventCodecTests {
    func sample() throws -> EventEnvelope {
        try EventEnvelope.start(
            MessageReceived(customerID: "cus_1001", text: "Where is my order ABC123? ünïcødé ✓"),
            conversationID: "conv-1", tenantID: "default", producer: "gateway@test",
            occurredAtMillis: 1_763_900_000_123
        )
    }

    @Test func roundTripKeepsEveryField() throws {
        let event = try sample()
        let decoded = try EventCodec.decode(EventCodec.encode(event))
        #expect(decoded == event)
        #expect(try decoded.decode(MessageReceived.self).text == "Where is my order ABC123? ünïcødé ✓")
    }

    @Test func wireFormatIsSnakeCaseWithMillisecondTimestamp() throws {
        let value = try JSONValue.parse(EventCodec.encode(try sample()))
        #expect(value["occurred_at"] == .string(Timestamp.format(millis: 1_763_900_000_123)))
        #expect(value["occurred_at"]?.stringValue?.hasSuffix(".123Z") == true)
        #expect(value["conversation_id"] == "conv-1")
        #expect(value["causation_id"] == .null)
        #expect(value["payload"]?["customer_id"] == "cus_1001")
    }

    @Test func reactionsDeriveIdsAndKeepTheTurn() throws {
        let cause = try sample()
        let a = try cause.reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: "hi", grounding: []), producer: "planner@1")
        let b = try cause.reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: "hi", grounding: []), producer: "planner@2")
        let other = try cause.reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: "hi", grounding: []), producer: "planner@1", label: "other")
        #expect(a.id == b.id, "a handler that runs twice must append the same id")
        #expect(a.id != other.id)
        #expect(a.causationID == cause.id)
        #expect(a.correlationID == cause.correlationID)
        #expect(a.conversationID == cause.conversationID)
        let parent = try #require(TraceContext(parsing: cause.traceparent))
        let child = try #require(TraceContext(parsing: a.traceparent))
        #expect(child.traceID == parent.traceID)
        #expect(child.spanID != parent.spanID)
    }

    @Test func derivedIDsAreVersion5() {
        let id = DerivedID.make(name: "x")
        #expect(id.uuidString.lowercased().split(separator: "-")[2].first == "5")
        #expect(DerivedID.make(name: "x") == id)
        #expect(DerivedID.make(name: "y") != id)
    }

    @Test func incomingTraceparentIsContinued() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let event = try EventEnvelope.start(MessageReceived(customerID: "c", text: "t"), conversationID: "c1", tenantID: "t", producer: "p", traceparent: header)
        #expect(TraceContext(parsing: event.traceparent)?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test(arguments: [
        ("id", JSONValue.string("not-a-uuid")),
        ("type", .string("lowercase")),
        ("version", .number(0)),
        ("version", .number(1.5)),
        ("conversation_id", .string("")),
        ("conversation_id", .string("has space")),
        ("tenant_id", .string(String(repeating: "t", count: 65))),
        ("occurred_at", .string("2026-11-23T10:00:00Z")),
        ("occurred_at", .string("2026-02-30T10:00:00.000Z")),
        ("producer", .string("")),
        ("causation_id", .string("nope")),
        ("correlation_id", .null),
        ("traceparent", .string("00-zz-00-01")),
        ("payload", .array([])),
    ])
    func invalidEnvelopeFieldIsNamed(field: String, value: JSONValue) throws {
        guard case .object(var object) = try JSONValue.parse(EventCodec.encode(try sample())) else { Issue.record("not an object"); return }
        object[field] = value
        #expect(throws: EventDecodingError.self) { try EventCodec.decode(JSONValue.object(object).serialized()) }
        do {
            _ = try EventCodec.decode(JSONValue.object(object).serialized())
        } catch {
            #expect(error.field == field)
        }
    }

    @Test func garbageIsRejectedNotCrashed() {
        for bytes: [UInt8] in [[], [0xFF, 0xFE], Array("{".utf8), Array("[]".utf8), Array("null".utf8)] {
            #expect(throws: EventDecodingError.self) { try EventCodec.decode(bytes) }
        }
    }

    @Test func payloadOfWrongShapeFailsTypedDecode() throws {
        var event = try sample()
        event.payload = ["customer_id": 5]
        #expect(throws: EventPayloadError.self) { try event.decode(MessageReceived.self) }
        #expect(throws: EventPayloadError.self) { try event.decode(ReplyDrafted.self) }
    }

    @Test func timestampFormatRoundTrips() {
        for millis: Int64 in [0, 1, 999, 1_000, 1_763_900_000_123, 4_102_444_799_999] {
            #expect(Timestamp.parse(Timestamp.format(millis: millis)) == millis)
        }
        #expect(Timestamp.format(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(millis: 1_763_900_000_123) == "2025-11-23T12:13:20.123Z")
        #expect(Timestamp.format(millis: 4_102_444_799_999) == "2099-12-31T23:59:59.999Z")
        #expect(Timestamp.format(millis: -1) == "1969-12-31T23:59:59.999Z")
    }
}
