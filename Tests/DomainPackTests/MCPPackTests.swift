import DomainPack
import Events
import JSON
import MCPBinding
import Testing

/// A pack's `mcp` section with the server's listing given directly (the MCP client itself is
/// tested against a real server in MCPBindingTests).
@Suite struct MCPPackTests {
    static let listed = [
        MCPToolDescription(name: "issue_voucher", description: "Issues a voucher.", inputSchema: ["type": "object", "properties": ["amount": ["type": "number"]]], outputSchema: nil, readOnly: false),
        MCPToolDescription(name: "voucher_balance", description: "Balance.", inputSchema: ["type": "object"], outputSchema: ["type": "object"], readOnly: true),
    ]

    static func pack(_ mcp: String) -> String {
        PackRulesTests.pack.replacingOccurrences(of: "\nintents:\n", with: "\n" + mcp + "\nintents:\n")
    }

    @Test func toolsComeFromTheServerWithThePacksTiersAndRules() throws {
        var asked: [MCPServerSpec] = []
        let pack = try DomainPack.parse(yaml: Self.pack("""
            mcp:
              - server: vouchers
                command: [python3, server.py]
                environment: { VOUCHER_LOG: /tmp/x }
                timeout_ms: 3000
                tools:
                  issue_voucher:
                    risk_tier: 1
                    rules: [{ check: "args.amount <= tenant.auto_refund_limit", code: limit, message: "Too much." }]
            """), discoverMCP: { asked.append($0); return Self.listed })
        #expect(asked == [MCPServerSpec(name: "vouchers", command: ["python3", "server.py"], environment: ["VOUCHER_LOG": "/tmp/x"], timeout: .seconds(3))])
        let issue = try #require(pack.tools["issue_voucher"])
        #expect(issue.binding == "mcp" && issue.mcpServer?.name == "vouchers" && issue.riskTier == .lowRiskWrite && issue.timeoutMs == 3000)
        #expect(issue.rules.map(\.code) == ["limit"])
        #expect(issue.inputSchema.validate(["amount": 5]).isValid && !issue.inputSchema.validate(["amount": "5"]).isValid)
        #expect(pack.tools["voucher_balance"]?.riskTier == .read, "readOnlyHint: tier 0 unless the pack says otherwise")
    }

    @Test(arguments: [
        ("tools:\n          nope: { risk_tier: 1 }", "MCP server 'vouchers' lists no tool 'nope' (it lists: issue_voucher, voucher_balance)"),
        ("tools:\n          issue_voucher: { rules: [{ check: \"args.amout > 1\", code: c, message: m }] }", "args.amout is not an argument of issue_voucher"),
    ])
    func mistakesAreNamed(tools: String, message: String) {
        let yaml = Self.pack("mcp:\n  - server: vouchers\n    command: [srv]\n    " + tools.replacingOccurrences(of: "\n          ", with: "\n      "))
        #expect(throws: DomainPackError.self) { try DomainPack.parse(yaml: yaml, discoverMCP: { _ in Self.listed }) }
        do { _ = try DomainPack.parse(yaml: yaml, discoverMCP: { _ in Self.listed }) } catch {
            #expect(String(describing: error).contains(message), "\(error)")
        }
    }

    @Test func aServerOverStreamableHTTPHasAURLHeadersAndASecret() throws {
        var asked: [MCPServerSpec] = []
        _ = try DomainPack.parse(yaml: Self.pack("""
            mcp:
              - server: vouchers
                url: https://vouchers.example/mcp
                headers: { X-Shop: demo }
                auth: { secret_env: VOUCHERS_TOKEN }
            """), discoverMCP: { asked.append($0); return Self.listed })
        #expect(asked == [MCPServerSpec(
            name: "vouchers", url: "https://vouchers.example/mcp", headers: ["X-Shop": "demo"],
            auth: .init(header: "Authorization", scheme: "Bearer", secretEnv: "VOUCHERS_TOKEN"), timeout: .seconds(5))])
    }

    @Test(arguments: [
        ("mcp:\n  - server: vouchers", "needs a command (a stdio server) or a url"),
        ("mcp:\n  - server: vouchers\n    command: [srv]\n    url: http://x/mcp", "has both a command and a url"),
        ("mcp:\n  - server: vouchers\n    url: ftp://x/mcp", "mcp[0].url: must be an http:// or https:// URL"),
        ("mcp:\n  - server: vouchers\n    url: http://x/mcp\n    headers: { X-A: [1] }", "mcp[0].headers.X-A"),
    ])
    func serverEntriesAreOneKindOrTheOther(section: String, message: String) {
        do {
            _ = try DomainPack.parse(yaml: Self.pack(section), discoverMCP: { _ in Self.listed })
            Issue.record("loaded")
        } catch {
            #expect(String(describing: error).contains(message), "\(error)")
        }
    }

    @Test func aServerThatCannotBeListedStopsTheLoad() {
        let yaml = Self.pack("mcp:\n  - server: vouchers\n    command: [srv]")
        do {
            _ = try DomainPack.parse(yaml: yaml, discoverMCP: { _ in throw MCPError.init(description: "exited") })
            Issue.record("loaded")
        } catch {
            #expect(String(describing: error).contains("cannot list the tools of MCP server 'vouchers'"), "\(error)")
        }
    }
}
