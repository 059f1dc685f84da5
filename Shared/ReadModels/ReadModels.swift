import Knowledge
public import Postgres
public import Projections

/// The log a read model is a projection of.
public enum LogTopic: Sendable, Hashable {
    /// `switchboard.conversations.v1`: every conversation's events.
    case conversations
    /// `switchboard.knowledge.v1`: knowledge documents (`switchboard kb ingest`).
    case knowledge
}

/// A Postgres schema of read models: its migrations and the projections that fill it, built
/// for any schema name so the same code serves the live schema and a rebuild beside it.
public struct ReadModelSchema: Sendable {
    /// The service that runs these projections live.
    public var owner: String
    public var liveSchema: String
    public var migrations: [Migration]
    public var topic: LogTopic = .conversations
    public var make: @Sendable (_ schema: String) -> [any Projection]

    public func projections(in schema: String? = nil) -> [any Projection] { make(schema ?? liveSchema) }
}

/// Every read model the platform keeps, by owning service.
public enum ReadModels {
    public static let gateway = ReadModelSchema(
        owner: "gateway", liveSchema: "gateway",
        migrations: ConversationsProjection.migrations + AuditProjection.migrations + TurnKPIProjection.migrations,
        make: { [ConversationsProjection(schema: $0), AuditProjection(schema: $0), TurnKPIProjection(schema: $0)] }
    )
    public static let hilqueue = ReadModelSchema(
        owner: "hilqueue", liveSchema: "hilqueue",
        migrations: HandoverProjection.migrations + ApprovalsProjection.migrations,
        make: { [HandoverProjection(schema: $0), ApprovalsProjection(schema: $0)] }
    )
    public static let costs = ReadModelSchema(
        owner: "planner", liveSchema: "costs",
        migrations: CostLedgerProjection.migrations,
        make: { [CostLedgerProjection(schema: $0)] }
    )
    public static let cases = ReadModelSchema(
        owner: "planner", liveSchema: "cases",
        migrations: TicketsProjection.migrations,
        make: { [TicketsProjection(schema: $0)] }
    )
    public static let executions = ReadModelSchema(
        owner: "executor", liveSchema: "executions",
        migrations: ToolExecutionsProjection.migrations,
        make: { [ToolExecutionsProjection(schema: $0)] }
    )
    public static let knowledge = ReadModelSchema(
        owner: "planner", liveSchema: "knowledge",
        migrations: KnowledgeProjection.migrations, topic: .knowledge,
        make: { [KnowledgeProjection(schema: $0)] }
    )
    public static let grounding = ReadModelSchema(
        owner: "verifier", liveSchema: "grounding",
        migrations: GroundingProjection.migrations,
        make: { [GroundingProjection(schema: $0)] }
    )
    public static let groundingKnowledge = ReadModelSchema(
        owner: "verifier", liveSchema: "grounding_knowledge",
        migrations: KnowledgeGroundingProjection.migrations, topic: .knowledge,
        make: { [KnowledgeGroundingProjection(schema: $0)] }
    )
    public static let all = [gateway, hilqueue, costs, cases, executions, knowledge, grounding, groundingKnowledge]

    /// The schema group holding a projection (by name) or named by its live schema.
    public static func group(named name: String) -> ReadModelSchema? {
        all.first { $0.liveSchema == name || $0.projections().contains { $0.name == name } }
    }
}
