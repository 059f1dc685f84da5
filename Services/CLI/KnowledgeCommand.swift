import ArgumentParser
import EventBus
import Events
import Foundation
import Kafka
import Knowledge
import LogTopics

struct KnowledgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kb", abstract: "The knowledge base the brains retrieve from.",
        subcommands: [IngestKnowledge.self]
    )
}

/// `switchboard kb ingest <dir>`: Markdown and text files become chunked documents on the
/// knowledge topic; the planner indexes them (Postgres full-text search) and evicts the ones
/// no longer in the directory.
struct IngestKnowledge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Publish a directory of Markdown/text documents to the knowledge topic.")
    @Argument(help: "Directory of .md, .markdown and .txt files (searched recursively).")
    var directory: String
    @Option(help: "Collection name: re-ingesting a collection evicts its documents that are gone.")
    var collection: String = "default"
    @Option(help: "Tenant the documents belong to.")
    var tenant: String = "default"
    @Option(help: "Kafka bootstrap servers (env SWITCHBOARD_BOOTSTRAP).")
    var bootstrap: String?
    @Option(help: "Knowledge topic.")
    var topic: String = Topics.knowledge

    func validate() throws {
        guard collection.range(of: #"^[A-Za-z0-9._-]{1,64}$"#, options: .regularExpression) != nil else {
            throw ValidationError("--collection must be 1-64 characters of [A-Za-z0-9._-]")
        }
    }

    func run() async throws {
        let log = try LogOptions.parse(bootstrap.map { ["--bootstrap", $0] } ?? [])
        let report = try KnowledgeIngest.events(
            directory: URL(fileURLWithPath: directory), collection: collection, tenant: tenant, producer: "switchboard-kb@\(ProcessInfo.processInfo.hostName)")
        for error in report.errors { FileHandle.standardError.write(Data("skipped: \(error)\n".utf8)) }
        let producer = try KafkaProducer(config: try log.kafka(client: "kb"), logger: quietLogger())
        do {
            // In order, one collection key: the synced list comes after every document.
            try await EventPublisher(producer: producer, topic: topic).publish(report.events)
        } catch {
            await producer.close()
            throw error
        }
        await producer.close()
        writeOut("published \(report.documents) documents (\(report.chunks) chunks) to \(topic) as collection \(collection)\(report.errors.isEmpty ? "" : "; \(report.errors.count) skipped")\n")
    }
}
