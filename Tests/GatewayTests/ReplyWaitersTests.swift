import Events
import Foundation
@testable import GatewayApp
import Testing

/// A held request (`?wait`) listens from before its message is appended until it answers: a
/// reply the log tail sees between two of its rechecks must reach it, not be dropped.
@Suite struct ReplyWaitersTests {
    let reply = ReplyDelivered(replyID: UUID(), kind: .answer, text: "Shipped.", channel: "api")

    @Test func aReplyArrivingBetweenTwoWaitsIsKeptForTheNextOne() async {
        let waiters = ReplyWaiters()
        let turn = UUID()
        await waiters.prepare(turn)
        #expect(await waiters.wait(turn, timeout: .milliseconds(5)) == nil, "nothing yet: the wait times out")
        await waiters.deliver(turn, reply)
        #expect(await waiters.wait(turn, timeout: .seconds(5))?.replyID == reply.replyID)
        await waiters.finish(turn)
        #expect(await waiters.count == 0, "the slot is gone once the request stops waiting")
    }

    @Test func aWaitingRequestIsWokenByTheReply() async {
        let waiters = ReplyWaiters()
        let turn = UUID()
        await waiters.prepare(turn)
        async let received = waiters.wait(turn, timeout: .seconds(10))
        try? await Task.sleep(for: .milliseconds(20))
        await waiters.deliver(turn, reply)
        #expect(await received?.replyID == reply.replyID)
        await waiters.finish(turn)
    }

    @Test func aReplyForATurnNobodyWaitsForIsNotKept() async {
        let waiters = ReplyWaiters()
        await waiters.deliver(UUID(), reply)
        #expect(await waiters.count == 0)
    }
}
