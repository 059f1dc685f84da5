import DevStack
import EventBus
import Events
import Foundation
import JSON
import Kafka
import Logging
import Postgres
import Testing

/// Issue 3: projections rebuilt from the log equal the live ones — after a 1,000-conversation
/// workload, after duplicate deliveries, after a kill -9 of the projecting service mid-stream.
@Suite(.serialized, .timeLimit(.minutes(8)))
struct RebuildTests {
    @Test func rebuiltProjectionsEqualLiveOnesThroughDuplicatesCrashesAndASwap() async throws {
        try await Platform.with("rebuild") { p in
            // 1,000 conversations through the real services (plus handovers for hilqueue).
            let workload = try runCLI(p, ["bench", "turns", "--count", "1000", "--concurrency", "16", "--warmup", "0"])
            #expect(workload.status == 0, "\(workload.stderr)")
            for index in 0..<5 {
                _ = try await p.post("conv-human-\(index)", #"{"customer_id":"c9","text":"I want to talk to a person"}"#)
            }
            let first = try runCLI(p, ["projections", "verify"])
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            for table in ["gateway.conversations", "gateway.messages", "gateway.audit_log", "hilqueue.conversations", "hilqueue.notes"] {
                #expect(first.stdout.contains("\(table)\t"), "\(table) compared")
            }
            #expect(first.stdout.contains("gateway.conversations\tlive 1005 rows"), "\(first.stdout)")
            #expect(!first.stdout.contains("DIFFERENT"))

            // Duplicate deliveries: 300 records of the log appended again, as a redelivering
            // producer would.
            let bootstrap = p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!
            var config = KafkaConfig(bootstrapServers: bootstrap, clientID: "e2e-dup")
            config.fetchWaitMaxMs = 5
            let producer = try KafkaProducer(config: config, logger: Logger(label: "e2e.dup"))
            for record in p.log.allRecords.prefix(300) {
                _ = try await producer.send(topic: record.topic, key: record.key, value: record.value, headers: record.headers)
            }
            await producer.close()

            // kill -9 of the projecting service while traffic flows, then a restart.
            let traffic = Task { try runCLI(p, ["bench", "turns", "--count", "300", "--concurrency", "8", "--warmup", "0"]) }
            try await Task.sleep(for: .seconds(2))
            await p.stack.process("gateway")?.killHard()
            _ = try? await traffic.value
            try p.stack.startService("gateway")
            try await p.stack.waitUntilReady("gateway")

            let second = try runCLI(p, ["projections", "verify"])
            #expect(second.status == 0, "after duplicates and kill -9:\n\(second.stdout)\n\(second.stderr)")

            // A live row that no longer matches the log is found, named, and exits non-zero.
            try await p.pool.query("UPDATE gateway.messages SET text = 'tampered' WHERE message_id = (SELECT message_id FROM gateway.messages ORDER BY log_offset LIMIT 1)")
            let tampered = try runCLI(p, ["projections", "verify", "--projection", "gateway"])
            #expect(tampered.status != 0)
            #expect(tampered.stdout.contains("gateway.messages\t") && tampered.stdout.contains("DIFFERENT (only live 1, only rebuilt 1)"), "\(tampered.stdout)")

            // Rebuild beside the live schema and swap: the log's truth replaces the tampered row,
            // and the running gateway keeps projecting into the swapped-in schema.
            let swapped = try runCLI(p, ["projections", "rebuild", "--projection", "gateway.audit", "--replace", "--swap"])
            #expect(swapped.status == 0 && swapped.stdout.contains("swapped: gateway_rebuild is now gateway"), "\(swapped.stdout)\n\(swapped.stderr)")
            #expect(try await p.pool.query("SELECT 1 FROM gateway.messages WHERE text = 'tampered'").count == 0)
            // The rebuild builds secondary indexes after loading: the swapped-in schema has
            // every index the previous one had.
            let previous = swapped.stdout.components(separatedBy: "the previous one is ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            func indexes(_ schema: String) async throws -> Set<String> {
                Set(try await p.pool.query("SELECT replace(indexdef, \(schema + ".") , '') AS def FROM pg_indexes WHERE schemaname = \(schema)").map { try $0.decode("def", as: String.self) })
            }
            let liveIndexes = try await indexes("gateway")
            let previousIndexes = try await indexes(previous)
            #expect(liveIndexes.count >= 8 && liveIndexes == previousIndexes, "\(liveIndexes)")
            let after = try await p.post("conv-after-swap", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
            #expect(after.status == 200)
            let projected = try await p.eventually("projection continues after the swap") { () -> JSONValue? in
                let c = try await p.get("/v1/conversations/conv-after-swap").json
                guard c["messages"]?.arrayValue?.count == 2 else { return nil }
                return c
            }
            #expect(projected["turn_count"] == 1)
            let third = try runCLI(p, ["projections", "verify"])
            #expect(third.status == 0, "after the swap:\n\(third.stdout)\n\(third.stderr)")
        }
    }

    @Test func exportImportIntoAFreshBrokerRebuildsToTheOriginalReadModels() async throws {
        try await Platform.with("roundtrip") { p in
            let workload = try runCLI(p, ["bench", "turns", "--count", "100", "--concurrency", "8", "--warmup", "0"])
            #expect(workload.status == 0, "\(workload.stderr)")
            _ = try await p.post("conv-rt-human", #"{"customer_id":"c9","text":"I want to talk to a person"}"#)
            _ = try await p.post("conv-rt-clarify", #"{"customer_id":"c9","text":"Where is my order?"}"#)
            // Let the live projections finish what the services appended.
            _ = try runCLI(p, ["projections", "verify"])

            let file = p.stack.options.runDirectory + "/all.jsonl"
            let exported = try runCLI(p, ["events", "export", "--output", file])
            #expect(exported.status == 0, "\(exported.stderr)")

            // A second, empty development broker with the same partition count.
            let readyFile = p.stack.options.runDirectory + "/broker2.bootstrap"
            let broker = try ManagedProcess(
                name: "broker2", executable: p.stack.options.binDirectory + "/switchboard",
                arguments: ["broker", "--partitions", "4", "--bootstrap-file", readyFile],
                environment: ["SWITCHBOARD_EXIT_ON_STDIN_EOF": "1"], logPath: p.stack.options.runDirectory + "/logs/broker2.log"
            )
            let bootstrap = try await p.eventually("second broker") { () -> String? in
                FileManager.default.contents(atPath: readyFile).map { String(decoding: $0, as: UTF8.self) }.flatMap { $0.isEmpty ? nil : $0 }
            }
            let imported = try runCLI(p, ["events", "import", "--bootstrap", bootstrap, "--input", file])
            #expect(imported.status == 0 && imported.stderr.contains("imported"), "\(imported.stderr)")

            // Rebuild every read model from the imported log only, then compare with the original.
            for group in ["gateway", "hilqueue", "costs", "cases", "executions"] {
                let rebuilt = try runCLI(p, ["projections", "rebuild", "--bootstrap", bootstrap, "--projection", group, "--into", "\(group)_imported", "--replace"])
                #expect(rebuilt.status == 0, "\(group): \(rebuilt.stderr)")
                let verified = try runCLI(p, ["projections", "verify", "--projection", group, "--against", "\(group)_imported"])
                #expect(verified.status == 0 && verified.stdout.contains("live and rebuilt are equal"), "\(group):\n\(verified.stdout)\n\(verified.stderr)")
            }
            await broker.stop()
        }
    }
}
