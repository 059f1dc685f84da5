import EventBus
import Events
import Foundation
import Kafka
import Logging
import Synchronization
import Testing

/// The retry policy against the mock cluster: a transient failure is retried until it passes,
/// any other failure is retried a few times and then dead-lettered, and the partition moves on.
@Suite(.timeLimit(.minutes(1)))
struct EventConsumerRetryTests {
    struct Outage: RetriableError { var isRetriable: Bool { true } }
    struct Bug: Error {}

    final class Attempts: Sendable {
        let counts = Mutex<[String: Int]>([:])
        let handled = Mutex<[String]>([])
        func attempt(_ text: String) -> Int { counts.withLock { $0[text, default: 0] += 1; return $0[text]! } }
    }

    @Test func transientFailuresAreRetriedOthersAreDeadLetteredAndTheLogMovesOn() async throws {
        let logger = Logger(label: "retry-test")
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("events", partitions: 1)
        try cluster.createTopic("dead", partitions: 1)
        var config = KafkaConfig(bootstrapServers: cluster.bootstrapServers, clientID: "retry-test")
        config.extra = KafkaConfig.mockClusterGroupSettings
        let producer = try KafkaProducer(config: config, logger: logger)
        let publisher = EventPublisher(producer: producer, topic: "events")
        for text in ["bug", "outage", "fine"] {
            try await publisher.publish(try EventEnvelope.start(MessageReceived(customerID: "c", text: text), conversationID: "conv-1", tenantID: "t", producer: "test"))
        }

        let consumer = try KafkaConsumer(config: config, subscription: .group(id: "retry", topics: ["events"]), logger: logger)
        var events = EventConsumer(
            consumer: consumer, deadLetters: DeadLetterPublisher(producer: producer, topic: "dead", consumerGroup: "retry"),
            interestedIn: [MessageReceived.eventType], logger: logger
        )
        events.retry.initialBackoff = .milliseconds(1)
        events.retry.maxBackoff = .milliseconds(5)
        let attempts = Attempts()
        let run = Task { [events] in
            try await events.run { event, _ in
                let text = try event.decode(MessageReceived.self).text
                let attempt = attempts.attempt(text)
                switch text {
                case "bug": throw Bug()
                case "outage" where attempt <= 7: throw Outage()  // more than the 5 allowed for bugs
                default: attempts.handled.withLock { $0.append(text) }
                }
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while attempts.handled.withLock({ $0.count }) < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        run.cancel()
        _ = try? await run.value
        await consumer.close()

        #expect(attempts.handled.withLock { $0 } == ["outage", "fine"], "in log order, after the bad one was parked")
        #expect(attempts.counts.withLock { $0 } == ["bug": 5, "outage": 8, "fine": 1])

        let dead = try KafkaConsumer(config: config, subscription: .allPartitions(topics: ["dead"], startAt: .earliest), logger: logger)
        let parked = Mutex<[KafkaRecord]>([])
        let reader = Task { try await dead.run { record in parked.withLock { $0.append(record) } } }
        while parked.withLock({ $0.isEmpty }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        reader.cancel()
        _ = try? await reader.value
        await dead.close()
        let records = parked.withLock { $0 }
        #expect(records.count == 1)
        #expect(records.first?.header(DeadLetterHeaders.error)?.contains("handler failed 5 times") == true)
        #expect(try records.first.map { try EventCodec.decode($0.value).decode(MessageReceived.self).text } == "bug")
        await producer.close()
        await cluster.close()
    }
}
