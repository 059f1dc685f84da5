import DatabaseTestSupport
import EventBus
public import Events
public import Postgres
import Projections
public import ReadModels

/// Read model schema groups migrated into scratch schemas and filled by their real projections
/// from events a test constructs: what the gateway, the CLI and the planner read, without a
/// broker. Dropped afterwards.
public struct ScratchReadModels: Sendable {
    public let pool: PostgresPool
    /// Scratch schema by the group's live schema name.
    private let schemas: [String: String]

    /// The scratch schema standing in for `group`'s live schema.
    public func schema(_ group: ReadModelSchema) -> String {
        guard let schema = schemas[group.liveSchema] else { fatalError("\(group.liveSchema) was not among the scratch groups") }
        return schema
    }

    /// Applies `events` with every projection of every scratch group, as the live consumer does
    /// (each projection gets the types it is interested in, in log order), at offsets
    /// `firstOffset`, `firstOffset + 1`, … of one partition, in one transaction.
    public func apply(_ events: [EventEnvelope], firstOffset: Int64 = 0, partition: Int32 = 0) async throws {
        let logged = events.enumerated().map { index, event in
            LoggedEvent(event: event, position: LogPosition(topic: "switchboard.conversations.v1", partition: partition, offset: firstOffset + Int64(index)))
        }
        let projections = ReadModels.all.filter { schemas[$0.liveSchema] != nil }.flatMap { $0.projections(in: schema($0)) }
        try await pool.transaction { connection in
            for projection in projections {
                let wanted = logged.filter { projection.interestedIn?.contains($0.event.type) ?? true }
                if !wanted.isEmpty { try projection.apply(wanted, in: connection) }
            }
        }
    }

    /// Migrates each group into a fresh schema, runs `body`, drops the schemas whatever happens.
    public static func with<T>(_ groups: [ReadModelSchema], _ body: (ScratchReadModels) async throws -> T) async throws -> T {
        try await TestDB.withPool { pool in
            var schemas: [String: String] = [:]
            do {
                for group in groups {
                    let schema = TestDB.uniqueName(group.liveSchema)
                    schemas[group.liveSchema] = schema
                    try await migrate(pool, schema: schema, migrations: group.migrations, logger: TestDB.logger)
                }
                let result = try await body(ScratchReadModels(pool: pool, schemas: schemas))
                for schema in schemas.values { try await TestDB.dropSchema(schema, pool) }
                return result
            } catch {
                for schema in schemas.values { try? await TestDB.dropSchema(schema, pool) }
                throw error
            }
        }
    }
}
