import DomainPack
import Events
import Foundation
import JSON
@testable import ExecutorApp
import Postgres
import Testing

/// A native tool slower than its contract's timeout.
struct SleepingTool: NativeTool {
    let name = "get_balance"
    var systemOfRecord: SystemOfRecord { GetBalance().systemOfRecord }
    func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        try connection.query("SELECT pg_sleep(2)")
        return ["slept": true]
    }
}

@Suite struct ToolTimeoutTests {
    /// The contract's timeout stops the tool's statements; the failure is recorded (so the
    /// record's own write ran without the tool's timeout) and a redelivery gets it back.
    @Test func aToolOverItsTimeoutFailsAndTheFailureIsRecorded() async throws {
        var pack = telecomPack
        pack.tools["get_balance"]?.timeoutMs = 50
        try await ExecutorDB.withPool { pool in
            let published = Published()
            let reactor = ExecutorReactor(pack: pack, tools: [SleepingTool()], pool: pool, producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
            let step = try EventEnvelope.start(
                StepApproved(planID: UUID(), stepID: UUID(), tool: "get_balance", args: ["phone_number": "+447700900123"], riskTier: .read),
                conversationID: "conv-timeout", tenantID: "default", producer: "test")
            try await reactor.handle(step)
            try await reactor.handle(step)
            let events = published.all
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolFailed", "ToolFailed"])
            #expect(try events[1].decode(ToolFailed.self).error.code == "timeout")
            #expect(EventCodec.encode(events[1]) == EventCodec.encode(events[2]))
        }
    }
}
