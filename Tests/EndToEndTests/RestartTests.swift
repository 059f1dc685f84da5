import DevStack
import Foundation
import JSON
import Testing

/// DESIGN.md §8: kill -9 a service, keep sending, restart it by hand with only the env file's
/// variables: every accepted message still gets its reply.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RestartTests {
    @Test(arguments: ["planner", "executor"])
    func acceptedMessageIsAnsweredAfterAHardKillAndRestart(service: String) async throws {
        try await Platform.with("restart_\(service)") { p in
            // Warm: the service has joined its group and handled a turn.
            let warm = try await p.post("conv-warm", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
            #expect(warm.status == 200)

            let process = try #require(p.stack.process(service))
            await process.killHard()
            #expect(!process.isRunning)

            // Accepted while the service is down: 202, nothing lost.
            let accepted = try await p.post("conv-\(service)-down", #"{"customer_id":"cus_1001","text":"Where is my order DEF456?"}"#, wait: 1)
            #expect(accepted.status == 202)
            #expect(accepted.json["status"] == "accepted")

            try p.stack.startService(service)
            try await p.stack.waitUntilReady(service)

            let conversation = try await p.eventually("reply after restart", timeout: .seconds(60)) { () -> JSONValue? in
                let c = try await p.get("/v1/conversations/conv-\(service)-down").json
                // Not a ternary: `cond ? c : nil` would make nil a JSONValue.null and end the wait.
                guard (c["messages"]?.arrayValue?.count ?? 0) >= 2 else { return nil }
                return c
            }
            let messages = try #require(conversation["messages"]?.arrayValue)
            #expect(messages.last?["role"] == "assistant")
            #expect(messages.last?["text"]?.stringValue?.contains("DEF456") == true)
            #expect(messages.last?["text"]?.stringValue?.contains("being prepared") == true)
            let events = p.log.events(conversation: "conv-\(service)-down")
            #expect(events.map(\.type) == foundOrderSequence, "no step lost or duplicated: \(events.map(\.type))")
        }
    }
}
