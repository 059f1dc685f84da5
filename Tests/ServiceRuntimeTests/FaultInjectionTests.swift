import Foundation
import ServiceRuntime
import Testing

@Suite struct FaultInjectionTests {
    @Test func parsesTheFaultsAndRejectsMistakes() throws {
        let faults = try FaultInjection.parse("tool_error=20, tool_latency=15:2500,llm_error=30,llm_timeout=5")
        #expect(faults.toolErrorPercent == 20 && faults.toolLatencyPercent == 15 && faults.toolLatencyMs == 2500)
        #expect(faults.llmErrorPercent == 30 && faults.llmTimeoutPercent == 5 && !faults.isEmpty)
        #expect(try FaultInjection.parse(nil).isEmpty && FaultInjection.parse("").isEmpty)
        for bad in ["tool_error=101", "tool_latency=10", "tool_latency=10:0", "meteor=1", "tool_error"] {
            #expect(throws: ConfigError.self, "\(bad)") { try FaultInjection.parse(bad) }
        }
    }

    @Test func scriptedFaultsHitOneToolInOneConversation() throws {
        let faults = try FaultInjection.parse("tool_error@eval-1-a=get_order,tool_timeout@eval-1-a=get_invoice,tool_error@eval-1-b=get_invoice")
        #expect(!faults.isEmpty && faults.toolErrorPercent == 0)
        #expect(faults.scripted(conversation: "eval-1-a", tool: "get_order") == .error)
        #expect(faults.scripted(conversation: "eval-1-a", tool: "get_invoice") == .timeout)
        #expect(faults.scripted(conversation: "eval-1-b", tool: "get_invoice") == .error)
        #expect(faults.scripted(conversation: "eval-1-b", tool: "get_order") == nil, "another tool in the conversation is untouched")
        #expect(faults.scripted(conversation: "eval-1-c", tool: "get_order") == nil, "another conversation is untouched")
        for bad in ["tool_latency@c=get_order", "tool_error@=get_order", "tool_error@c=", "meteor@c=x"] {
            #expect(throws: ConfigError.self, "\(bad)") { try FaultInjection.parse(bad) }
        }
    }

    @Test func aKeyIsHitTheSameWayEveryTimeAndRatesAreRoughlyKept() {
        let keys = (0..<2000).map { _ in UUID() }
        let hit = keys.filter { FaultInjection.hits(20, key: $0, salt: "tool_error") }
        #expect((300...500).contains(hit.count), "\(hit.count) of 2000 at 20%")
        #expect(hit.allSatisfy { FaultInjection.hits(20, key: $0, salt: "tool_error") }, "a redelivered step meets the same fault")
        #expect(keys.allSatisfy { !FaultInjection.hits(0, key: $0, salt: "x") } && keys.allSatisfy { FaultInjection.hits(100, key: $0, salt: "x") })
    }
}
