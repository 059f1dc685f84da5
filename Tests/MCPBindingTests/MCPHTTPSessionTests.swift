import Foundation
import HTTPClient
import JSON
import Logging
import MCPBinding
import Testing
import ToolRuntime
import UpstreamFixture

/// The MCP client over streamable HTTP against a real server process (the voucher fixture in
/// `--http` mode), through libcurl.
@Suite(.timeLimit(.minutes(1)))
struct MCPHTTPSessionTests {
    /// The fixture server; it exits when this closes its stdin.
    final class Server: Sendable {
        let fixture: FixtureProcess
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-http-\(UUID().uuidString).jsonl").path

        init(token: String?) throws {
            fixture = try FixtureProcess([MCPSessionTests.server, "--http"], environment: ["VOUCHER_LOG": log].merging(token.map { ["MCP_TOKEN": $0] } ?? [:]) { a, _ in a })
        }

        var port: Int { fixture.port }
        var url: String { "http://127.0.0.1:\(port)/mcp" }

        func entries() throws -> [JSONValue] {
            guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
            return try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        }

        func stop() {
            fixture.stop()
            try? FileManager.default.removeItem(atPath: log)
        }
    }

    static let auth = HTTPBinding.Auth(header: "Authorization", scheme: "Bearer", secretEnv: "SWITCHBOARD_TEST_MCP_TOKEN")

    init() {
        setenv("SWITCHBOARD_TEST_MCP_TOKEN", "s3cret", 1)
    }

    @Test func discoveryOverHTTPListsTheToolsWithTheSecretSent() throws {
        let server = try Server(token: "s3cret")
        defer { server.stop() }
        let tools = try MCPDiscovery.tools(MCPServerSpec(name: "vouchers", url: server.url, auth: Self.auth))
        #expect(tools.map(\.name) == ["issue_voucher", "voucher_balance"])
        #expect(tools[0].inputSchema["required"] == ["amount", "order_id"])
        #expect(tools[1].readOnly)
    }

    @Test func aRefusedSecretOrAMissingOneIsAClearError() throws {
        let server = try Server(token: "s3cret")
        defer { server.stop() }
        setenv("SWITCHBOARD_TEST_MCP_WRONG", "guess", 1)
        let wrong = HTTPBinding.Auth(header: "Authorization", scheme: "Bearer", secretEnv: "SWITCHBOARD_TEST_MCP_WRONG")
        #expect { try MCPDiscovery.tools(MCPServerSpec(name: "vouchers", url: server.url, auth: wrong)) } throws: { error in
            "\(error)".contains("refused the credentials (HTTP 401)")
        }
        let unset = HTTPBinding.Auth(header: "Authorization", scheme: "Bearer", secretEnv: "SWITCHBOARD_TEST_MCP_UNSET")
        #expect { try MCPDiscovery.tools(MCPServerSpec(name: "vouchers", url: server.url, auth: unset)) } throws: { error in
            "\(error)".contains("SWITCHBOARD_TEST_MCP_UNSET is not set")
        }
    }

    @Test func callsOverHTTPReadEventStreamAnswersAndCarryTheIdempotencyKey() async throws {
        let server = try Server(token: "s3cret")
        defer { server.stop() }
        let session = try await MCPSession.start(MCPServerSpec(name: "vouchers", url: server.url, auth: Self.auth), logger: Logger(label: "test"))
        let first = try await session.call(tool: "issue_voucher", arguments: ["amount": 10, "order_id": "DEF456"], idempotencyKey: "step-1", timeout: .seconds(5))
        let again = try await session.call(tool: "issue_voucher", arguments: ["amount": 10, "order_id": "DEF456"], idempotencyKey: "step-1", timeout: .seconds(5))
        #expect(first == .success(["voucher_id": "V-0001", "amount": 10, "order_id": "DEF456"]))
        #expect(again == first, "the same key: the first voucher again")
        let refused = try await session.call(tool: "issue_voucher", arguments: ["amount": 500, "order_id": "DEF456"], idempotencyKey: "step-2", timeout: .seconds(5))
        #expect(refused == .failure(.toolError("vouchers are at most 100")))
        let tools = try await session.listTools()
        #expect(tools.count == 2, "a JSON answer (tools/list) as well as event streams")
        await session.stop()
        let lines = try server.entries()
        #expect(lines.map { $0["key"] } == ["step-1", "step-1", "step-2"])
        #expect(lines.filter { $0["issued"] == true }.count == 1)
    }

    @Test func aSessionTheServerForgotIsReplacedByTheNextOne() async throws {
        let server = try Server(token: nil)
        defer { server.stop() }
        let spec = MCPServerSpec(name: "vouchers", url: server.url)
        let sessions = MCPSessions()
        let logger = Logger(label: "test")
        let session = try await sessions.session(for: spec, logger: logger)
        #expect(try await session.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "a", timeout: .seconds(5)) == .success(["balance": 0]))
        let client = HTTPClient(logger: logger)
        _ = try await client.execute(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/_forget", body: []))
        await client.shutdown()
        let failed = try await session.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "b", timeout: .seconds(5))
        #expect(failed.failureCode == "upstream_unreachable", "a 404 for the session is a transport failure: \(failed)")
        #expect(await session.isRunning == false)
        let replacement = try await sessions.session(for: spec, logger: logger)
        #expect(replacement !== session)
        #expect(try await replacement.call(tool: "voucher_balance", arguments: [:], idempotencyKey: "c", timeout: .seconds(5)) == .success(["balance": 0]))
        await sessions.stopAll()
    }
}
