import ArgumentParser
import DevStack
import Events
import Foundation
import Kafka
import Logging
import Postgres
import ProjectionRebuild
import ServiceRuntime
import UnixSignals
import LogTopics

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Switchboard: the development broker and the platform on one machine.",
        subcommands: [BrokerCommand.self, UpCommand.self, AuthCommand.self, EvalCommand.self, ShadowCommand.self, EventsCommand.self, TraceCommand.self, DeadLetterCommand.self, ProjectionsCommand.self, ConversationCommand.self, KnowledgeCommand.self, ToolsCommand.self, BenchCommand.self]
    )
}

/// Unbuffered, so a supervisor or a pipe sees it at once.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Waits for SIGINT or SIGTERM (Ctrl-C).
func waitForTerminationSignal() async {
    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return }
}

/// `switchboard broker`: librdkafka's mock cluster, the embedded development broker. It speaks
/// the real Kafka protocol on loopback; the services use it exactly like a real cluster.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "broker", abstract: "Run the development Kafka broker (librdkafka mock cluster).")

    @Option(help: "Partitions of the conversation topic. The dev broker keeps at most 5 MiB or 100k message sets per partition, so more partitions hold more history.")
    var partitions: Int = 8
    @Option(help: "Number of mock brokers.")
    var brokers: Int = 1
    @Option(name: .customLong("bootstrap-file"), help: "Also write the bootstrap address to this file once the topics exist.")
    var bootstrapFile: String?
    @Option(name: .customLong("archive-database-url"), help: "Restore the topics at start from this database (env SWITCHBOARD_ARCHIVE_DATABASE_URL): the conversation log from the gateway's archive (audit_log), at the same offsets, and every topic up to the offsets its consumers stored there.")
    var archiveDatabaseURLFlag: String?
    var archiveDatabaseURL: String? {
        archiveDatabaseURLFlag ?? ProcessInfo.processInfo.environment["SWITCHBOARD_ARCHIVE_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func run() async throws {
        guard (1...256).contains(partitions) else { throw ValidationError("--partitions must be 1...256") }
        ProcessBootstrap.bootstrap(logLevel: .info, exitOnStdinEOF: try CLIEnvironment.exitOnStdinEOF())
        let logger = Logger(label: "switchboard.broker")
        var restore: (BrokerRestore, BrokerRestore.Plan, PostgresPool)?
        if let archiveDatabaseURL {
            let pool = PostgresPool(url: archiveDatabaseURL, size: 4, logger: logger)
            let restorer = BrokerRestore(pool: pool, archivedTopic: Topics.conversations, logger: logger)
            let plan = try await restorer.plan()
            // Keys map to partitions by the partition count: history written with more
            // partitions than asked for now would put a conversation's new events elsewhere.
            let needed = plan.partitionsNeeded(Topics.conversations)
            if needed > partitions {
                await pool.close()
                throw ValidationError("the database's history has \(Topics.conversations) events on partition \(needed - 1); start the broker with --partitions matching the count it was written with (at least \(needed)), or start from an empty database")
            }
            restore = (restorer, plan, pool)
        }
        let cluster = try KafkaMockCluster(brokers: brokers, logger: logger)
        var created: Set<String> = []
        for (topic, count) in [(Topics.conversations, partitions), (Topics.deadLetter, 2), (Topics.knowledge, 2)] {
            try cluster.createTopic(topic, partitions: max(count, restore?.1.partitionsNeeded(topic) ?? 0))
            created.insert(topic)
        }
        if let (restorer, plan, pool) = restore {
            for topic in plan.ends.keys where !created.contains(topic) {
                try cluster.createTopic(topic, partitions: plan.partitionsNeeded(topic))
            }
            if !plan.isEmpty {
                let started = ContinuousClock.now
                let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "switchboard-broker-restore"), logger: logger)
                let summary: BrokerRestore.Summary
                do {
                    summary = try await restorer.restore(plan, producer: producer)
                } catch {
                    await producer.close()
                    await pool.close()
                    await cluster.close()
                    throw error
                }
                await producer.close()
                logger.info("topics restored from the archive", metadata: [
                    "archive.records": "\(summary.restored)", "archive.placeholders": "\(summary.placeholders)",
                    "duration": "\(ContinuousClock.now - started)",
                ])
            }
            await pool.close()
        }
        writeOut("SWITCHBOARD_BOOTSTRAP=\(cluster.bootstrapServers)\n")
        if let bootstrapFile {
            try cluster.bootstrapServers.write(toFile: bootstrapFile, atomically: true, encoding: .utf8)
        }
        logger.info("development broker running", metadata: ["kafka.bootstrap": "\(cluster.bootstrapServers)", "topic.partitions": "\(partitions)"])
        await waitForTerminationSignal()
        await cluster.close()
    }
}

/// `switchboard up`: broker and the five services as processes, `.run/env` written, until Ctrl-C.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Run the whole platform locally (needs DATABASE_URL).")

    @Option(name: .customLong("database-url"), help: "Postgres URL (env DATABASE_URL).")
    var databaseURL: String?
    @Option(name: .customLong("run-dir"), help: "Run folder for env file and logs.")
    var runDirectory: String = ".run"
    @Option(name: .customLong("domain-pack"))
    var domainPack: String = "deploy/packs/retail.yaml"
    @Option(name: .customLong("base-port"), help: "Gateway port; the other services take the next four.")
    var basePort: Int = 8080
    /// 64, not 8: the dev broker walks a partition's list of message sets on every fetch that
    /// returns data, so per-turn broker CPU follows a partition's history (docs/BENCHMARKS.md:
    /// 8.1 → 2.9 ms per turn at 16 in flight, and flat to within 10% for services + Postgres
    /// after 50k events), for about 7 points more of idle CPU.
    @Option(help: "Partitions of the conversation topic (the dev broker's cost per fetch grows with a partition's history: more partitions, shorter lists).")
    var partitions: Int = 64
    @Option(name: .customLong("fetch-wait-ms"), help: "Consumers' fetch.wait.max.ms: the dev broker holds an empty fetch this long (latency per hop vs. idle CPU).")
    var fetchWaitMs: Int = 5
    @Option(help: "Demo human agents HILQueue creates at start (YAML); empty for none.")
    var agents: String = "deploy/agents.yaml"

    func run() async throws {
        guard (1...256).contains(partitions) else { throw ValidationError("--partitions must be 1...256") }
        guard (0...10_000).contains(fetchWaitMs) else { throw ValidationError("--fetch-wait-ms must be 0...10000") }
        ProcessBootstrap.bootstrap(logLevel: .info, exitOnStdinEOF: try CLIEnvironment.exitOnStdinEOF())
        let logger = Logger(label: "switchboard.up")
        let databaseURL = try CLIEnvironment.databaseURL(databaseURL)
        let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : cwd + "/" + path }
        // The planner's model settings (SWITCHBOARD_LLM_BASE_URL / _MODEL / _API_KEY_ENV,
        // SWITCHBOARD_MODEL_CATALOG) and the key variables they name pass through.
        var forwarded = CLIEnvironment.forwardedToServices
        if let catalog = forwarded.settings["SWITCHBOARD_MODEL_CATALOG"] { forwarded.settings["SWITCHBOARD_MODEL_CATALOG"] = absolute(catalog) }
        if !agents.isEmpty { forwarded.settings["SWITCHBOARD_HIL_AGENTS"] = absolute(agents) }
        let stack = DevStack(options: .init(
            binDirectory: binDirectory, runDirectory: absolute(runDirectory), databaseURL: databaseURL,
            domainPackPath: absolute(domainPack), basePort: basePort, partitions: partitions, fetchWaitMs: fetchWaitMs,
            extraEnvironment: forwarded.settings, secretEnvironment: forwarded.secrets
        ), logger: logger)
        do {
            try await stack.start()
        } catch {
            await stack.stop()
            throw error
        }
        writeOut("""

        Switchboard is up.
          Gateway     \(stack.gatewayURL)   (POST /v1/conversations/{id}/messages?wait=10)
          Chat demo   \(stack.gatewayURL)/#session=\(stack.environment["SWITCHBOARD_CUSTOMER_TOKEN"] ?? "")
                      (signed in as customer cus_1001; the widget: \(stack.gatewayURL)/widget.js)
          Inbox       \(stack.url(of: "hilqueue"))/inbox#token=\(stack.environment["SWITCHBOARD_AGENT_TOKEN_ANA"] ?? "")
                      (signed in as agent_ana; tokens for agent_bo and agent_cy are in the env file)
          Planner     \(stack.url(of: "planner"))/metrics
          Executor    \(stack.url(of: "executor"))/metrics
          Verifier    \(stack.url(of: "verifier"))/metrics
          HILQueue    \(stack.url(of: "hilqueue"))/v1/handovers
          Env file    \(stack.envFilePath)   (source it: SWITCHBOARD_TOKEN is an administrator's token for curl and the CLI)
          Logs        \(absolute(runDirectory))/logs/
        Try:
          set -a; . \(stack.envFilePath); set +a
          curl -s -X POST '\(stack.gatewayURL)/v1/conversations/demo-1/messages?wait=10' -H "authorization: Bearer $SWITCHBOARD_TOKEN" -H 'content-type: application/json' -d '{"customer_id":"cus_1001","text":"Where is my order ABC123?"}'
        Ctrl-C stops everything.


        """)
        await waitForTerminationSignal()
        writeOut("stopping…\n")
        await stack.stop()
    }
}
