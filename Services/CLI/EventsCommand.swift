import ArgumentParser
import EventBus
import Events
import Foundation
import Kafka
import LogTools
import Logging
import Postgres
import ProjectionRebuild
import ServiceRuntime
import LogTopics

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Export, import and follow the event log (streaming; nothing is held in memory).",
        subcommands: [ExportEvents.self, ImportEvents.self, TailEvents.self]
    )
}

/// Where the log is: flags over the environment `.run/env` provides.
struct LogOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (env SWITCHBOARD_BOOTSTRAP).")
    var bootstrap: String?
    @Option(help: "Topic to read or write.")
    var topic: String = Topics.conversations

    @Option(name: .customLong("archive-database-url"), help: "History below the broker's log start is read from the gateway's archive (audit_log) in this database (env DATABASE_URL).")
    var archiveDatabaseURL: String?

    func kafka(client: String) throws -> KafkaConfig {
        var config = KafkaConfig(bootstrapServers: try CLIEnvironment.bootstrap(bootstrap), clientID: "switchboard-cli-\(client)")
        config.fetchWaitMaxMs = try CLIEnvironment.fetchWaitMs()
        return config
    }

    /// A history reader for `topic`, with the archive when a database is configured (only
    /// read if the broker no longer holds the start of a partition the read needs).
    func withScanner<T>(client: String, _ body: (LogScanner) async throws -> T) async throws -> T {
        let kafka = try kafka(client: client)
        guard let url = CLIEnvironment.optionalDatabaseURL(archiveDatabaseURL) else {
            return try await body(LogScanner(kafka: kafka, topic: topic, logger: quietLogger()))
        }
        let pool = PostgresPool(url: url, size: 1, logger: quietLogger())
        do {
            let result = try await body(LogScanner(kafka: kafka, topic: topic, archive: AuditArchive(pool: pool), logger: quietLogger()))
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}

struct FilterOptions: ParsableArguments {
    @Option(help: "Start: a per-partition offset (e.g. 1200) or a time (2026-11-23, 2026-11-23T10:00:00Z).")
    var from: String?
    @Option(help: "End (exclusive): an offset or a time, as --from.")
    var to: String?
    @Option(name: .customLong("type"), help: "Only this event type (repeatable).")
    var types: [String] = []
    @Option(help: "Only this conversation.")
    var conversation: String?
    @Option(help: "Only this tenant.")
    var tenant: String?

    func filter() throws -> EventFilter {
        var filter = EventFilter(types: Set(types), conversationID: conversation, tenantID: tenant)
        if let from {
            switch try Self.bound(from, name: "--from") {
            case .offset(let offset): filter.fromOffset = offset
            case .time(let millis): filter.fromMillis = millis
            }
        }
        if let to {
            switch try Self.bound(to, name: "--to") {
            case .offset(let offset): filter.toOffset = offset
            case .time(let millis): filter.toMillis = millis
            }
        }
        return filter
    }

    enum Bound { case offset(Int64), time(Int64) }

    static func bound(_ text: String, name: String) throws -> Bound {
        if let offset = Int64(text), offset >= 0 { return .offset(offset) }
        if let millis = Timestamp.parse(text) { return .time(millis) }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return .time(Int64(date.timeIntervalSince1970 * 1000)) }
        formatter.formatOptions = [.withFullDate]
        if let date = formatter.date(from: text) { return .time(Int64(date.timeIntervalSince1970 * 1000)) }
        throw ValidationError("\(name) must be an offset (a non-negative integer) or a UTC time like 2026-11-23 or 2026-11-23T10:00:00Z, got '\(text)'")
    }
}

struct ExportEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write the log's events, up to its end when the export starts, as JSON lines or CSV.")
    @OptionGroup var log: LogOptions
    @OptionGroup var filters: FilterOptions
    @Option(help: "jsonl (default; what `events import` reads) or csv.")
    var format: String = "jsonl"
    @Option(help: "Output file (default: standard output).")
    var output: String?

    func run() async throws {
        guard let format = ExportFormat(rawValue: format) else { throw ValidationError("--format must be jsonl or csv") }
        let handle = try openOutput(output)
        let writer = EventWriter(handle: handle, format: format)
        let filter = try filters.filter()
        let summary = try await log.withScanner(client: "export") { scanner in
            try await scanner.export(filter) { record, event in try writer.write(record, event) }
        }
        try writer.finish()
        if output != nil { try handle.close() }
        let gaps = summary.gaps > 0 ? ", \(summary.gaps) placeholders for records the archive did not hold" : ""
        FileHandle.standardError.write(Data("exported \(summary.matched) events (\(summary.records) records read, \(summary.notEvents) not events\(gaps))\n".utf8))
    }
}

struct TailEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Follow events appended from now on (Ctrl-C stops).")
    @OptionGroup var log: LogOptions
    @OptionGroup var filters: FilterOptions
    @Option(help: "jsonl (default) or csv.")
    var format: String = "jsonl"

    func run() async throws {
        guard let format = ExportFormat(rawValue: format) else { throw ValidationError("--format must be jsonl or csv") }
        let writer = EventWriter(handle: .standardOutput, format: format)
        let scanner = LogScanner(kafka: try log.kafka(client: "tail"), topic: log.topic, logger: quietLogger())
        let filter = try filters.filter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await scanner.tail(filter) { record, event in
                    try writer.write(record, event)
                    try writer.flush()
                }
            }
            group.addTask { await waitForTerminationSignal() }
            try await group.next()
            group.cancelAll()
        }
        try writer.flush()
    }
}

struct ImportEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Append events from JSON lines (an export) to a topic; every line is validated first.")
    @OptionGroup var log: LogOptions
    @Option(help: "Input file (default: standard input).")
    var input: String?
    @Flag(name: .customLong("dry-run"), help: "Validate every line, append nothing.")
    var dryRun = false

    func run() async throws {
        let handle: FileHandle
        if let input {
            guard let file = FileHandle(forReadingAtPath: input) else { throw ValidationError("cannot read \(input)") }
            handle = file
        } else {
            handle = .standardInput
        }
        let producer = try KafkaProducer(config: try log.kafka(client: "import"), logger: quietLogger())
        let importer = EventImporter(publisher: EventPublisher(producer: producer, topic: log.topic))
        do {
            let count = try await importer.importLines(from: handle, dryRun: dryRun)
            await producer.close()
            FileHandle.standardError.write(Data("\(dryRun ? "validated" : "imported") \(count) events\n".utf8))
        } catch {
            await producer.close()
            throw error
        }
    }
}

func openOutput(_ path: String?) throws -> FileHandle {
    guard let path else { return .standardOutput }
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
        throw ValidationError("cannot write \(path)")
    }
    return handle
}

/// Analyst commands print data on stdout; client logs go to stderr, warnings only.
func quietLogger() -> Logger {
    var logger = Logger(label: "switchboard.cli") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}
