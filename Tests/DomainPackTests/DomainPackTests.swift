import DomainPack
import Foundation
import JSON
import Testing

@Suite struct DomainPackTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func retailPackLoads() throws {
        let pack = try DomainPack.load(path: Self.repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path)
        #expect(pack.name == "retail")
        let tool = try #require(pack.tools["get_order_status"])
        #expect(tool.riskTier == .read)
        #expect(tool.inputSchema.validate(["order_id": "ABC123"]).isValid)
        #expect(pack.intent(named: "order_status")?.slots.map(\.name) == ["order_id"])
    }

    static let minimal = """
        name: t
        tools:
          t1:
            description: d
            risk_tier: read
            binding: native
            input_schema: { type: object }
            output_schema: { type: object }
        intents:
          - name: i
            action: tool_calls
            patterns: ['x']
            steps: [{ tool: t1, args: {}, why: w }]
            answers: [{ text: ok }]
        replies: { unknown_intent: a, clarification_limit: b, step_rejected: c, tool_failed: d, reply_blocked: e }
        policy: {}
        """

    @Test func minimalPackParses() throws {
        _ = try DomainPack.parse(yaml: Self.minimal)
    }

    @Test(arguments: [
        ("tool: t1", "tool: nope", "unknown tool"),
        ("risk_tier: read", "risk_tier: maybe", "risk_tier"),
        ("patterns: ['x']", "patterns: ['(']", "regular expression"),
        ("input_schema: { type: object }", "input_schema: { type: 5 }", "input_schema"),
        ("answers: [{ text: ok }]", "answers: [{ text: '{{#x}}' }]", "template"),
    ])
    func brokenPackNamesTheMistake(original: String, replacement: String, mention: String) {
        let yaml = Self.minimal.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != Self.minimal)
        do {
            _ = try DomainPack.parse(yaml: yaml)
            Issue.record("accepted a broken pack: \(replacement)")
        } catch {
            #expect(String(describing: error).contains(mention), "\(error)")
        }
    }
}
