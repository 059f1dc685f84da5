import ArgumentParser
import EventBus
import Events
import Foundation
import JSON
import Kafka
import Logging
import Postgres
import ProjectionRebuild
import ReadModels

/// `switchboard bench rebuild`: the rebuild rate of every read model over a generated log of
/// realistic turns, next to the raw Postgres COPY rate into an indexed table of the same shape,
/// measured in the same run. Uses its own in-process dev broker and a scratch schema.
struct BenchRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rebuild", abstract: "Rebuild rate (events/s) over N generated events, and raw COPY rows/s, in one run (needs DATABASE_URL).")

    @Option(help: "Events to generate (about ten per turn).")
    var events: Int = 100_000
    @Option(help: "Partitions: the dev broker keeps at most 5 MiB per partition.")
    var partitions: Int = 48
    @Option(name: .customLong("database-url"), help: "Postgres URL (env DATABASE_URL).")
    var databaseURL: String?
    @Option(help: "Only these read-model schemas (repeatable; default all).")
    var schema: [String] = []

    func run() async throws {
        let url = try CLIEnvironment.databaseURL(databaseURL)
        guard events >= 1000, (1...256).contains(partitions) else { throw ValidationError("--events ≥ 1000, --partitions 1...256") }
        let logger = quietLogger()
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("bench.log", partitions: partitions)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "bench-rebuild")
        config.fetchWaitMaxMs = 5
        config.extra = ["linger.ms": "5"]
        let producer = try KafkaProducer(config: config, logger: logger)
        let publisher = EventPublisher(producer: producer, topic: "bench.log")

        // Generate: turns of the found-order shape, every 50th handed over.
        let started = ContinuousClock.now
        var produced = 0
        var turn = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            while produced < events {
                let turnEvents = try Self.turn(turn)
                turn += 1
                produced += turnEvents.count
                group.addTask { try await publisher.publish(turnEvents) }
                inFlight += 1
                if inFlight >= 256 { try await group.next(); inFlight -= 1 }
            }
            try await group.waitForAll()
        }
        await producer.close()
        writeOut("generated \(produced) events (\(turn) turns) in \(Self.seconds(since: started)) s\n")

        let pool = PostgresPool(url: url, size: ReadModels.all.reduce(1) { $0 + $1.projections().count }, logger: logger)
        let rebuilder = ProjectionRebuilder(pool: pool, kafka: config, topic: "bench.log", logger: logger)
        var totalEvents = 0
        var totalSeconds = 0.0
        let selected = ReadModels.all.filter { self.schema.isEmpty || self.schema.contains($0.liveSchema) }
        for group in selected {
            let schema = "bench_\(group.liveSchema)"
            let progress = try await rebuilder.rebuild(group, into: schema, replace: true) { progress in
                FileHandle.standardError.write(Data("\(group.liveSchema): \(progress.line)\n".utf8))
            }
            writeOut("rebuild \(group.liveSchema): \(progress.events) events in \(String(format: "%.2f", progress.seconds)) s = \(String(format: "%.0f", progress.eventsPerSecond)) events/s\n")
            totalEvents += progress.events
            totalSeconds += progress.seconds
            try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA \(schema) CASCADE") }
        }
        writeOut("rebuild each schema on its own: \(totalEvents) events in \(String(format: "%.2f", totalSeconds)) s = \(String(format: "%.0f", Double(totalEvents) / totalSeconds)) events/s\n")

        // What `projections rebuild` does: every selected schema from one pass over the log.
        let targets = selected.map { ProjectionRebuilder.RebuildTarget(group: $0, schema: "bench_\($0.liveSchema)") }
        let onePass = try await rebuilder.rebuild(targets, replace: true) { progress in
            FileHandle.standardError.write(Data("one pass: \(progress.line)\n".utf8))
        }
        writeOut("rebuild \(targets.count) schemas in one pass: \(onePass.events) events in \(String(format: "%.2f", onePass.seconds)) s = \(String(format: "%.0f", onePass.eventsPerSecond)) events/s\n")
        for target in targets {
            try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA \(target.schema) CASCADE") }
        }

        // Raw COPY of the same number of rows into an indexed table shaped like audit_log.
        let rows = produced
        let copySeconds = try await pool.withConnection { connection -> Double in
            try connection.execute(simple: """
                DROP TABLE IF EXISTS bench_copy;
                CREATE TABLE bench_copy (topic text, partition integer, log_offset bigint, event_id uuid, type text, conversation_id text, occurred_at timestamptz, envelope text, PRIMARY KEY (topic, partition, log_offset));
                CREATE INDEX ON bench_copy (conversation_id, partition, log_offset);
                """)
            let envelope = String(repeating: "x", count: 600)
            let start = ContinuousClock.now
            _ = try connection.copyIn("COPY bench_copy FROM STDIN", rows: (0..<rows).lazy.map { i in
                ["bench.log", String(i % 48), String(i), UUID().uuidString, "MessageReceived", "conv-\(i / 10)", "2026-11-23 10:00:00+00", envelope]
            })
            let seconds = Self.seconds(since: start)
            try connection.execute(simple: "DROP TABLE bench_copy")
            return seconds
        }
        writeOut("raw COPY: \(rows) rows in \(String(format: "%.2f", copySeconds)) s = \(String(format: "%.0f", Double(rows) / copySeconds)) rows/s\n")
        await pool.close()
        await cluster.close()
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// One turn's events as the services append them (found order; every 50th a handover).
    static func turn(_ index: Int) throws -> [EventEnvelope] {
        let message = try EventEnvelope.start(MessageReceived(customerID: "cus_\(index % 997)", text: "Where is my order ABC123?"), conversationID: "bench-\(index)", tenantID: "default", producer: "gateway@bench")
        let planID = UUID()
        let stepID = UUID()
        let decision = try message.reaction(DecisionMade(brain: "rules", intent: "order_status", confidence: 0.9, entities: ["order_id": SlotValue(value: "ABC123", source: .customer)], nextAction: .toolCalls, explain: "pattern"), producer: "planner@bench")
        if index % 50 == 49 {
            let draft = try message.reaction(ReplyDrafted(replyID: UUID(), kind: .handover, text: "A colleague will help.", grounding: []), producer: "planner@bench")
            let handover = try message.reaction(HandoverRequested(reason: .customerRequest, summary: "bench", skills: ["general"]), producer: "planner@bench")
            let approved = try draft.reaction(ReplyApproved(replyID: UUID(), kind: .handover, text: "A colleague will help."), producer: "verifier@bench")
            let delivered = try approved.reaction(ReplyDelivered(replyID: UUID(), kind: .handover, text: "A colleague will help.", channel: "api"), producer: "gateway@bench")
            let queued = try handover.reaction(HandoverQueued(queue: "general", reason: .customerRequest, priority: 2), producer: "hilqueue@bench")
            return [message, decision, draft, handover, approved, delivered, queued]
        }
        let plan = try message.reaction(PlanProposed(planID: planID, intent: "order_status", steps: [PlanStep(stepID: stepID, tool: "get_order_status", args: ["order_id": "ABC123"], why: "asked")]), producer: "planner@bench")
        let approved = try plan.reaction(StepApproved(planID: planID, stepID: stepID, tool: "get_order_status", args: ["order_id": "ABC123"], riskTier: .read), producer: "verifier@bench")
        let started = try approved.reaction(ToolCallStarted(planID: planID, stepID: stepID, tool: "get_order_status"), producer: "executor@bench")
        let result: JSONValue = ["order_id": "ABC123", "found": true, "status": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"]
        let succeeded = try approved.reaction(ToolSucceeded(planID: planID, stepID: stepID, tool: "get_order_status", result: result, durationMs: 2), producer: "executor@bench")
        let verified = try succeeded.reaction(StepVerified(planID: planID, stepID: stepID, tool: "get_order_status", result: result), producer: "verifier@bench")
        let text = "Your order ABC123 has shipped with UPS. The tracking number is 1Z999AA10123456784."
        let draft = try verified.reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: text, grounding: [stepID]), producer: "planner@bench")
        let replyApproved = try draft.reaction(ReplyApproved(replyID: UUID(), kind: .answer, text: text), producer: "verifier@bench")
        let delivered = try replyApproved.reaction(ReplyDelivered(replyID: UUID(), kind: .answer, text: text, channel: "api"), producer: "gateway@bench")
        return [message, decision, plan, approved, started, succeeded, verified, draft, replyApproved, delivered]
    }
}
