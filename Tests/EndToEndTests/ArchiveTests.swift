import DevStack
import EventBus
import Events
import Foundation
import JSON
import Kafka
import Logging
import Testing
import LogTopics

/// Issue 13, keep its history: the gateway's audit_log is the log's archive. A partition filled
/// past the development broker's 5 MiB loses its start on the broker; history tools read that
/// part from the archive, and a restarted stack's broker restores every record at its original
/// offset, so conversations carry on and a rebuild still sees everything.
@Suite(.serialized, .timeLimit(.minutes(8)))
struct ArchiveTests {
    @Test func historyPastTheBrokersLimitSurvivesARestartAndStaysExportableAndRebuildable() async throws {
        // One partition, so the history of every conversation shares it and it truncates.
        try await Platform.with("archive", partitions: 1) { p in
            for index in 0..<3 {
                #expect(try await p.post("arch-\(index)", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#).status == 200)
            }
            #expect(try await p.post("arch-human", #"{"customer_id":"cus_1002","text":"I want to talk to a person"}"#).status == 200)
            let handover = try await p.eventually("the handover is queued") { () -> UUID? in
                try await p.pool.query("SELECT handover_id::text AS id FROM hilqueue.conversations WHERE conversation_id = 'arch-human' AND handover_id IS NOT NULL")
                    .first.flatMap { UUID(uuidString: try $0.decode("id", as: String.self)) }
            }

            // A record that is not an event: the services dead-letter it, the archive has no
            // row for its offset, and the restore must keep the offsets after it in place.
            let bootstrap = p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!
            let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: bootstrap, clientID: "e2e-archive"), logger: Logger(label: "e2e.archive"))
            _ = try await producer.send(topic: Topics.conversations, key: Array("arch-human".utf8), value: Array("not an event".utf8))
            // Then a long handover: 1,900 agent notes of 3 kB (about 6 MB) on the same partition.
            let publisher = EventPublisher(producer: producer, topic: Topics.conversations)
            let note = String(repeating: "Customer called again about the same parcel; checked the carrier portal. ", count: 41)
            for index in 0..<1900 {
                let payload = InternalNoteAdded(handoverID: handover, noteID: DerivedID.make(name: "arch-note-\(index)"), agentID: "agent_ana", text: "\(index): \(note)")
                try await publisher.publish(try EventEnvelope.start(payload, conversationID: "arch-human", tenantID: "default", producer: "hilqueue"))
            }
            await producer.close()

            let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: bootstrap, clientID: "e2e-archive-admin"), logger: Logger(label: "e2e.archive"))
            let (low, high) = try await admin.watermarks(TopicPartition(topic: Topics.conversations, partition: 0), timeout: .seconds(10))
            await admin.close()
            #expect(low > 0, "the broker dropped the start of the partition (log start \(low), end \(high))")
            // The gateway archived up to the end.
            _ = try await p.eventually("the archive reaches the end of the log", timeout: .seconds(60)) { () -> Bool? in
                let rows = try await p.pool.query("SELECT next_offset FROM gateway.projection_offsets WHERE projection = 'gateway.audit'")
                return try rows.first.map { try $0.decode("next_offset", as: Int64.self) } == high ? true : nil
            }

            // Without the archive a history read is refused, not silently partial.
            var withoutArchive = p.stack.environment
            withoutArchive["DATABASE_URL"] = nil
            let refused = try runProgram(p.stack.options.binDirectory + "/switchboard", ["events", "export", "--format", "csv"], environment: withoutArchive)
            #expect(refused.status != 0 && refused.stderr.contains("truncated"), "\(refused.stderr)")

            // With it: every event from offset 0, the archived part first.
            let before = try exportCSV(p)
            #expect(before.first?.offset == 0 && before.last?.offset == high - 1, "from 0 to \(high - 1): \(before.first?.offset ?? -1)…\(before.last?.offset ?? -1)")
            #expect(before.count == Int(high) - 1, "every record but the one that is not an event: \(before.count) of \(high)")
            #expect(before.filter { $0.type == "InternalNoteAdded" }.count == 1900)
            let trace = try runCLI(p, ["trace", "arch-0"])
            #expect(trace.status == 0 && trace.stdout.contains("MessageReceived") && trace.stdout.contains("ReplyDelivered"), "\(trace.stdout)\n\(trace.stderr)")
            let verified = try runCLI(p, ["projections", "verify"])
            #expect(verified.status == 0 && !verified.stdout.contains("DIFFERENT"), "\(verified.stdout)\n\(verified.stderr)")

            // Knowledge, on a topic the archive does not hold: its consumers' offsets are stored.
            let ingested = try runCLI(p, ["kb", "ingest", Platform.repoRoot.appendingPathComponent("deploy/knowledge/retail").path])
            #expect(ingested.status == 0, "\(ingested.stderr)")
            let indexed = try await Self.liveDocuments(p, atLeast: 1)
            // The restore pads the topic to the highest offsets its consumers stored: wait until
            // the knowledge index has read to the topic's end, so that is the end.
            let knowledgeAdmin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: bootstrap, clientID: "e2e-archive-admin"), logger: Logger(label: "e2e.archive"))
            var knowledgeEnds: [Int: Int64] = [:]
            for partition in 0..<(try await knowledgeAdmin.partitionCount(topic: Topics.knowledge, timeout: .seconds(10))) {
                knowledgeEnds[partition] = try await knowledgeAdmin.watermarks(TopicPartition(topic: Topics.knowledge, partition: Int32(partition)), timeout: .seconds(10)).high
            }
            await knowledgeAdmin.close()
            let ends = knowledgeEnds
            _ = try await p.eventually("the knowledge index read to the topic's end") { () -> Bool? in
                let rows = try await p.pool.query("SELECT partition, next_offset FROM knowledge.projection_offsets WHERE topic = \(Topics.knowledge)")
                let stored = Dictionary(try rows.map { (try $0.decode("partition", as: Int.self), try $0.decode("next_offset", as: Int64.self)) }, uniquingKeysWith: max)
                return ends.allSatisfy { $0.value == 0 || stored[$0.key] == $0.value } ? true : nil
            }
            let knowledgeRecords = ends.values.reduce(0, +)
            #expect(knowledgeRecords > 0)

            // Ctrl-C and `make up` again: the new broker restores the topic from the archive.
            try await p.restartStack()
            let brokerLog = p.stack.broker?.logTail(lines: 60) ?? ""
            #expect(brokerLog.contains("topics restored from the archive") && brokerLog.contains("archive.records=\(high - 1)") && brokerLog.contains("archive.placeholders=\(1 + knowledgeRecords)"), "\(brokerLog)")
            let restartedAdmin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!, clientID: "e2e-archive-admin"), logger: Logger(label: "e2e.archive"))
            let (_, restoredHigh) = try await restartedAdmin.watermarks(TopicPartition(topic: Topics.conversations, partition: 0), timeout: .seconds(10))
            await restartedAdmin.close()
            #expect(restoredHigh == high, "every record back at its offset")
            // (The placeholders: the record that was not an event, and the knowledge topic padded
            // up to its consumers' offsets.)
            // Restored records carry their event's time, not the restore's.
            let restored = try await p.eventually("the restored records read back") { () -> [KafkaRecord]? in
                let records = p.log.allRecords.filter { $0.offset < high }
                return records.isEmpty ? nil : records
            }
            #expect(restored.allSatisfy { record in
                (try? EventCodec.decode(record.value)).map { record.timestampMs == $0.occurredAtMillis } ?? true
            }, "restored records are stamped with occurred_at")
            // The knowledge topic was padded to its consumers' offsets: a document ingested now
            // lands past them and is indexed, not skipped as already read.
            let extra = FileManager.default.temporaryDirectory.appendingPathComponent("kb-archive-\(UUID())")
            try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: extra) }
            try "# Parcel lockers\n\nParcels can be sent to any parcel locker in the country at no extra cost.\n".write(to: extra.appendingPathComponent("lockers.md"), atomically: true, encoding: .utf8)
            let more = try runCLI(p, ["kb", "ingest", extra.path, "--collection", "extra"])
            #expect(more.status == 0, "\(more.stderr)")
            _ = try await Self.liveDocuments(p, atLeast: indexed + 1)

            // The conversations carry on: a new turn in an old conversation is answered and
            // projected after its earlier history (no consumer skips or repeats anything).
            let again = try await p.post("arch-0", #"{"customer_id":"cus_1001","text":"Where is my order DEF456?"}"#)
            #expect(again.status == 200, "\(again.json)")
            let conversation = try await p.eventually("the new turn is projected") { () -> JSONValue? in
                let c = try await p.get("/v1/conversations/arch-0").json
                guard c["messages"]?.arrayValue?.count == 4 else { return nil }
                return c
            }
            #expect(conversation["turn_count"] == 2)

            // The same history, byte for byte at the same offsets, plus the new turn.
            let after = try exportCSV(p)
            #expect(Array(after.prefix(before.count)) == before, "the restored history equals the history before the restart")
            #expect(after.count > before.count && after.dropFirst(before.count).allSatisfy { $0.conversation == "arch-0" })
            // Every read model of the conversation log equals a rebuild. (The knowledge topic is
            // not archived: its restored records are placeholders, so a rebuild of the knowledge
            // read models has only what was ingested since; deploy/README.md "Keeping history".)
            for group in ["gateway", "hilqueue", "costs", "cases", "executions", "grounding"] {
                let reverified = try runCLI(p, ["projections", "verify", "--projection", group])
                #expect(reverified.status == 0 && !reverified.stdout.contains("DIFFERENT"), "\(group): \(reverified.stdout)\n\(reverified.stderr)")
            }
        }
    }

    /// Waits until the planner's knowledge index holds at least `count` live documents.
    static func liveDocuments(_ p: Platform, atLeast count: Int) async throws -> Int {
        try await p.eventually("\(count) documents indexed", timeout: .seconds(30)) { () -> Int? in
            let n = try await p.pool.query("SELECT count(*)::bigint AS n FROM knowledge.documents WHERE NOT deleted").first?.decode("n", as: Int64.self) ?? 0
            return n >= count ? Int(n) : nil
        }
    }

    struct Row: Equatable {
        var offset: Int64
        var type: String
        var conversation: String
        var line: String
    }

    /// `switchboard events export --format csv` of the whole log (the archive from
    /// DATABASE_URL in the stack's environment), one row per event.
    func exportCSV(_ p: Platform) throws -> [Row] {
        let exported = try runCLI(p, ["events", "export", "--format", "csv"])
        #expect(exported.status == 0, "\(exported.stderr)")
        // Columns: topic, partition, offset, id, type, version, conversation_id, …; no field
        // before the payload holds a comma. Rows end in CRLF (RFC 4180), one Character in Swift.
        return exported.stdout.split(whereSeparator: \.isNewline).dropFirst().map { line in
            let fields = line.split(separator: ",", maxSplits: 7, omittingEmptySubsequences: false)
            return Row(offset: Int64(fields[2]) ?? -1, type: String(fields[4]), conversation: String(fields[6]), line: String(line))
        }
    }
}
