import EventBus
import Events
import Foundation
import Kafka
import LogTools
import Logging
import Testing

@Suite(.timeLimit(.minutes(2)))
struct TraceAndDeadLetterTests {
    @Test func traceOrdersStepsAndMeasuresFromTheirCause() throws {
        let t0: Int64 = 1_763_900_000_000
        let message = try EventEnvelope.start(MessageReceived(customerID: "c", text: "t"), conversationID: "conv-t", tenantID: "default", producer: "gateway@a", occurredAtMillis: t0)
        let decision = try message.reaction(DecisionMade(brain: "rules", intent: "x", confidence: 1, entities: [:], nextAction: .respond, explain: ""), producer: "planner@b", occurredAtMillis: t0 + 4)
        let draft = try message.reaction(ReplyDrafted(replyID: UUID(), kind: .answer, text: "hi", grounding: []), producer: "planner@b", occurredAtMillis: t0 + 5)
        let approved = try draft.reaction(ReplyApproved(replyID: UUID(), kind: .answer, text: "hi"), producer: "verifier@c", occurredAtMillis: t0 + 12)
        let nextTurn = try EventEnvelope.start(MessageReceived(customerID: "c", text: "again"), conversationID: "conv-t", tenantID: "default", producer: "gateway@a", occurredAtMillis: t0 + 100)

        let turns = TurnTrace.turns(of: [message, decision, draft, approved, approved, nextTurn])
        #expect(turns.count == 2)
        let trace = turns[0]
        #expect(trace.turnID == message.correlationID)
        #expect(trace.steps.map(\.service) == ["gateway", "planner", "planner", "verifier"], "the repeated event is shown once")
        #expect(trace.steps.map(\.startMs) == [0, 4, 5, 12])
        #expect(trace.steps.map(\.afterCauseMs) == [nil, 4, 5, 7])
        #expect(trace.steps[3].causeType == "ReplyDrafted")
        #expect(trace.totalMs == 12)
        let text = trace.render()
        #expect(text.contains("4 events  12 ms"))
        #expect(text.contains("+7 ms after ReplyDrafted"))
        #expect(text.split(separator: "\n").count == 2 + 4)
    }

    @Test func deadLettersAreListedShownAndRedrivenToTheirOrigin() async throws {
        let logger = Logger(label: "dlq-test")
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("origin", partitions: 2)
        try cluster.createTopic("dead", partitions: 1)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "dlq-test")
        config.fetchWaitMaxMs = 5
        let producer = try KafkaProducer(config: config, logger: logger)

        // A poison record on the origin topic, dead-lettered the way consumers do it.
        let poisonHeaders = [KafkaHeader(key: "event-type", value: Array("MessageReceived".utf8))]
        let (partition, offset) = try await producer.send(topic: "origin", key: Array("conv-9".utf8), value: Array("{oops".utf8), headers: poisonHeaders)
        let poison = KafkaRecord(topic: "origin", partition: partition, offset: offset, key: Array("conv-9".utf8), value: Array("{oops".utf8), headers: poisonHeaders, timestampMs: nil)
        try await DeadLetterPublisher(producer: producer, topic: "dead", consumerGroup: "switchboard.planner").send(poison, error: "not JSON", logger: logger)

        let tool = DeadLetterTool(kafka: config, topic: "dead", logger: logger)
        let listed = Listed()
        try await tool.list { listed.add($0) }
        let entry = try #require(listed.entries.first)
        #expect(listed.entries.count == 1)
        #expect(entry.id == "0:0")
        #expect(entry.originTopic == "origin" && entry.originPartition == partition && entry.originOffset == offset)
        #expect(entry.consumerGroup == "switchboard.planner" && entry.error == "not JSON")
        #expect(try await tool.find(partition: 0, offset: 0)?.record.value == Array("{oops".utf8))
        #expect(try await tool.find(partition: 0, offset: 5)?.id == nil)

        // Still broken: refused. Fixed: back on its origin topic, same key, no dlq headers.
        await #expect(throws: RedriveError.self) { _ = try await tool.redrive(entry, producer: producer) }
        let fixed = try EventEnvelope.start(MessageReceived(customerID: "c", text: "fixed"), conversationID: "conv-9", tenantID: "default", producer: "operator")
        let sent = try await tool.redrive(entry, replacement: EventCodec.encode(fixed), producer: producer)
        #expect(sent.topic == "origin" && sent.partition == partition)
        let back = try #require(await DeadLetterTool(kafka: config, topic: "origin", logger: logger).find(partition: sent.partition, offset: sent.offset))
        #expect(back.record.key == Array("conv-9".utf8))
        #expect(try EventCodec.decode(back.record.value) == fixed)
        #expect(back.record.headers.allSatisfy { !$0.key.hasPrefix("dlq-") })
        #expect(back.record.headers.contains { $0.key == "event-type" })
        await producer.close()
        await cluster.close()
    }

    final class Listed: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [DeadLetterEntry] = []
        func add(_ entry: DeadLetterEntry) { lock.withLock { list.append(entry) } }
        var entries: [DeadLetterEntry] { lock.withLock { list } }
    }
}
