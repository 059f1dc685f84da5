import EventBus
import Events
import Foundation
import JSON
import Kafka
import LogTools
import Logging
import Testing

/// Analyst tools against librdkafka's mock cluster: real Kafka protocol, in process.
@Suite(.timeLimit(.minutes(2)))
struct LogToolsTests {
    static let logger = Logger(label: "logtools-test")

    final class Broker: Sendable {
        let cluster: KafkaMockCluster
        let config: KafkaConfig
        let producer: KafkaProducer
        let publisher: EventPublisher
        init(partitions: Int = 3) throws {
            cluster = try KafkaMockCluster(brokers: 1, logger: LogToolsTests.logger)
            try cluster.createTopic("log", partitions: partitions)
            var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "logtools-test")
            config.fetchWaitMaxMs = 5
            self.config = config
            producer = try KafkaProducer(config: config, logger: LogToolsTests.logger)
            publisher = EventPublisher(producer: producer, topic: "log")
        }
        func close() async {
            await producer.close()
            await cluster.close()
        }
        var scanner: LogScanner { LogScanner(kafka: config, topic: "log", logger: LogToolsTests.logger) }
    }

    /// 3 conversations × 4 turns, two tenants, timestamps 1 s apart from t0.
    static let t0: Int64 = 1_763_900_000_000
    static func sampleEvents() throws -> [EventEnvelope] {
        var events: [EventEnvelope] = []
        for turn in 0..<4 {
            for conversation in 0..<3 {
                let at = t0 + Int64(events.count) * 1000
                let message = try EventEnvelope.start(
                    MessageReceived(customerID: "c\(conversation)", text: "turn \(turn), with \"quotes\", commas\nand a newline"),
                    conversationID: "conv-\(conversation)", tenantID: conversation == 2 ? "other" : "default",
                    producer: "test", occurredAtMillis: at
                )
                events.append(message)
                events.append(try message.reaction(ReplyDelivered(replyID: UUID(), kind: .answer, text: "ok", channel: "api"), producer: "test", occurredAtMillis: at + 500))
            }
        }
        return events
    }

    func temporaryFile() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("logtools-\(UUID()).out").path }

    func export(_ broker: Broker, _ filter: EventFilter, format: ExportFormat = .jsonl) async throws -> (String, ScanSummary) {
        let path = temporaryFile()
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        let writer = EventWriter(handle: handle, format: format)
        let summary = try await broker.scanner.export(filter) { record, event in try writer.write(record, event) }
        try writer.finish()
        try handle.close()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return (try String(contentsOfFile: path, encoding: .utf8), summary)
    }

    @Test func exportFiltersAndKeepsPerConversationOrder() async throws {
        let broker = try Broker()
        let events = try Self.sampleEvents()
        try await broker.publisher.publish(events)
        _ = try await broker.producer.send(topic: "log", key: Array("conv-0".utf8), value: Array("not an event".utf8), headers: [])
        // A restored log's placeholder: counted as one, not as a record that is not an event.
        _ = try await broker.producer.send(topic: "log", key: nil, value: [], headers: [KafkaHeader(key: EventHeaders.type, value: Array(EventHeaders.logGapType.utf8))])

        let (all, summary) = try await export(broker, EventFilter())
        #expect(summary == ScanSummary(records: events.count + 2, matched: events.count, notEvents: 1, gaps: 1))
        let lines = all.split(separator: "\n").map(String.init)
        #expect(Set(lines) == Set(events.map { String(decoding: EventCodec.encode($0), as: UTF8.self) }))

        let (one, _) = try await export(broker, EventFilter(conversationID: "conv-1"))
        let decoded = try one.split(separator: "\n").map { try EventCodec.decode(Array($0.utf8)) }
        #expect(decoded == events.filter { $0.conversationID == "conv-1" }, "exactly that conversation, in log order")

        let (replies, _) = try await export(broker, EventFilter(types: ["ReplyDelivered"], tenantID: "other"))
        #expect(try replies.split(separator: "\n").map { try EventCodec.decode(Array($0.utf8)) } == events.filter { $0.type == "ReplyDelivered" && $0.tenantID == "other" })

        // Time window: [t0 + 6 s, t0 + 12 s) holds events 6...11 of the sample.
        let (window, _) = try await export(broker, EventFilter(fromMillis: Self.t0 + 6000, toMillis: Self.t0 + 12_000))
        let inWindow = try window.split(separator: "\n").map { try EventCodec.decode(Array($0.utf8)).id }
        #expect(Set(inWindow) == Set(events.filter { $0.occurredAtMillis >= Self.t0 + 6000 && $0.occurredAtMillis < Self.t0 + 12_000 }.map(\.id)))
        await broker.close()
    }

    @Test func csvQuotesFieldsPerRFC4180() async throws {
        let broker = try Broker(partitions: 1)
        let events = try Self.sampleEvents()
        try await broker.publisher.publish(Array(events.prefix(1)))
        let (csv, _) = try await export(broker, EventFilter(), format: .csv)
        let rows = csv.components(separatedBy: "\r\n")
        #expect(rows[0] == EventWriter.csvColumns.joined(separator: ","))
        let event = events[0]
        #expect(rows[1].hasPrefix("log,0,0,\(event.id.uuidString.lowercased()),MessageReceived,1,conv-0,default,"))
        let payload = String(decoding: event.payload.serialized(), as: UTF8.self).replacingOccurrences(of: "\"", with: "\"\"")
        #expect(csv.contains(",\"" + payload + "\"\r\n"), "payload quoted, inner quotes doubled, newline kept inside the quotes")
        await broker.close()
    }

    @Test func exportImportIntoAFreshBrokerExportsTheSameEvents() async throws {
        let source = try Broker()
        let events = try Self.sampleEvents()
        try await source.publisher.publish(events)
        let (exported, _) = try await export(source, EventFilter())
        await source.close()

        let path = temporaryFile()
        try exported.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let target = try Broker()
        let imported = try await EventImporter(publisher: target.publisher).importLines(from: try #require(FileHandle(forReadingAtPath: path)))
        #expect(imported == events.count)
        let (again, _) = try await export(target, EventFilter())
        #expect(Set(again.split(separator: "\n")) == Set(exported.split(separator: "\n")), "byte-identical events")
        for conversation in ["conv-0", "conv-1", "conv-2"] {
            let (perConversation, _) = try await export(target, EventFilter(conversationID: conversation))
            #expect(try perConversation.split(separator: "\n").map { try EventCodec.decode(Array($0.utf8)).id } == events.filter { $0.conversationID == conversation }.map(\.id))
        }
        await target.close()
    }

    @Test func importStopsAtTheFirstInvalidLineNamingIt() async throws {
        let broker = try Broker(partitions: 1)
        let events = try Self.sampleEvents()
        let lines = events.prefix(2).map { String(decoding: EventCodec.encode($0), as: UTF8.self) } + ["{\"id\": \"broken\"}"] + [String(decoding: EventCodec.encode(events[2]), as: UTF8.self)]
        let path = temporaryFile()
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let importer = EventImporter(publisher: broker.publisher)
        do {
            try await importer.importLines(from: try #require(FileHandle(forReadingAtPath: path)), dryRun: true)
            Issue.record("dry run accepted an invalid line")
        } catch let error as ImportLineError {
            #expect(error.line == 3 && error.imported == 2)
        }
        let (afterDryRun, _) = try await export(broker, EventFilter())
        #expect(afterDryRun.isEmpty, "a dry run appends nothing")
        await #expect(throws: ImportLineError.self) {
            try await importer.importLines(from: try #require(FileHandle(forReadingAtPath: path)))
        }
        let (after, _) = try await export(broker, EventFilter())
        #expect(after.split(separator: "\n").count == 2, "lines before the bad one were imported, none after")
        await broker.close()
    }

    @Test func tailSeesOnlyEventsAppendedAfterItStarted() async throws {
        let broker = try Broker()
        let events = try Self.sampleEvents()
        try await broker.publisher.publish(Array(events.prefix(6)))
        let seen = Seen()
        let tail = Task { try await broker.scanner.tail(EventFilter(types: ["MessageReceived"])) { _, event in seen.add(event.id) } }
        // The tail pins its start at the end before it reads; give it that moment, then append.
        try await Task.sleep(for: .seconds(1))
        try await broker.publisher.publish(Array(events.suffix(6)))
        let expected = Set(events.suffix(6).filter { $0.type == "MessageReceived" }.map(\.id))
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.ids != expected, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        tail.cancel()
        try await tail.value
        #expect(seen.ids == expected)
        await broker.close()
    }

    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var set = Set<UUID>()
        func add(_ id: UUID) { lock.withLock { _ = set.insert(id) } }
        var ids: Set<UUID> { lock.withLock { set } }
    }

    @Test func anExportOfALogTheBrokerTruncatedIsRefused() async throws {
        // The dev broker keeps at most 5 MiB per partition and silently drops the oldest
        // (DESIGN.md §10): ~7 MiB of events into one partition truncates its start.
        let broker = try Broker(partitions: 1)
        let filler = String(repeating: "x", count: 1800)
        // What an archive (the gateway's audit_log) would hold: every record, by offset.
        let archive = MemoryArchive()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<16 {
                group.addTask {
                    for index in 0..<250 {
                        let event = try EventEnvelope.start(MessageReceived(customerID: "c", text: "\(batch)-\(index) \(filler)"), conversationID: "conv-big", tenantID: "default", producer: "test")
                        let position = try await broker.publisher.publish(event)
                        archive.add(KafkaRecord(topic: "log", partition: 0, offset: position.offset, key: nil, value: EventCodec.encode(event), headers: EventPublisher.headers(for: event), timestampMs: nil))
                    }
                }
            }
            try await group.waitForAll()
        }
        let admin = try KafkaAdmin(config: broker.config, logger: Self.logger)
        let (low, high) = try await admin.watermarks(TopicPartition(topic: "log", partition: 0), timeout: .seconds(10))
        await admin.close()
        #expect(high == 4000)
        #expect(low > 0, "the dev broker dropped the oldest records")
        do {
            _ = try await export(broker, EventFilter())
            Issue.record("exported a truncated log")
        } catch let error as TruncatedLogError {
            #expect(error.partition == 0 && error.logStartOffset == low && error.requestedOffset == 0)
        }
        // Reading only what the broker still holds is allowed.
        let (tail, summary) = try await export(broker, EventFilter(fromOffset: low))
        #expect(summary.matched == Int(high - low))
        #expect(tail.split(separator: "\n").count == Int(high - low))

        // With an archive: the part below the log start from it, the rest from the broker, in
        // offset order, each record once.
        let offsets = Offsets()
        let stitched = LogScanner(kafka: broker.config, topic: "log", archive: archive, logger: Self.logger)
        let whole = try await stitched.export(EventFilter()) { record, _ in offsets.add(record.offset) }
        #expect(whole.matched == 4000 && offsets.all == Array(0..<4000), "\(whole); first \(offsets.all.prefix(3)), \(offsets.all.count) records")
        #expect(archive.reads.allSatisfy { $0.upperBound <= low }, "only what the broker no longer holds comes from the archive: \(archive.reads)")
        // An archive that stops short of the log start leaves records on neither: refused.
        archive.completeEnd = low - 1
        await #expect(throws: ArchiveGapError.self) { _ = try await stitched.export(EventFilter()) { _, _ in } }
        await broker.close()
    }

    final class Offsets: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [Int64] = []
        func add(_ offset: Int64) { lock.withLock { list.append(offset) } }
        var all: [Int64] { lock.withLock { list } }
    }

    /// An archive in memory, complete up to `completeEnd` (default: everything added).
    final class MemoryArchive: LogArchive, @unchecked Sendable {
        private let lock = NSLock()
        private var records: [Int64: KafkaRecord] = [:]
        private var ranges: [Range<Int64>] = []
        var completeEnd: Int64? {
            get { lock.withLock { storedEnd } }
            set { lock.withLock { storedEnd = newValue } }
        }
        private var storedEnd: Int64?
        func add(_ record: KafkaRecord) { lock.withLock { records[record.offset] = record } }
        var reads: [Range<Int64>] { lock.withLock { ranges } }

        func completeThrough(topic: String) async throws -> [Int32: Int64] {
            lock.withLock { [0: storedEnd ?? ((records.keys.max() ?? -1) + 1)] }
        }

        func records(topic: String, partition: Int32, in range: Range<Int64>, _ handle: ([KafkaRecord]) async throws -> Void) async throws {
            let page = lock.withLock { () -> [KafkaRecord] in
                ranges.append(range)
                return records.values.filter { range.contains($0.offset) }.sorted { $0.offset < $1.offset }
            }
            try await handle(page)
        }
    }

    @Test func aTruncatedPartitionIsRefusedNotReadPartially() throws {
        #expect(throws: TruncatedLogError.self) { try LogScanner.checkNotTruncated(topic: "t", partition: 0, low: 100, high: 500, wanted: 0) }
        #expect(throws: Never.self) { try LogScanner.checkNotTruncated(topic: "t", partition: 0, low: 100, high: 500, wanted: 100) }
        #expect(throws: Never.self) { try LogScanner.checkNotTruncated(topic: "t", partition: 0, low: 0, high: 500, wanted: 0) }
        // Retention removed every record: the history from 0 is gone, which is still partial.
        #expect(throws: TruncatedLogError.self) { try LogScanner.checkNotTruncated(topic: "t", partition: 0, low: 500, high: 500, wanted: 0) }
        // Nothing is wanted from a partition when the read starts past its end.
        #expect(throws: Never.self) { try LogScanner.checkNotTruncated(topic: "t", partition: 0, low: 500, high: 500, wanted: 600) }
    }
}
