public import EventBus
public import Events
import Foundation
public import Kafka
public import Logging
public import Postgres

/// One event as a projection sees it: decoded once for every participant of the batch, with the
/// record it was read from (its position, and its bytes, which an archive stores verbatim).
public struct LoggedEvent: Sendable {
    public let event: EventEnvelope
    public let record: KafkaRecord

    public init(event: EventEnvelope, record: KafkaRecord) {
        self.event = event
        self.record = record
    }

    /// For callers that hold the envelope but not the record (tests, tools): the record our
    /// producers would have written.
    public init(event: EventEnvelope, position: LogPosition) {
        self.init(event: event, record: KafkaRecord(
            topic: position.topic, partition: position.partition, offset: position.offset,
            key: Array(event.conversationID.utf8), value: EventCodec.encode(event), headers: [], timestampMs: nil))
    }

    public var position: LogPosition { record.position }
    public var bytes: [UInt8] { record.value }
}

/// A read model: a pure function of the log into Postgres tables that can be thrown away and
/// rebuilt from offset 0. `apply` runs inside the transaction that also stores the consumed
/// offsets, so a redelivered event is never applied twice and a crash loses nothing.
public protocol Projection: Sendable {
    /// Stable name; the key of its offsets and code version in its schema.
    var name: String { get }
    /// Postgres schema holding the projection's tables and its offsets.
    var schema: String { get }
    /// Code version of `apply`. Changing it makes the projection rebuild itself from offset 0
    /// at the next start (restart every replica of the owning service together).
    var version: Int { get }
    /// The tables `apply` writes (in `schema`): emptied on a rebuild, compared by verify.
    var tables: [String] { get }
    /// Event types `apply` is given; nil means every event (an archive).
    var interestedIn: Set<String>? { get }
    /// Writes the effect of `events` (log order; only types in `interestedIn`; none applied
    /// before). The one implementation of the read model: the live consumer calls it with what
    /// one poll returned, a rebuild with thousands of events, and both must leave the same rows,
    /// so it must be deterministic in the events alone (no clocks, no randomness) and give the
    /// same rows however the log is cut into batches.
    func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws
    /// The projection is the log's archive (`gateway.audit`): once the broker has dropped the
    /// start of a partition it holds the only copy, so it is never emptied to rebuild itself
    /// after a version change (that change must be a migration instead).
    var isArchive: Bool { get }
}

extension Projection {
    public var isArchive: Bool { false }
}

/// A version change of the archive would empty it: refused at start.
public struct ArchiveVersionChanged: Error, CustomStringConvertible {
    public var projection: String
    public var stored: Int
    public var code: Int
    public var description: String {
        "\(projection) is the log's archive (the only copy of history the broker has dropped) and its stored version \(stored) differs from the code's \(code): it is never emptied to rebuild; change its rows with a migration and keep its version, or rebuild it beside the live one (`switchboard projections rebuild --projection \(projection) --swap`), which reads the live archive"
    }
}

/// Migration creating the bookkeeping every projection schema carries: consumed offsets and
/// the code version the rows were written by.
public func projectionOffsetsMigration(version: Int) -> Migration {
    Migration(version: version, name: "projection_offsets", sql: """
        CREATE TABLE projection_offsets (
            projection text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            next_offset bigint NOT NULL,
            PRIMARY KEY (projection, topic, partition)
        );
        CREATE TABLE projection_versions (
            projection text PRIMARY KEY,
            version integer NOT NULL
        );
        """)
}

/// Whose offsets a row of `<schema>.projection_offsets` holds: a projection, or the reactions
/// of a service's log consumer.
public struct OffsetOwner: Hashable, Sendable, CustomStringConvertible {
    public var schema: String
    public var name: String
    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }
    public init(_ projection: any Projection) { self.init(schema: projection.schema, name: projection.name) }
    public var description: String { "\(schema)/\(name)" }
}

/// The stored offset was not the one this consumer wrote last: the schema was swapped for a
/// rebuilt one, or another replica wrote meanwhile. The consumer re-reads its offsets and seeks.
public struct OffsetsMoved: Error, CustomStringConvertible {
    public var owner: OffsetOwner
    public var description: String { "stored offsets of \(owner) moved under this consumer" }
}

/// SQL for a projection's bookkeeping tables.
public enum ProjectionStore {
    public static func offsets(schema: String, projection: String, in connection: PostgresConnection) throws -> [TopicPartition: Int64] {
        let rows = try connection.query("SELECT topic, partition, next_offset FROM \(identifier: schema).projection_offsets WHERE projection = \(projection)")
        var stored: [TopicPartition: Int64] = [:]
        for row in rows {
            let tp = TopicPartition(topic: try row.decode("topic", as: String.self), partition: Int32(try row.decode("partition", as: Int.self)))
            stored[tp] = try row.decode("next_offset", as: Int64.self)
        }
        return stored
    }

    /// The highest offset any owner in any schema of this database has stored, per topic and
    /// partition: how far some consumer has read. A development broker restored after a
    /// restart must reach at least these, or new records would land at offsets consumers
    /// believe they have already handled.
    public static func highestStoredOffsets(in connection: PostgresConnection) throws -> [TopicPartition: Int64] {
        let tables = try connection.query("""
            SELECT table_schema FROM information_schema.tables WHERE table_name = 'projection_offsets' ORDER BY table_schema
            """).map { try $0.decode("table_schema", as: String.self) }
        var highest: [TopicPartition: Int64] = [:]
        for schema in tables {
            let rows = try connection.query("SELECT topic, partition, max(next_offset) AS next_offset FROM \(identifier: schema).projection_offsets GROUP BY topic, partition")
            for row in rows {
                let tp = TopicPartition(topic: try row.decode("topic", as: String.self), partition: Int32(try row.decode("partition", as: Int.self)))
                highest[tp] = max(highest[tp] ?? 0, try row.decode("next_offset", as: Int64.self))
            }
        }
        return highest
    }

    /// Moves each owner's offsets forward to `next`, only where the stored offset is still
    /// `expected` (no entry: no row yet); offsets never move back. One statement whatever the
    /// number of owners, schemas and partitions (a data-modifying CTE per schema for the rows
    /// that exist and per schema for new rows). Throws `OffsetsMoved` when any row was moved
    /// by someone else; the caller's transaction must then roll back.
    public static func advance(
        _ moves: [(owner: OffsetOwner, expected: [TopicPartition: Int64], next: [TopicPartition: Int64])], in connection: PostgresConnection
    ) throws {
        struct Row { var owner: OffsetOwner, partition: TopicPartition, expected: Int64?, next: Int64 }
        var rows: [Row] = []
        for (owner, expected, next) in moves {
            for (partition, offset) in next {
                let stored = expected[partition]
                // A participant ahead of the batch (the consumer went back for another) stays.
                if let stored, offset <= stored { continue }
                rows.append(Row(owner: owner, partition: partition, expected: stored, next: offset))
            }
        }
        guard !rows.isEmpty else { return }
        var ctes: [String] = []
        var checks: [(name: String, count: Int, owner: OffsetOwner)] = []
        var binds: [PostgresValue] = []
        func bind(_ value: String) -> String {
            binds.append(PostgresValue(value))
            return "$\(binds.count)"
        }
        for (schema, inSchema) in Dictionary(grouping: rows, by: \.owner.schema).sorted(by: { $0.key < $1.key }) {
            let table = "\(try PostgresQuery.quotedIdentifier(schema)).projection_offsets"
            let updates = inSchema.filter { $0.expected != nil }
            if !updates.isEmpty {
                let name = "u\(checks.count)"
                ctes.append("""
                    \(name) AS (UPDATE \(table) o SET next_offset = t.n
                        FROM unnest(\(bind(BulkWrite.arrayLiteral(updates.map(\.owner.name))))::text[], \(bind(BulkWrite.arrayLiteral(updates.map(\.partition.topic))))::text[],
                                    \(bind(intArray(updates.map { Int64($0.partition.partition) })))::integer[], \(bind(intArray(updates.map { $0.expected ?? 0 })))::bigint[],
                                    \(bind(intArray(updates.map(\.next))))::bigint[]) AS t(name, topic, p, e, n)
                        WHERE o.projection = t.name AND o.topic = t.topic AND o.partition = t.p AND o.next_offset = t.e RETURNING 1)
                    """)
                checks.append((name, updates.count, updates[0].owner))
            }
            let inserts = inSchema.filter { $0.expected == nil }
            if !inserts.isEmpty {
                let name = "i\(checks.count)"
                ctes.append("""
                    \(name) AS (INSERT INTO \(table) (projection, topic, partition, next_offset)
                        SELECT * FROM unnest(\(bind(BulkWrite.arrayLiteral(inserts.map(\.owner.name))))::text[], \(bind(BulkWrite.arrayLiteral(inserts.map(\.partition.topic))))::text[],
                                             \(bind(intArray(inserts.map { Int64($0.partition.partition) })))::integer[], \(bind(intArray(inserts.map(\.next))))::bigint[])
                        ON CONFLICT (projection, topic, partition) DO NOTHING RETURNING 1)
                    """)
                checks.append((name, inserts.count, inserts[0].owner))
            }
        }
        let counts = checks.map { "(SELECT count(*) FROM \($0.name))::integer AS \($0.name)" }.joined(separator: ", ")
        let result = try connection.query(PostgresQuery(unsafeSQL: "WITH " + ctes.joined(separator: ",\n") + "\nSELECT " + counts, binds: binds))
        guard let row = result.first else { throw OffsetsMoved(owner: checks[0].owner) }
        for check in checks where try row.decode(check.name, as: Int.self) != check.count {
            throw OffsetsMoved(owner: check.owner)
        }
    }

    /// Postgres array text of integers, bound as one parameter.
    static func intArray(_ values: [Int64]) -> String {
        "{" + values.map(String.init).joined(separator: ",") + "}"
    }

    /// Sets offsets without a check (rebuilds, which own their schema alone).
    public static func setOffsets(_ projection: any Projection, _ offsets: [TopicPartition: Int64], in connection: PostgresConnection) throws {
        // One statement per topic (array binds), not one per partition: a rebuild batch
        // touches dozens of partitions and this runs in every batch.
        for (topic, entries) in Dictionary(grouping: offsets, by: \.key.topic) {
            let partitions = "{" + entries.map { String($0.key.partition) }.joined(separator: ",") + "}"
            let nexts = "{" + entries.map { String($0.value) }.joined(separator: ",") + "}"
            try connection.query("""
                INSERT INTO \(identifier: projection.schema).projection_offsets (projection, topic, partition, next_offset)
                SELECT \(projection.name), \(topic), p, n FROM unnest(\(partitions)::integer[], \(nexts)::bigint[]) AS t(p, n)
                ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
                """)
        }
    }

    /// A projection whose code version differs from the one its rows were written by is
    /// emptied (rows and offsets) so it rebuilds from offset 0; the new version is recorded.
    public static func ensureVersion(_ projection: any Projection, pool: PostgresPool, logger: Logger) async throws {
        let rebuilt: Int? = try await pool.transaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock(hashtext(\(projection.schema + "/" + projection.name)))")
            let rows = try connection.query("SELECT version FROM \(identifier: projection.schema).projection_versions WHERE projection = \(projection.name)")
            let stored = try rows.first.map { try $0.decode("version", as: Int.self) }
            if stored == projection.version { return nil }
            if projection.isArchive, let stored {
                throw ArchiveVersionChanged(projection: projection.name, stored: stored, code: projection.version)
            }
            let hasOffsets = try connection.query("SELECT 1 FROM \(identifier: projection.schema).projection_offsets WHERE projection = \(projection.name) LIMIT 1").count > 0
            if stored != nil || hasOffsets {
                for table in projection.tables {
                    try connection.query("TRUNCATE \(identifier: projection.schema).\(identifier: table)")
                }
                try connection.query("DELETE FROM \(identifier: projection.schema).projection_offsets WHERE projection = \(projection.name)")
            }
            try connection.query("""
                INSERT INTO \(identifier: projection.schema).projection_versions (projection, version) VALUES (\(projection.name), \(projection.version))
                ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version
                """)
            return stored ?? (hasOffsets ? 0 : nil)
        }
        if let rebuilt {
            logger.notice("projection code version changed: rebuilding from offset 0", metadata: ["projection": "\(projection.name)", "version.from": "\(rebuilt)", "version.to": "\(projection.version)"])
        }
    }
}

// Postgres outages are retried without limit; constraint violations and bugs are not. Declared
// here, the one module that knows both the event bus and Postgres.
extension PostgresError: RetriableError {}
