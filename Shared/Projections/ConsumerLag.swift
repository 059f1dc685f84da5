public import Kafka
import Metrics
public import Postgres

/// How far a participant's stored offsets are behind the log's end, per partition: the lag of
/// a service's reactions (owner = its consumer group) or of one read model. Offsets are in
/// Postgres (`ProjectionStore`), so the broker's group lag would not see them.
public enum ConsumerLag {
    /// Events not yet handled by `owner` in each partition of `topic` (a partition it never
    /// stored an offset for counts from the log's start).
    public static func measure(admin: KafkaAdmin, pool: PostgresPool, topic: String, owner: String, schema: String = "consumers") async throws -> [Int32: Int64] {
        let partitions = try await admin.partitionCount(topic: topic, timeout: .seconds(2))
        let rows = try await pool.query("SELECT partition, next_offset FROM \(identifier: schema).projection_offsets WHERE projection = \(owner) AND topic = \(topic)")
        var next: [Int32: Int64] = [:]
        for row in rows { next[Int32(try row.decode("partition", as: Int.self))] = try row.decode("next_offset", as: Int64.self) }
        var lag: [Int32: Int64] = [:]
        for partition in 0..<Int32(partitions) {
            let (low, high) = try await admin.watermarks(TopicPartition(topic: topic, partition: partition), timeout: .seconds(2))
            lag[partition] = max(0, high - (next[partition] ?? low))
        }
        return lag
    }

    /// Measures `group`'s lag on `topic` every `interval` until cancelled, as the gauge
    /// `switchboard_consumer_lag_events{group,partition}` (a failed measurement is skipped).
    public static func monitor(admin: KafkaAdmin, pool: PostgresPool, topic: String, group: String, interval: Duration = .seconds(5)) async throws {
        while !Task.isCancelled {
            if let lag = try? await measure(admin: admin, pool: pool, topic: topic, owner: group) {
                for (partition, events) in lag {
                    Gauge(label: "switchboard_consumer_lag_events", dimensions: [("group", group), ("partition", String(partition))]).record(events)
                }
            }
            try await Task.sleep(for: interval)
        }
    }
}
