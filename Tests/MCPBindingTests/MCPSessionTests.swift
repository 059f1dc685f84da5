import Foundation
import JSON
import Logging
import MCPBinding
import Testing
import ToolRuntime

/// The MCP client against a real stdio server process (Tests/Support/MCPFixture).
@Suite(.timeLimit(.minutes(1)))
struct MCPSessionTests {
    static let server = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/MCPFixture/vouchers_server.py").path

    static func spec(log: String) -> MCPServerSpec {
        MCPServerSpec(name: "vouchers", command: ["python3", server], environment: ["VOUCHER_LOG": log], timeout: .seconds(5))
    }

    @Test func discoveryListsTheToolsWithTheirSchemasAndHints() throws {
        let tools = try MCPDiscovery.tools(Self.spec(log: "/dev/null"))
        #expect(tools.map(\.name) == ["issue_voucher", "voucher_balance"])
        #expect(tools[0].readOnly == false && tools[1].readOnly == true)
        #expect(tools[0].inputSchema["required"] == ["amount", "order_id"])
        #expect(tools[0].outputSchema?["required"] == ["voucher_id", "amount"])
    }

    @Test func callsCarryTheIdempotencyKeyAndToolErrorsAreFailures() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let session = try await MCPSession.start(Self.spec(log: log), logger: Logger(label: "test"))
        let first = try await session.call(tool: "issue_voucher", arguments: ["amount": 10, "order_id": "DEF456"], idempotencyKey: "step-1", timeout: .seconds(5))
        let again = try await session.call(tool: "issue_voucher", arguments: ["amount": 10, "order_id": "DEF456"], idempotencyKey: "step-1", timeout: .seconds(5))
        #expect(first == .success(["voucher_id": "V-0001", "amount": 10, "order_id": "DEF456"]))
        #expect(again == first, "the same key: the first voucher again")
        let refused = try await session.call(tool: "issue_voucher", arguments: ["amount": 500, "order_id": "DEF456"], idempotencyKey: "step-2", timeout: .seconds(5))
        #expect(refused == .failure(.toolError("vouchers are at most 100")))
        #expect(refused.failureCode == "tool_error")
        let text = try await session.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "step-3", timeout: .seconds(5))
        #expect(text == .success(["balance": 10]), "text content parsed as JSON")
        await session.stop()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.map { $0["key"] } == ["step-1", "step-1", "step-2", "step-3"])
        #expect(lines.filter { $0["issued"] == true }.count == 1)
    }

    @Test func aSessionWhoseServerDiedIsReplacedByTheNextOne() async throws {
        let sessions = MCPSessions()
        let spec = Self.spec(log: "/dev/null")
        let logger = Logger(label: "test")
        let session = try await sessions.session(for: spec, logger: logger)
        #expect(try await session.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "a", timeout: .seconds(5)) == .success(["balance": 0]))
        kill(try #require(await session.serverProcessID), SIGKILL)
        while await session.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let failed = try await session.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "b", timeout: .seconds(2))
        #expect(failed.failureCode == "upstream_unreachable" || failed.failureCode == "timeout", "\(failed)")
        let replacement = try await sessions.session(for: spec, logger: logger)
        #expect(replacement !== session)
        #expect(try await replacement.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "c", timeout: .seconds(5)) == .success(["balance": 0]))
        await sessions.stopAll()
    }

    @Test func aServerThatCannotStartIsAnError() async throws {
        await #expect(throws: MCPError.self) {
            _ = try await MCPSession.start(MCPServerSpec(name: "nope", command: ["/nonexistent/server"], timeout: .seconds(2)), logger: Logger(label: "test"))
        }
    }
}

extension Result where Failure == ToolCallFailure {
    var failureCode: String? { if case .failure(let failure) = self { failure.code } else { nil } }
}
