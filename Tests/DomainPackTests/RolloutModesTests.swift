import DomainPack
import Events
import Foundation
import Testing

@Suite struct RolloutModesTests {
    @Test func modesPerIntentWithADefault() throws {
        let modes = try RolloutModes.parse(yaml: """
            name: p
            rollout: { default: shadow }
            intents:
              - { name: refund, rollout: assisted }
              - { name: order_status, rollout: autonomous }
              - { name: greeting }
            """)
        #expect(modes.mode(for: "refund") == .assisted && modes.mode(for: "order_status") == .autonomous)
        #expect(modes.mode(for: "greeting") == .shadow && modes.mode(for: "unknown") == .shadow, "unset intents and unmatched messages take the default")
        #expect(modes.uses == [.assisted, .autonomous, .shadow])
        #expect(try RolloutModes.parse(yaml: "name: p\nintents: []\n") == RolloutModes(), "no rollout settings: everything autonomous")
    }

    @Test(arguments: [
        ("name: p\nrollout: { default: yolo }\n", "$.rollout.default"),
        ("name: p\nrollout: { refund: shadow }\n", "$.rollout.refund"),
        ("name: p\nrollout: shadow\n", "$.rollout"),
        ("name: p\nintents:\n  - { name: refund, rollout: 3 }\n", "$.intents[0].rollout"),
    ])
    func mistakesNameTheirPlace(yaml: String, path: String) {
        #expect { try RolloutModes.parse(yaml: yaml) } throws: { error in (error as? DomainPackError)?.path == path }
    }

    @Test func theShippedPacksLoadWithTheirModes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["retail", "telecom"] {
            let pack = try DomainPack.load(path: root.appendingPathComponent("deploy/packs/\(name).yaml").path, discoverMCP: { _ in [] })
            #expect(pack.rollout.uses == [.autonomous])
        }
    }
}

@Suite struct ShadowDecisionTests {
    typealias Choice = ShadowDecisionRecorded.Choice

    @Test func agreementNeedsTheSameIntentActionToolsAndArguments() {
        let production = Choice(brain: "rules", intent: "refund", nextAction: .toolCalls, steps: [.init(tool: "create_refund", args: ["order_id": "ABC123", "amount": 20])], reply: nil)
        #expect(ShadowDecisionRecorded(production: production, candidate: production, failure: nil).agrees)
        var otherAmount = production
        otherAmount.steps = [.init(tool: "create_refund", args: ["order_id": "ABC123", "amount": 25])]
        #expect(!ShadowDecisionRecorded(production: production, candidate: otherAmount, failure: nil).agrees)
        var otherIntent = production
        otherIntent.intent = "cancel_order"
        #expect(!ShadowDecisionRecorded(production: production, candidate: otherIntent, failure: nil).agrees)
        var differentWords = production
        differentWords.reply = "other text"
        #expect(ShadowDecisionRecorded(production: production, candidate: differentWords, failure: nil).agrees, "reply wording is not compared")
        #expect(!ShadowDecisionRecorded(production: production, candidate: nil, failure: "invalid_output").agrees)
    }
}
