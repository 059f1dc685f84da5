import Events
import Foundation
@testable import GatewayApp
import Testing

/// The live side of a conversation's stream on one replica: what the tail publishes reaches the
/// conversation's subscribers (and only theirs), the recent messages are handed to a new
/// subscriber (they cover the read model's lag), keepalives tick, and a shutdown ends streams.
@Suite struct ConversationStreamsTests {
    static func message(_ conversation: String, _ text: String, at offset: Int64) throws -> StreamedMessage {
        let event = try EventEnvelope.start(MessageReceived(customerID: "c", text: text), conversationID: conversation, tenantID: "t", producer: "test")
        return try #require(try StreamedMessage(event, partition: 3, offset: offset))
    }

    @Test func subscribersGetTheirConversationAndNewOnesTheRecentMessages() async throws {
        let streams = ConversationStreams(keepaliveInterval: .seconds(3600))
        let (id, live, recent) = await streams.subscribe(conversation: "c1")
        #expect(recent.isEmpty)
        await streams.publish(conversation: "c1", try Self.message("c1", "one", at: 10))
        await streams.publish(conversation: "c2", try Self.message("c2", "other", at: 11))
        await streams.publish(conversation: "c1", try Self.message("c1", "two", at: 12))
        var iterator = live.makeAsyncIterator()
        var texts: [String] = []
        for _ in 0..<2 { if case .message(let m)? = await iterator.next() { texts.append(m.text) } }
        #expect(texts == ["one", "two"], "only c1's, in order")
        let later = await streams.subscribe(conversation: "c1")
        #expect(later.recent.map(\.offset) == [10, 12], "a new subscriber gets what the tail saw recently")
        for offset in 13...(13 + Int64(ConversationStreams.recentPerConversation)) {
            await streams.publish(conversation: "c1", try Self.message("c1", "m", at: offset))
        }
        #expect(await streams.subscribe(conversation: "c1").recent.count == ConversationStreams.recentPerConversation, "bounded")
        await streams.unsubscribe(conversation: "c1", id: id)
        await streams.shutdown()
        #expect(await streams.subscriberCount == 0)
        var ended = later.items.makeAsyncIterator()
        while await ended.next() != nil {}  // a shutdown finishes every stream
        var afterShutdown = await streams.subscribe(conversation: "c1").items.makeAsyncIterator()
        #expect(await afterShutdown.next() == nil, "none after a shutdown")
    }

    @Test func keepalivesTick() async throws {
        let streams = ConversationStreams(keepaliveInterval: .milliseconds(20))
        let (_, live, _) = await streams.subscribe(conversation: "c1")
        var iterator = live.makeAsyncIterator()
        guard case .keepalive? = await iterator.next() else { Issue.record("no keepalive"); return }
        await streams.shutdown()
    }

    @Test func eventIDsAreLogPositionsAndOnlyThoseParse() throws {
        let message = try Self.message("c1", "hi", at: 42)
        #expect(message.eventID == "3-42")
        #expect(message.sse.hasPrefix("id: 3-42\nevent: message\ndata: {") && message.sse.hasSuffix("}\n\n"))
        #expect(StreamedMessage.offset(fromEventID: "3-42") == 42)
        for bad in ["", "42", "a-1", "3-x", "3--1", "1-2-3"] { #expect(StreamedMessage.offset(fromEventID: bad) == nil, "\(bad)") }
        let note = try EventEnvelope.start(InternalNoteAdded(handoverID: UUID(), noteID: UUID(), agentID: "a", text: "secret"), conversationID: "c1", tenantID: "t", producer: "test")
        #expect(try StreamedMessage(note, partition: 0, offset: 1) == nil, "an internal note is never a stream message")
    }
}
