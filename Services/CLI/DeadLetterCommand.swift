import ArgumentParser
import EventBus
import Events
import Foundation
import Kafka
import LogTools
import LogTopics

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect dead letters and send fixed ones back.",
        subcommands: [ListDeadLetters.self, ShowDeadLetter.self, RedriveDeadLetter.self]
    )
}

struct DeadLetterOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (env SWITCHBOARD_BOOTSTRAP).")
    var bootstrap: String?
    @Option(help: "Dead-letter topic.")
    var topic: String = Topics.deadLetter

    func tool() throws -> DeadLetterTool {
        let log = try LogOptions.parse(bootstrap.map { ["--bootstrap", $0] } ?? [])
        return DeadLetterTool(kafka: try log.kafka(client: "dlq"), topic: topic, logger: quietLogger())
    }

    static func entryID(_ text: String) throws -> (Int32, Int64) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let partition = Int32(parts[0]), let offset = Int64(parts[1]), partition >= 0, offset >= 0 else {
            throw ValidationError("an entry is named partition:offset, as `dlq list` prints it, e.g. 0:12")
        }
        return (partition, offset)
    }
}

struct ListDeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per dead letter: entry, origin, consumer group, time, error.")
    @OptionGroup var options: DeadLetterOptions
    @Option(help: "Only entries from this consumer group.")
    var group: String?

    func run() async throws {
        let group = self.group
        let counter = LineCounter()
        try await options.tool().list { entry in
            if let group, entry.consumerGroup != group { return }
            let origin = "\(entry.originTopic ?? "?")/\(entry.originPartition.map(String.init) ?? "?")@\(entry.originOffset.map(String.init) ?? "?")"
            let when = entry.failedAtMillis.map { Timestamp.format(millis: $0) } ?? "?"
            let error = (entry.error ?? "").replacingOccurrences(of: "\n", with: " ").prefix(120)
            writeOut("\(entry.id)\t\(origin)\t\(entry.consumerGroup ?? "?")\t\(when)\t\(error)\n")
            counter.add()
        }
        FileHandle.standardError.write(Data("\(counter.count) dead letters\n".utf8))
    }
}

final class LineCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}

struct ShowDeadLetter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Headers and value of one dead letter.")
    @OptionGroup var options: DeadLetterOptions
    @Argument(help: "partition:offset")
    var entry: String

    func run() async throws {
        let (partition, offset) = try DeadLetterOptions.entryID(entry)
        guard let found = try await options.tool().find(partition: partition, offset: offset) else {
            throw ValidationError("no dead letter \(entry)")
        }
        var text = "entry \(found.id)\nkey \(found.record.key.map { String(decoding: $0, as: UTF8.self) } ?? "(none)")\n"
        for header in found.record.headers {
            text += "header \(header.key): \(header.value.map { String(decoding: $0, as: UTF8.self) } ?? "(null)")\n"
        }
        text += "value (\(found.record.value.count) bytes):\n\(String(decoding: found.record.value, as: UTF8.self))\n"
        writeOut(text)
    }
}

struct RedriveDeadLetter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redrive", abstract: "Send a dead letter (or a fixed version of it) back to the topic it came from.")
    @OptionGroup var options: DeadLetterOptions
    @Argument(help: "partition:offset")
    var entry: String
    @Option(name: .customLong("value-file"), help: "Send this file's bytes instead of the original value (the fix).")
    var valueFile: String?
    @Flag(help: "Send even if the value is still not a valid event.")
    var force = false

    func run() async throws {
        let (partition, offset) = try DeadLetterOptions.entryID(entry)
        let tool = try options.tool()
        guard let found = try await tool.find(partition: partition, offset: offset) else { throw ValidationError("no dead letter \(entry)") }
        var replacement: [UInt8]?
        if let valueFile {
            guard let data = FileManager.default.contents(atPath: valueFile) else { throw ValidationError("cannot read \(valueFile)") }
            // A file written by an editor usually ends with a newline the event never had.
            replacement = Array(data).reversed().drop(while: { $0 == 10 || $0 == 13 }).reversed()
        }
        let producer = try KafkaProducer(config: tool.kafka, logger: quietLogger())
        do {
            let sent = try await tool.redrive(found, replacement: replacement, force: force, producer: producer)
            await producer.close()
            writeOut("redriven \(entry) to \(sent.topic)/\(sent.partition)@\(sent.offset)\n")
        } catch {
            await producer.close()
            throw error
        }
    }
}
