public import Events
import Foundation
public import Kafka
import LogTools
import Postgres
import Projections
public import ReadModels

extension ProjectionRebuilder {
    /// Folds the log into `schema` (created fresh) with `group`'s projections, keeping only
    /// the records `include` accepts: e.g. one conversation up to a time or an offset. The
    /// state "as it was" then, computed by the same code that keeps the live read models.
    public func fold(_ group: ReadModelSchema, into schema: String, include: @escaping @Sendable (KafkaRecord, EventEnvelope) -> Bool) async throws {
        try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA IF EXISTS \(try PostgresQuery.quotedIdentifier(schema)) CASCADE") }
        try await migrate(pool, schema: schema, migrations: group.migrations, logger: logger)
        let batch = Batch(projections: group.projections(in: schema), size: batchSize, pool: pool, logger: logger, progress: { _ in })
        try await scanner(topic).scanBatches(from: { _ in 0 }, to: { _, high in high }) { records in
            try await batch.add(Batch.decode(records).filter { record, event in event.map { include(record, $0) } ?? false })
        }
        try await batch.flush()
    }
}
