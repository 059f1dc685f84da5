import Foundation
public import Kafka
import Postgres
import Projections
public import ReadModels

/// Table-by-table comparison of a live schema and a rebuilt one at the same log offsets.
public struct VerifyReport: Sendable {
    public struct Table: Sendable {
        public var name: String
        public var liveRows: Int
        public var rebuiltRows: Int
        public var equal: Bool
        /// When unequal: rows only in live / only in rebuilt (compared after the fact, a hint).
        public var onlyLive: Int?
        public var onlyRebuilt: Int?
    }
    public var tables: [Table]
    public var offsets: [String: [TopicPartition: Int64]]
    public var equal: Bool { tables.allSatisfy(\.equal) }

    public var text: String {
        var lines = tables.map { table in
            let verdict = table.equal ? "equal" : "DIFFERENT (only live \(table.onlyLive ?? -1), only rebuilt \(table.onlyRebuilt ?? -1))"
            return "\(table.name)\tlive \(table.liveRows) rows\trebuilt \(table.rebuiltRows) rows\t\(verdict)"
        }
        lines.append(equal ? "live and rebuilt are equal" : "live and rebuilt DIFFER")
        return lines.joined(separator: "\n")
    }
}

public struct VerifyTimeout: Error, CustomStringConvertible {
    public var description: String { "the live projections did not reach the rebuilt schema's offsets in time (is the owning service running?)" }
}

extension ProjectionRebuilder {
    /// Compares every projected table of `group` between the live schema and `rebuilt` at the
    /// same offsets: the live side is read in one snapshot (offsets and rows together), the
    /// rebuilt side is first advanced to exactly those offsets. Waits while live lags behind.
    public func verify(_ group: ReadModelSchema, rebuilt: String, timeout: Duration = .seconds(60)) async throws -> VerifyReport {
        let live = group.projections()
        let target = group.projections(in: rebuilt)
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = try await pool.transaction(isolation: .repeatableRead) { connection in
                var offsets: [String: [TopicPartition: Int64]] = [:]
                var sums: [String: (Int, String)] = [:]
                for projection in live {
                    offsets[projection.name] = try ProjectionStore.offsets(schema: projection.schema, projection: projection.name, in: connection)
                    for table in projection.tables { sums[table] = try Self.checksum(schema: projection.schema, table: table, in: connection) }
                }
                return Snapshot(offsets: offsets, sums: sums)
            }
            let rebuiltOffsets = try await pool.withConnection { connection in
                try Dictionary(uniqueKeysWithValues: target.map { ($0.name, try ProjectionStore.offsets(schema: rebuilt, projection: $0.name, in: connection)) })
            }
            let behind = target.contains { projection in
                (rebuiltOffsets[projection.name] ?? [:]).contains { tp, next in next > (snapshot.offsets[projection.name]?[tp] ?? 0) }
            }
            if behind {
                guard ContinuousClock.now < deadline else { throw VerifyTimeout() }
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            for projection in target {
                let goal = snapshot.offsets[projection.name] ?? [:]
                let have = rebuiltOffsets[projection.name] ?? [:]
                let topic = self.topic(of: group)
                try await advance(
                    [[projection]], topic: topic,
                    from: { partition in have[TopicPartition(topic: topic, partition: partition)] ?? 0 },
                    to: Dictionary(uniqueKeysWithValues: goal.filter { $0.key.topic == topic }.map { ($0.key.partition, $0.value) }),
                    progress: { _ in }
                )
            }
            var tables: [VerifyReport.Table] = []
            for projection in target {
                for table in projection.tables {
                    let (rebuiltRows, rebuiltSum) = try await pool.withConnection { try Self.checksum(schema: rebuilt, table: table, in: $0) }
                    let (liveRows, liveSum) = snapshot.sums[table] ?? (0, "")
                    var row = VerifyReport.Table(name: "\(group.liveSchema).\(table)", liveRows: liveRows, rebuiltRows: rebuiltRows, equal: liveRows == rebuiltRows && liveSum == rebuiltSum)
                    if !row.equal {
                        let (onlyLive, onlyRebuilt) = try await pool.withConnection { connection in
                            (try Self.difference(table, from: group.liveSchema, minus: rebuilt, in: connection), try Self.difference(table, from: rebuilt, minus: group.liveSchema, in: connection))
                        }
                        row.onlyLive = onlyLive
                        row.onlyRebuilt = onlyRebuilt
                    }
                    tables.append(row)
                }
            }
            return VerifyReport(tables: tables, offsets: snapshot.offsets)
        }
    }

    struct Snapshot: Sendable {
        var offsets: [String: [TopicPartition: Int64]]
        var sums: [String: (Int, String)]
    }

    /// Row count and an order-independent digest of every row's full text.
    static func checksum(schema: String, table: String, in connection: PostgresConnection) throws -> (Int, String) {
        let rows = try connection.query("""
            SELECT count(*) AS n, coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') AS digest
            FROM \(identifier: schema).\(identifier: table) t
            """)
        return (try rows[0].decode("n", as: Int.self), try rows[0].decode("digest", as: String.self))
    }

    static func difference(_ table: String, from a: String, minus b: String, in connection: PostgresConnection) throws -> Int {
        let rows = try connection.query("""
            SELECT count(*) AS n FROM (SELECT * FROM \(identifier: a).\(identifier: table) EXCEPT ALL SELECT * FROM \(identifier: b).\(identifier: table)) d
            """)
        return try rows[0].decode("n", as: Int.self)
    }

    /// Makes `rebuilt` the live schema in one transaction; the replaced one is kept under a new
    /// name (returned) for inspection. Running projections notice their offsets moved and
    /// continue from the rebuilt schema's offsets.
    public func swap(_ group: ReadModelSchema, rebuilt: String) async throws -> String {
        let stamp = Int(Date().timeIntervalSince1970)
        let replaced = "\(group.liveSchema)_replaced_\(stamp)"
        try await pool.transaction { connection in
            try connection.query("ALTER SCHEMA \(identifier: group.liveSchema) RENAME TO \(identifier: replaced)")
            try connection.query("ALTER SCHEMA \(identifier: rebuilt) RENAME TO \(identifier: group.liveSchema)")
        }
        return replaced
    }
}
