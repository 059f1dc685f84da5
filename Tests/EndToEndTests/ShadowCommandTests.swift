import DatabaseTestSupport
import Events
import Foundation
import JSON
import Postgres
import Testing

/// `switchboard shadow` as an operator runs it: production (a platform with the retail pack and
/// the rules brain) answers a few conversations; the command replays them from production's log
/// through a candidate policy on a platform of its own, tools answered from the recording, and
/// writes the decision diff. Production's log, database and customers see nothing of it.
@Suite(.serialized) struct ShadowCommandTests {
    static let runRoot = (ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_RUN_DIR"] ?? Platform.repoRoot.appendingPathComponent(".run/test").path)

    /// Runs the CLI without blocking a thread of the test's pool (output to files, exit awaited).
    static func shadow(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shadow-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let outPath = directory.appendingPathComponent("stdout").path, errPath = directory.appendingPathComponent("stderr").path
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolsCommandTests.binary)
        process.currentDirectoryURL = Platform.repoRoot
        process.arguments = ["shadow", "--database-url", try TestDB.url(), "--run-dir", runRoot + "/shadow-\(UUID().uuidString.prefix(8))"] + arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return (status, try String(contentsOfFile: outPath, encoding: .utf8), try String(contentsOfFile: errPath, encoding: .utf8))
    }

    static func temporary(_ name: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString.prefix(8))-\(name)").path }

    /// The retail pack with one change: the invoice intent recognises only "receipt", so the
    /// candidate does not understand "I need the invoice for …" (and hands it over).
    static func candidatePolicy() throws -> String {
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let line = "      - '\\b(invoice|receipt)\\b'\n"
        #expect(retail.components(separatedBy: line).count == 2, "the retail pack's invoice pattern moved; update the test")
        let path = temporary("candidate.yaml")
        try retail.replacingOccurrences(of: line, with: "      - '\\breceipt\\b'\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func refunds(_ p: Platform) async throws -> [String] {
        try await p.pool.query("SELECT refund_id || ' ' || order_id || ' ' || amount_cents AS r FROM commerce.refunds WHERE tenant_id = 'default' ORDER BY refund_id")
            .map { try $0.decode("r", as: String.self) }
    }

    @Test(.timeLimit(.minutes(10))) func aCandidatePolicyIsComparedWithProductionWithoutTouchingIt() async throws {
        // No SLA breach may add an event to the handed-over conversation while the test runs.
        try await Platform.with("shadow", environment: ["SWITCHBOARD_HIL_SLA_SECONDS": "3600"]) { p in
            func say(_ conversation: String, _ customer: String, _ text: String) async throws -> JSONValue {
                let reply = try await p.post(conversation, JSONValue.object(["customer_id": .string(customer), "text": .string(text)]).serializedString())
                #expect(reply.status == 200, "\(conversation): \(reply.json)")
                return reply.json
            }
            // Before the range: a refund the shadow run does not replay (R-9001), so production's
            // refund in the range is R-9002, which a candidate running the tool on a fresh database
            // would never produce.
            let early = try await say("early-refund", "cus_1005", "Please refund $5 for order STU901")
            #expect(early["reply"]?["text"]?.stringValue?.contains("R-9001") == true, "\(early)")
            try await Task.sleep(for: .milliseconds(200))
            let from = Timestamp.format(millis: EventEnvelope.nowMillis())
            try await Task.sleep(for: .milliseconds(200))

            let script: [(String, String, [String])] = [
                ("status-found", "cus_1001", ["Where is my order ABC123?"]),
                ("status-unknown", "cus_1001", ["Where is my order ZZZ999?"]),
                ("refund", "cus_1005", ["Please refund $15 for order VWX234"]),
                ("human", "cus_1002", ["I want to talk to a human"]),
                ("greeting", "cus_1003", ["hello", "Has my order GHI789 been delivered?"]),
                ("invoice", "cus_1001", ["I need the invoice for order ABC123", "Where is my order ABC123?"]),
            ]
            var productionReplies: [String: [String]] = [:]
            for (conversation, customer, messages) in script {
                for text in messages {
                    productionReplies[conversation, default: []].append(try await say(conversation, customer, text)["reply"]?["text"]?.stringValue ?? "")
                }
            }
            #expect(productionReplies["refund"]?.first?.contains("R-9002") == true, "\(productionReplies)")
            #expect(productionReplies["invoice"]?.first?.contains("INV-5001") == true, "\(productionReplies)")

            // Production's state once everything has settled (the handover's queueing follows the reply).
            try await Task.sleep(for: .seconds(2))
            let conversations = ["early-refund"] + script.map(\.0)
            func eventCounts() -> [String: Int] { Dictionary(uniqueKeysWithValues: conversations.map { ($0, p.log.events(conversation: $0).count) }) }
            let countsBefore = eventCounts()
            let refundsBefore = try await Self.refunds(p)
            #expect(refundsBefore == ["R-9001 STU901 500", "R-9002 VWX234 1500"])

            let out = Self.temporary("diff.json"), report = Self.temporary("diff.html")
            let bootstrap = try #require(p.stack.environment["SWITCHBOARD_BOOTSTRAP"])
            let run = try await Self.shadow([
                "--bootstrap", bootstrap, "--from", from, "--brain", "rules", "--policy", try Self.candidatePolicy(), "--out", out, "--report", report,
            ])
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr.suffix(4000))")
            let diff = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: out))))
            let summary = try #require(diff["summary"])
            #expect(summary["conversations"] == 6 && summary["turns"] == 8, "the early refund is before --from: \(summary)")
            #expect(summary["compared"] == 7 && summary["not_replayed"] == 1, "\(summary)")
            let byIntent = try #require(summary["by_intent"]?.objectValue)
            #expect(Set(byIntent.keys) == ["order_status", "refund", "human_agent", "greeting", "invoice"], "\(byIntent.keys)")
            for intent in ["order_status", "refund", "human_agent", "greeting"] {
                #expect(byIntent[intent]?["overall"] == 1, "\(intent) is unchanged in the candidate: \(byIntent[intent] ?? .null)")
            }
            #expect(byIntent["order_status"]?["turns"] == 3)
            #expect(byIntent["invoice"] == ["turns": 1, "overall": 0, "intent": 0, "tools": 0, "handover": 0])
            #expect(summary["agreement"]?["overall"]?.doubleValue == 6.0 / 7.0)

            let turns = try #require(diff["turns"]?.arrayValue)
            func turn(_ conversation: String, _ index: Int) throws -> JSONValue {
                try #require(turns.first { $0["conversation_id"]?.stringValue == conversation && $0["turn"] == .number(Double(index)) }, "\(conversation) \(index)")
            }
            let invoice = try turn("invoice", 1)
            #expect(invoice["production"]?["intent"] == "invoice" && invoice["production"]?["tools"] == [["tool": "get_invoice", "args": ["order_id": "ABC123"]]])
            #expect(invoice["candidate"]?["intent"] != "invoice" && invoice["candidate"]?["handover"] != .null && invoice["candidate"]?["tools"] == [])
            #expect(invoice["agree"]?["overall"] == false)
            let afterHandover = try turn("invoice", 2)
            #expect(afterHandover["status"] == "not_replayed" && afterHandover["note"] == "not replayed (candidate handed over)" && afterHandover["candidate"] == .null)

            // The candidate's refund was answered from production's recording: the same refund id,
            // though the candidate never ran the tool (its own database would have said R-9001).
            let refund = try turn("refund", 1)
            #expect(refund["agree"]?["overall"] == true)
            #expect(refund["candidate"]?["tools"] == refund["production"]?["tools"])
            #expect(refund["candidate"]?["tools"]?.arrayValue?.map { $0["tool"] } == ["get_order", "create_refund"])
            #expect(refund["candidate"]?["reply"]?.stringValue?.contains("R-9002") == true, "\(refund)")
            #expect(refund["candidate_conversation_id"]?.stringValue?.hasPrefix("shadow-") == true)
            #expect(try turn("human", 1)["candidate"]?["outcome"] == "handed_over")
            #expect(try turn("status-found", 1)["candidate"]?["reply"]?.stringValue?.contains("1Z999AA10123456784") == true)
            #expect(try turn("greeting", 2)["agree"]?["overall"] == true)

            #expect(run.stdout.contains("invoice") && run.stdout.contains("0.0%") && run.stdout.contains("1 not replayed (candidate handed over)"), "\(run.stdout)")
            #expect(run.stdout.split(separator: "\n").last?.hasPrefix("SUMMARY {") == true)
            let html = try String(contentsOfFile: report, encoding: .utf8)
            #expect(html.contains("Disagreements (1)") && html.contains("I need the invoice for order ABC123") && html.contains("INV-5001"))

            // Production saw nothing: no event added to its conversations, none of the candidate's
            // on its log, its refunds as they were.
            try await Task.sleep(for: .seconds(1))
            #expect(eventCounts() == countsBefore)
            let foreign = p.log.allRecords.compactMap { try? EventCodec.decode($0.value) }.filter { $0.conversationID.hasPrefix("shadow-") || $0.conversationID.hasPrefix("eval-") }
            #expect(foreign.isEmpty, "\(foreign.map(\.conversationID))")
            #expect(try await Self.refunds(p) == refundsBefore)
            // The candidate platform's database is gone with it.
            let left = try await p.pool.query("SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'switchboard_shadow_%'")
            #expect(try left.first?.decode("n", as: Int.self) == 0)

            // A range with no customer message is a clear error, before any platform starts.
            let empty = try await Self.shadow(["--bootstrap", bootstrap, "--from", "2099-01-01", "--brain", "rules"])
            #expect(empty.status != 0 && empty.stderr.contains("no customer messages"), "\(empty.stderr)")
        }
    }

    @Test func badArgumentsAreClearErrors() async throws {
        let brain = try await Self.shadow(["--bootstrap", "127.0.0.1:1", "--brain", "gpt"])
        #expect(brain.status != 0 && brain.stderr.contains("--brain must be rules, env"), "\(brain.stderr)")
        let missing = try await Self.shadow(["--bootstrap", "127.0.0.1:1", "--policy", "/nonexistent/candidate.yaml"])
        #expect(missing.status != 0 && missing.stderr.contains("--policy /nonexistent/candidate.yaml: cannot read"), "\(missing.stderr)")
        let broken = Self.temporary("broken.yaml")
        try "name: broken\nintents: 7\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let unreadable = try await Self.shadow(["--bootstrap", "127.0.0.1:1", "--policy", broken])
        #expect(unreadable.status != 0 && unreadable.stderr.contains("--policy \(broken)"), "\(unreadable.stderr)")
        let range = try await Self.shadow(["--bootstrap", "127.0.0.1:1", "--from", "yesterday"])
        #expect(range.status != 0 && range.stderr.contains("--from must be an offset"), "\(range.stderr)")
    }
}
