import EventBus
import EventContracts
import Events
import Foundation
public import Kafka
public import LogTools
public import Logging
public import Postgres
import Projections
public import ReadModels
import LogTopics

/// Rebuilds a schema of read models from offset 0 into a fresh schema beside the live one,
/// verifies the two table by table at the same log offsets, and swaps them atomically.
public struct ProjectionRebuilder: Sendable {
    public let pool: PostgresPool
    public let kafka: KafkaConfig
    /// The conversation log.
    public let topic: String
    /// The knowledge topic, for read models of it.
    public let knowledgeTopic: String
    public let logger: Logger
    /// Where records below a partition's log start are read from: the live gateway schema's
    /// `audit_log` (a rebuild of the gateway schema itself reads the live archive while it
    /// writes the new one).
    public let archive: any LogArchive
    /// Events per transaction during a rebuild (live projections write one event each).
    public var batchSize = 10000

    public init(pool: PostgresPool, kafka: KafkaConfig, topic: String, knowledgeTopic: String = Topics.knowledge, logger: Logger) {
        self.pool = pool
        self.kafka = kafka
        self.topic = topic
        self.knowledgeTopic = knowledgeTopic
        self.logger = logger
        self.archive = AuditArchive(pool: pool)
    }

    /// The history reader for `topic`, falling back on the archive below the log start.
    func scanner(_ topic: String) -> LogScanner {
        LogScanner(kafka: kafka, topic: topic, archive: archive, logger: logger)
    }

    public struct Progress: Sendable {
        public var events: Int
        public var total: Int
        public var seconds: Double
        public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
        public var etaSeconds: Double? { eventsPerSecond > 0 ? Double(total - events) / eventsPerSecond : nil }
        public var line: String {
            let eta = etaSeconds.map { String(format: "%.0fs", $0) } ?? "?"
            return "\(events)/\(total) events  \(String(format: "%.0f", eventsPerSecond)) events/s  ETA \(eta)"
        }
    }

    public struct SchemaExists: Error, CustomStringConvertible {
        public var schema: String
        public var description: String { "schema \(schema) already exists; pass --replace to drop it first" }
    }

    /// Replays the log from offset 0 up to its end as of now into `schema`, created with the
    /// group's migrations. The live schema keeps serving throughout.
    @discardableResult
    public func rebuild(_ group: ReadModelSchema, into schema: String, replace: Bool, progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Progress {
        try await rebuild([RebuildTarget(group: group, schema: schema)], replace: replace, progress: progress)
    }

    /// A read-model schema and the fresh schema to rebuild it into.
    public struct RebuildTarget: Sendable {
        public var group: ReadModelSchema
        public var schema: String
        public init(group: ReadModelSchema, schema: String) {
            self.group = group
            self.schema = schema
        }
    }

    /// The topic `group` is a projection of.
    public func topic(of group: ReadModelSchema) -> String {
        switch group.topic {
        case .conversations: topic
        case .knowledge: knowledgeTopic
        }
    }

    /// Rebuilds several read-model schemas from one pass over each log they read: each record
    /// is read and decoded once and handed to every schema's writer (each in its own
    /// transactions).
    @discardableResult
    public func rebuild(_ targets: [RebuildTarget], replace: Bool, progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Progress {
        var groups: [String: [[any Projection]]] = [:]
        var deferred: [(schema: String, indexes: [String])] = []
        for target in targets {
            let (group, schema) = (target.group, target.schema)
            precondition(schema != group.liveSchema, "a rebuild never writes into the live schema")
            let exists = try await pool.query("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)").count > 0
            if exists {
                guard replace else { throw SchemaExists(schema: schema) }
                try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA \(try PostgresQuery.quotedIdentifier(schema)) CASCADE") }
            }
            try await migrate(pool, schema: schema, migrations: group.migrations, logger: logger)
            let projections = group.projections(in: schema)
            try await pool.transaction { connection in
                for projection in projections {
                    try connection.query("INSERT INTO \(identifier: schema).projection_versions (projection, version) VALUES (\(projection.name), \(projection.version))")
                }
            }
            // Indexes are cheaper built once over the finished tables than maintained row by
            // row (DESIGN §10: COPY 67k rows/s into an indexed table, 119k without). Unique ones
            // stay: the batched upserts rely on them.
            deferred.append((schema, try await dropSecondaryIndexes(in: schema)))
            // One writer per projection (each stores its own offsets in its own transactions),
            // so the writes of a schema's projections proceed in parallel.
            groups[topic(of: group), default: []] += projections.map { [$0] }
        }
        var reached = Progress(events: 0, total: 0, seconds: 0)
        for (topic, writers) in groups.sorted(by: { $0.key < $1.key }) {
            let pass = try await advance(writers, topic: topic, from: { _ in 0 }, to: nil, progress: progress)
            reached = Progress(events: reached.events + pass.events, total: reached.total + pass.total, seconds: reached.seconds + pass.seconds)
        }
        let started = ContinuousClock.now
        // Two index builds at a time (Postgres builds each on one core; the tables are not
        // written any more). Statistics: autovacuum analyzes the fresh tables shortly after,
        // as their row counts go from 0 to many.
        let definitions = deferred.flatMap(\.indexes)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func start() {
                guard next < definitions.count else { return }
                let definition = definitions[next]
                next += 1
                group.addTask { [pool] in try await pool.withConnection { try $0.execute(simple: definition) } }
            }
            start()
            start()
            while try await group.next() != nil { start() }
        }
        let elapsed = ContinuousClock.now - started
        reached.seconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return reached
    }

    /// Drops the non-unique indexes of `schema`'s tables and returns their definitions.
    func dropSecondaryIndexes(in schema: String) async throws -> [String] {
        let rows = try await pool.query("""
            SELECT pg_get_indexdef(i.indexrelid) AS definition, c.relname AS name
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND NOT i.indisunique AND NOT i.indisprimary
            ORDER BY c.relname
            """)
        let indexes = try rows.map { (try $0.decode("definition", as: String.self), try $0.decode("name", as: String.self)) }
        try await pool.withConnection { connection in
            for (_, name) in indexes {
                try connection.execute(simple: "DROP INDEX \(try PostgresQuery.quotedIdentifier(schema)).\(try PostgresQuery.quotedIdentifier(name))")
            }
        }
        return indexes.map(\.0)
    }

    /// Applies records `[from(p), to[p])` (nil: to the end as of now) of every partition to
    /// each group of projections, in batched transactions (one writer per group) that also
    /// store the offsets reached.
    @discardableResult
    func advance(_ groups: [[any Projection]], topic: String, from: @escaping @Sendable (Int32) -> Int64, to: [Int32: Int64]?, progress: @escaping @Sendable (Progress) -> Void) async throws -> Progress {
        guard !groups.isEmpty else { return Progress(events: 0, total: 0, seconds: 0) }
        let silent: @Sendable (Progress) -> Void = { _ in }
        var batches: [Batch] = []
        for (index, projections) in groups.enumerated() {
            batches.append(Batch(projections: projections, size: batchSize, pool: pool, logger: logger, progress: index == 0 ? progress : silent))
        }
        let writers = batches
        let highs = try await scanner(topic).scanBatches(
            from: from,
            to: { partition, high in
                let end = to.map { $0[partition] ?? 0 } ?? high
                for batch in writers { batch.expect(partition: partition, from: from(partition), to: min(end, high)) }
                return end
            },
            { records in
                let decoded = Batch.decode(records)
                for batch in writers { try await batch.add(decoded) }
            }
        )
        for batch in batches { try await batch.flush() }
        // Partitions with nothing (left) to read still get their end offset stored.
        var ends: [TopicPartition: Int64] = [:]
        for (partition, high) in highs {
            let end = min(to.map { $0[partition] ?? 0 } ?? high, high)
            if end > 0 { ends[TopicPartition(topic: topic, partition: partition)] = end }
        }
        let reached = ends
        try await pool.transaction { connection in
            for projection in groups.joined() {
                let stored = try ProjectionStore.offsets(schema: projection.schema, projection: projection.name, in: connection)
                try ProjectionStore.setOffsets(projection, reached.filter { stored[$0.key] ?? 0 < $0.value }, in: connection)
            }
        }
        return batches[0].finalProgress
    }

    /// Events grouped into one transaction each. Only the scan's handler touches it.
    final class Batch: @unchecked Sendable {
        let projections: [any Projection]
        let size: Int
        let pool: PostgresPool
        let logger: Logger
        let progress: @Sendable (Progress) -> Void
        /// Records with their events, decoded on the scanning side so that decoding overlaps
        /// with the previous batch's writes (nil: not an event, dead-lettered live).
        var records: [(KafkaRecord, EventEnvelope?)] = []
        var applied = 0
        var total = 0
        let started = ContinuousClock.now
        var lastReport = ContinuousClock.now

        init(projections: [any Projection], size: Int, pool: PostgresPool, logger: Logger, progress: @escaping @Sendable (Progress) -> Void) {
            self.projections = projections
            self.size = size
            self.pool = pool
            self.logger = logger
            self.progress = progress
        }

        func expect(partition: Int32, from: Int64, to: Int64) { total += Int(max(0, to - max(from, 0))) }

        var finalProgress: Progress {
            let elapsed = ContinuousClock.now - started
            return Progress(events: applied, total: total, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }

        /// The batch being written while the scan fills the next one (batches commit in order).
        var writing: Task<Void, any Error>?

        static func decode(_ records: [KafkaRecord]) -> [(KafkaRecord, EventEnvelope?)] {
            records.map { ($0, try? EventContracts.published.decode($0.value)) }
        }

        func add(_ records: [(KafkaRecord, EventEnvelope?)]) async throws {
            self.records.append(contentsOf: records)
            if self.records.count >= size { try await flush(wait: false) }
        }

        /// Hands the filled batch to a writer task and keeps scanning; waits for the previous
        /// batch first so batches (and stored offsets) commit in log order.
        func flush(wait: Bool = true) async throws {
            try await writing?.value
            writing = nil
            if !records.isEmpty {
                let records = self.records
                self.records.removeAll(keepingCapacity: true)
                let (pool, projections) = (self.pool, self.projections)
                writing = Task { try await Self.write(records, projections, pool: pool) }
                applied += records.count
            }
            if wait {
                try await writing?.value
                writing = nil
            }
            if ContinuousClock.now - lastReport > .seconds(1) {
                lastReport = ContinuousClock.now
                progress(finalProgress)
            }
        }

        /// The live consumer's path (`ProjectionApplier`) with bigger batches. An event some
        /// projection cannot apply was dead-lettered and skipped live; the careful redo skips it
        /// here the same way.
        static func write(_ records: [(KafkaRecord, EventEnvelope?)], _ projections: [any Projection], pool: PostgresPool) async throws {
            // Records that are not events were dead-lettered live and never applied.
            let events = records.compactMap { record, event in event.map { LoggedEvent(event: $0, record: record) } }
            let offsets = records.map(\.0)
            do {
                try await pool.transaction { connection in
                    _ = try ProjectionApplier.apply(events, to: projections, careful: false, in: connection)
                    try storeOffsets(of: offsets, projections, in: connection)
                }
            } catch where !ProjectionApplier.isTransient(error) {
                try await pool.transaction { connection in
                    _ = try ProjectionApplier.apply(events, to: projections, careful: true, in: connection)
                    try storeOffsets(of: offsets, projections, in: connection)
                }
            }
        }

        static func storeOffsets(of records: [KafkaRecord], _ projections: [any Projection], in connection: PostgresConnection) throws {
            var next: [TopicPartition: Int64] = [:]
            for record in records { next[record.topicPartition] = max(next[record.topicPartition] ?? 0, record.offset + 1) }
            for projection in projections { try ProjectionStore.setOffsets(projection, next, in: connection) }
        }
    }
}
