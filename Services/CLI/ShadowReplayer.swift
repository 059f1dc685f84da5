import Events
import Foundation
import HTTPClient
import JSON
import Logging

/// Posts production's recorded customer messages to the candidate platform's gateway, one
/// conversation at a time per slot (`--concurrency`), and reads back what the candidate did in
/// each turn from the gateway's read API. A turn ends at the first of: a reply delivered, a
/// handover, an approval (nobody decides in a shadow run), or the turn timeout.
struct ShadowReplayer: Sendable {
    let runner: EvalRunner
    let turnTimeout: Double
    let concurrency: Int

    init(gateway: String, token: String, turnTimeout: Double, concurrency: Int, logger: Logger) throws {
        runner = EvalRunner(
            platform: .init(gateway: gateway, hilqueue: nil, broker: nil, faults: try FaultPlan(nil), token: token),
            turnTimeout: turnTimeout, concurrency: concurrency, logger: logger)
        self.turnTimeout = turnTimeout
        self.concurrency = concurrency
    }

    /// The candidate conversation id: `shadow-<run>-<production id>`, kept within the gateway's
    /// 128 characters (a long id is cut and keeps a hash of itself, so ids stay distinct).
    static func candidateID(runID: String, conversationID: String) -> String {
        let prefix = "shadow-\(runID)-"
        guard prefix.count + conversationID.count > 128 else { return prefix + conversationID }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in conversationID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return prefix + conversationID.prefix(128 - prefix.count - 17) + "-" + String(hash, radix: 16).leftPadded(to: 16)
    }

    /// Every conversation's turns, replayed; nil for a turn not replayed because the candidate
    /// had handed the conversation over.
    func replay(_ recording: ShadowRecording, runID: String) async throws -> [[ShadowSide?]] {
        defer { Task { [http = runner.http] in await http.shutdown() } }
        try await runner.warmUp(runID: "shadow-\(runID)")
        let conversations = recording.conversations
        var results = [[ShadowSide?]](repeating: [], count: conversations.count)
        try await withThrowingTaskGroup(of: (Int, [ShadowSide?]).self) { group in
            var next = 0
            func launch() {
                let index = next
                next += 1
                group.addTask { (index, try await self.converse(conversations[index], candidateID: Self.candidateID(runID: runID, conversationID: conversations[index].id))) }
            }
            while next < min(concurrency, conversations.count) { launch() }
            while let (index, sides) = try await group.next() {
                results[index] = sides
                if next < conversations.count { launch() }
            }
        }
        return results
    }

    func converse(_ conversation: ShadowRecording.Conversation, candidateID: String) async throws -> [ShadowSide?] {
        var sides: [ShadowSide?] = []
        var handedOver = false
        for turn in conversation.turns {
            // With the candidate's humans (nobody, in a shadow run), the AI's part is over.
            guard !handedOver else {
                sides.append(nil)
                continue
            }
            let side = try await self.turn(turn.text, customerID: turn.customerID, conversationID: candidateID)
            handedOver = side.outcome == .handedOver
            sides.append(side)
        }
        return sides
    }

    func turn(_ text: String, customerID: String, conversationID: String) async throws -> ShadowSide {
        let body = JSONValue.object(["customer_id": .string(customerID), "text": .string(text)]).serialized()
        let response = try await runner.send(HTTPRequest(
            method: "POST", url: "\(runner.platform.gateway)/v1/conversations/\(conversationID)/messages",
            headers: runner.headers, body: body, timeout: .seconds(30)))
        guard response.status == 202 || response.status == 200, let turnText = (try? JSONValue.parse(response.body))?["turn_id"]?.stringValue, let turnID = UUID(uuidString: turnText) else {
            throw EvalRunError("POST a message to \(conversationID) on the candidate platform: HTTP \(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        let deadline = ContinuousClock.now + .seconds(turnTimeout)
        var endSeenAt: ContinuousClock.Instant?
        var events: [EventEnvelope] = []
        while ContinuousClock.now < deadline {
            events = try await runner.events(conversationID).filter { $0.turnID == turnID }
            let handover = events.contains { $0.type == HandoverRequested.eventType }
            let approval = events.contains { $0.type == ApprovalRequested.eventType }
            if events.contains(where: { $0.type == ReplyDelivered.eventType }) {
                return ShadowSide(events: events, outcome: handover ? .handedOver : approval ? .awaitingApproval : .replied)
            }
            if handover || approval {
                // Its message follows; without one the turn still ends, a few seconds later.
                if let seen = endSeenAt, ContinuousClock.now - seen > .seconds(3) {
                    return ShadowSide(events: events, outcome: handover ? .handedOver : .awaitingApproval)
                }
                endSeenAt = endSeenAt ?? .now
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return ShadowSide(events: events, outcome: .unanswered)
    }
}

extension String {
    func leftPadded(to length: Int) -> String { count >= length ? self : String(repeating: "0", count: length - count) + self }
}
