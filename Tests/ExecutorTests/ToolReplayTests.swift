import DatabaseTestSupport
import Events
@testable import ExecutorApp
import Foundation
import JSON
import Testing

/// Replay mode (`SWITCHBOARD_TOOL_REPLAY`, shadow runs): the lookup, the file's checks, and the
/// reactor answering from the recording without running the tool.
@Suite struct ToolReplayTests {
    static let refund: JSONValue = ["order_id": "VWX234", "amount": 15, "reason": "customer request"]

    static func replay() -> ToolReplay {
        ToolReplay(calls: [
            .init(conversationID: "shadow-a", tool: "get_order_status", args: ["order_id": "ABC123"], outcome: .succeeded(["order_id": "ABC123", "found": true, "status": "shipped"])),
            .init(conversationID: "shadow-a", tool: "create_refund", args: refund, outcome: .succeeded(["refund_id": "R-9002"])),
            .init(conversationID: "shadow-a", tool: "create_refund", args: refund, outcome: .failed(ToolError(code: "refund_exceeds_refundable", message: "no", retriable: false))),
            .init(conversationID: "shadow-b", tool: "get_order_status", args: ["order_id": "ABC123"], outcome: .succeeded(["order_id": "ABC123", "found": true, "status": "delivered"])),
        ])
    }

    @Test func callsMatchByToolAndArgumentsWhateverTheKeyOrder() {
        let replay = Self.replay()
        let reordered: JSONValue = ["reason": "customer request", "amount": 15.0, "order_id": "VWX234"]
        #expect(replay.answer(conversationID: "shadow-a", tool: "create_refund", args: reordered, riskTier: .lowRiskWrite) == .succeeded(["refund_id": "R-9002"]))
        // The second identical call of the conversation gets the second recording, then the last again.
        #expect(replay.answer(conversationID: "shadow-a", tool: "create_refund", args: Self.refund, riskTier: .lowRiskWrite)
            == .failed(ToolError(code: "refund_exceeds_refundable", message: "no", retriable: false)))
        #expect(replay.answer(conversationID: "shadow-a", tool: "create_refund", args: Self.refund, riskTier: .lowRiskWrite)
            == .failed(ToolError(code: "refund_exceeds_refundable", message: "no", retriable: false)))
        // Each conversation its own recording.
        #expect(replay.answer(conversationID: "shadow-b", tool: "get_order_status", args: ["order_id": "ABC123"], riskTier: .read)["status"] == "delivered")
        #expect(replay.answer(conversationID: "shadow-a", tool: "get_order_status", args: ["order_id": "ABC123"], riskTier: .read)["status"] == "shipped")
    }

    @Test func aReadMayUseAnotherConversationsRecordingAWriteMayNot() {
        let replay = Self.replay()
        #expect(replay.answer(conversationID: "shadow-c", tool: "get_order_status", args: ["order_id": "ABC123"], riskTier: .read)["status"] == "delivered")
        guard case .failed(let error) = replay.answer(conversationID: "shadow-c", tool: "create_refund", args: Self.refund, riskTier: .lowRiskWrite) else {
            Issue.record("a write recorded in another conversation was replayed")
            return
        }
        #expect(error.code == "not_recorded" && !error.retriable)
        guard case .failed(let other) = replay.answer(conversationID: "shadow-a", tool: "get_order_status", args: ["order_id": "DEF456"], riskTier: .read) else {
            Issue.record("arguments production never used were answered")
            return
        }
        #expect(other.code == "not_recorded")
    }

    @Test func theFileIsCheckedWhenLoaded() throws {
        func load(_ text: String) throws -> ToolReplay {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString).json").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try ToolReplay.load(path: path)
        }
        let loaded = try load("""
            [{"tool": "get_invoice", "args": {"order_id": "ABC123"}, "outcome": "succeeded", "result": {"found": false}},
             {"tool": "get_order", "args": {"order_id": "ZZZ999"}, "outcome": "failed", "error": {"code": "timeout", "message": "slow", "retriable": true}, "conversation_id": "x"}]
            """)
        #expect(loaded.calls.count == 2)
        #expect(loaded.calls[1] == .init(conversationID: "x", tool: "get_order", args: ["order_id": "ZZZ999"], outcome: .failed(ToolError(code: "timeout", message: "slow", retriable: true))))
        for (bad, why) in [
            ("{}", "expected a JSON array"), ("[{\"args\": {}}]", "entry 0: no tool"),
            ("[{\"tool\": \"t\", \"args\": {}, \"outcome\": \"maybe\"}]", "outcome must be succeeded or failed"),
            ("[{\"tool\": \"t\", \"args\": {}, \"outcome\": \"failed\"}]", "needs error.code"),
        ] {
            do {
                _ = try load(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error is ToolReplay.LoadError && "\(error)".contains(why), "\(error)")
            }
        }
        #expect(throws: ToolReplay.LoadError.self) { try ToolReplay.load(path: "/nonexistent/replay.json") }
    }

    /// The reactor in replay mode: a refund step is answered with production's recorded result
    /// (ToolCallStarted, then ToolSucceeded), the order is not touched, a redelivered step gets the
    /// same event back, an unrecorded call fails `not_recorded`, and a dry run says it is a replay.
    @Test func theReactorAnswersFromTheRecordingAndRunsNothing() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let published = Published()
            let reactor = ExecutorReactor(
                pack: retailPack, tools: ExecutorService.nativeTools(for: retailPack, logger: ExecutorDB.logger), pool: pool,
                producer: "executor@test", logger: ExecutorDB.logger, replay: Self.replay(), publish: { published.append($0) })
            let refund = try EventEnvelope.start(
                StepApproved(planID: UUID(), stepID: UUID(), tool: "create_refund", args: Self.refund, riskTier: .lowRiskWrite),
                conversationID: "shadow-a", tenantID: tenant, producer: "test")
            try await reactor.handle(refund)
            try await reactor.handle(refund)
            let events = published.all
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded", "ToolSucceeded"])
            #expect(try events[1].decode(ToolSucceeded.self).result == ["refund_id": "R-9002"])
            #expect(events[1].id == events[2].id, "a redelivered step gets the recorded event back")
            #expect(try await CommerceDB.order("VWX234", tenant: tenant, pool).refundedCents == 0)
            #expect(try await CommerceDB.count("refunds", tenant: tenant, pool) == 0)

            try await reactor.handle(try EventEnvelope.start(
                StepApproved(planID: UUID(), stepID: UUID(), tool: "cancel_order", args: ["order_id": "DEF456"], riskTier: .lowRiskWrite),
                conversationID: "shadow-a", tenantID: tenant, producer: "test"))
            #expect(try published.all.last?.decode(ToolFailed.self).error.code == "not_recorded")
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).status == "processing")

            try await reactor.handle(try EventEnvelope.start(
                DryRunRequested(planID: UUID(), stepID: UUID(), tool: "create_refund", args: ["order_id": "DEF456", "amount": 80], riskTier: .highRiskWrite, reason: "over the limit"),
                conversationID: "shadow-a", tenantID: tenant, producer: "test"))
            let preview = try #require(published.all.last).decode(DryRunCompleted.self).preview
            #expect(preview.summary.hasPrefix("Replay (shadow run)") && preview.changes.isEmpty)
        }
    }
}

extension ToolReplay.Outcome {
    subscript(key: String) -> JSONValue? {
        if case .succeeded(let value) = self { return value[key] }
        return nil
    }
}
