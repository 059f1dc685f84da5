import Events
import Foundation
import JSON
import Testing
import UpstreamFixture

/// A pack whose write tool comes from an MCP server (Tests/Support/MCPFixture), over stdio or
/// over streamable HTTP with a secret: every service lists the server's tools at start; a turn
/// plans the tool, a human approves it, the executor calls it once with the step id as
/// `_meta.idempotencyKey`.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct MCPToolTests {
    static let server = Platform.repoRoot.appendingPathComponent("Tests/Support/MCPFixture/vouchers_server.py").path

    enum Transport: String, CaseIterable { case stdio, http }

    /// The pack's `mcp` entry: the server started by each service (stdio), or one the test
    /// started (HTTP, on `port`, its token in the services' environment).
    static func server(_ transport: Transport, log: String, port: Int) -> String {
        switch transport {
        case .stdio: "command: [python3, '\(server)']\n    environment: { VOUCHER_LOG: '\(log)' }"
        case .http: "url: http://127.0.0.1:\(port)/mcp\n    auth: { secret_env: VOUCHERS_TOKEN }"
        }
    }

    static func pack(_ transport: Transport, log: String, port: Int) throws -> String {
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        var pack = retail.replacingOccurrences(of: "\nintents:\n", with: """

            mcp:
              - server: vouchers
                \(server(transport, log: log, port: port))
                timeout_ms: 5000
                tools:
                  issue_voucher:
                    risk_tier: 2
                    rules:
                      - check: "args.amount <= 50"
                        code: voucher_limit
                        message: "Vouchers go up to $50."

            intents:
              - name: voucher
                action: tool_calls
                skills: [billing]
                patterns: ['\\bvoucher\\b']
                slots:
                  - name: order_id
                    pattern: '\\b([A-Za-z]{3}[0-9]{3})\\b'
                    uppercase: true
                    question: "Which order is the voucher for?"
                  - name: amount
                    type: number
                    pattern: '\\$([0-9]{1,3})\\b'
                    question: "How much should the voucher be for?"
                steps:
                  - tool: issue_voucher
                    args: { order_id: "{{order_id}}", amount: "{{amount}}" }
                    why: The customer asked for a voucher.
                answers:
                  - text: "Here is voucher {{voucher_id}} for ${{amount}} on order {{order_id}}."

            """)
        pack = pack.replacingOccurrences(of: "intents:\n\nintents:\n", with: "intents:\n")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-\(UUID().uuidString).yaml").path
        try pack.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func calls(_ log: String) throws -> [JSONValue] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    @Test(arguments: Transport.allCases)
    func anMCPWriteToolRunsOnceAfterApproval(transport: Transport) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("vouchers-\(UUID().uuidString).jsonl").path
        let token = UUID().uuidString
        let http = transport == .http ? try FixtureProcess([Self.server, "--http"], environment: ["VOUCHER_LOG": log, "MCP_TOKEN": token]) : nil
        let path = try Self.pack(transport, log: log, port: http?.port ?? 0)
        defer {
            http?.stop()
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: log)
        }
        try await Platform.with("mcp_\(transport)", pack: path, secrets: ["VOUCHERS_TOKEN": token]) { p in
            let asked = try await p.post("mcp-1", #"{"customer_id":"cus_1001","text":"Can I get a voucher of $20 for order DEF456?"}"#)
            #expect(asked.json["reply"]?["text"]?.stringValue?.hasPrefix("I've asked a colleague to approve this") == true, "\(asked.json)")
            let approval = try await p.pendingApproval("mcp-1")
            #expect(approval["tool"] == "issue_voucher" && approval["risk_tier"] == 2)
            #expect(approval["preview"]?["changes"]?[0]?["target"] == "mcp vouchers/issue_voucher")
            #expect(try Self.calls(log).filter { $0["tool"] == "issue_voucher" }.isEmpty, "nothing called before the approval")

            let id = try #require(approval["approval_id"]?.stringValue)
            #expect(try await p.request("POST", "/v1/approvals/\(id)/approve", body: #"{"agent_id":"agent_ana"}"#, service: "hilqueue").status == 200)
            let answer = try await p.eventually("the voucher's answer") { try p.deliveredReplies("mcp-1").dropFirst().first }
            #expect(answer.hasPrefix("Here is voucher V-0001 for $20 on order DEF456"), "\(answer)")

            let step = try #require(p.log.events(conversation: "mcp-1").first { $0.type == "StepApproved" && (try? $0.decode(StepApproved.self).tool) == "issue_voucher" }).decode(StepApproved.self)
            let calls = try Self.calls(log).filter { $0["tool"] == "issue_voucher" }
            #expect(calls.count == 1 && calls[0]["issued"] == true)
            #expect(calls[0]["key"] == .string(step.stepID.lowercaseString), "the step id as _meta.idempotencyKey")
            #expect(calls[0]["arguments"] == ["order_id": "DEF456", "amount": 20])

            // The pack's rule over the MCP tool's arguments holds before any human is asked.
            let tooMuch = try await p.post("mcp-2", #"{"customer_id":"cus_1001","text":"voucher of $80 for order DEF456 please"}"#)
            #expect(tooMuch.json["reply"]?["text"] == "Vouchers go up to $50.")
        }
    }
}
