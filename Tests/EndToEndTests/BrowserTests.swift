import Events
import Auth
import Foundation
import Testing

/// The customer's widget and the agent's inbox in a real browser (Debian's Chromium and
/// chromium-driver, Selenium from PyPI; `make test` installs them): Tests/Browser/handover_ui.py
/// drives both windows over the running platform. Screenshots go to .run/test/screenshots.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BrowserTests {
    @Test func theWidgetAndTheInboxInAHeadlessBrowser() async throws {
        let screenshots = Platform.repoRoot.appendingPathComponent(".run/test/screenshots").path
        try? FileManager.default.removeItem(atPath: screenshots)
        let agents = Platform.repoRoot.appendingPathComponent("deploy/agents.yaml").path
        try await Platform.with("browser", environment: ["SWITCHBOARD_HIL_AGENTS": agents]) { p in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", Platform.repoRoot.appendingPathComponent("Tests/Browser/handover_ui.py").path,
                "--gateway", p.stack.gatewayURL, "--hilqueue", p.stack.url(of: "hilqueue"), "--out", screenshots, "--conversation", "ui-1",
                "--customer-token", try p.token(customer: "cus_1001"), "--agent-token", try p.token(scopes: [.hilAgent], subject: "agent_ana", kind: .agent),
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(text)")
            for file in ["widget.png", "inbox.png", "inbox-resolved.png"] {
                let size = (try? FileManager.default.attributesOfItem(atPath: screenshots + "/" + file)[.size] as? Int) ?? 0
                #expect(size > 10_000, "\(file) written")
            }
            // What the clicks did is on the log.
            let types = p.log.events(conversation: "ui-1").map(\.type)
            for type in ["ApprovalRequested", "HandoverRequested", "HandoverClaimed", "AgentReplied", "ApprovalGranted", "ConversationResolved"] {
                #expect(types.contains(type), "\(type) in \(types)")
            }
            let refunds = try await p.pool.query("SELECT count(*)::int AS n FROM commerce.refunds WHERE order_id = 'DEF456' AND amount_cents = 8000")
            #expect(try refunds.first(where: { _ in true })?.decode("n", as: Int.self) == 1, "the approved refund ran once")
        }
    }
}
