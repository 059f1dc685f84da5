import EventBus
import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// What a conversation's replies may state (schema `grounding`, run by the verifier): the
/// checkable facts (`GroundingTokens`) the customer wrote, the tools returned and human agents
/// gave. Written per batch like every read model; a reply is drafted only after the events it
/// rests on, so their batch is applied before the reply is checked.
public struct GroundingProjection: Projection {
    public let name = "verifier.grounding"
    public let schema: String
    public let version = 1
    public let tables = ["conversation_facts"]
    public let interestedIn: Set<String>? = [MessageReceived.eventType, ToolSucceeded.eventType, ApprovalDenied.eventType, ApprovalGranted.eventType]
    public init(schema: String = ReadModels.grounding.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "conversation_facts", sql: """
            CREATE TABLE conversation_facts (
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                token text NOT NULL,
                source text NOT NULL,
                PRIMARY KEY (tenant_id, conversation_id, token)
            );
            """),
    ]

    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        var rows: [[String?]] = []
        var seen = Set<String>()
        for logged in events {
            let event = logged.event
            let (tokens, source): (Set<String>, String)
            switch event.type {
            case MessageReceived.eventType: (tokens, source) = (GroundingTokens.extract(try event.decode(MessageReceived.self).text), "customer")
            case ToolSucceeded.eventType: (tokens, source) = (GroundingTokens.extract(try event.decode(ToolSucceeded.self).result), "tool")
            case ApprovalDenied.eventType: (tokens, source) = (GroundingTokens.extract(try event.decode(ApprovalDenied.self).reason), "agent")
            case ApprovalGranted.eventType: (tokens, source) = (GroundingTokens.extract(try event.decode(ApprovalGranted.self).note), "agent")
            default: continue
            }
            for token in tokens.sorted() where seen.insert(event.tenantID + "\u{0}" + event.conversationID + "\u{0}" + token).inserted {
                rows.append([event.tenantID, event.conversationID, token, source])
            }
        }
        try BulkWrite.upsert(
            schema: schema, table: "conversation_facts", columns: ["tenant_id", "conversation_id", "token", "source"],
            conflict: ["tenant_id", "conversation_id", "token"], update: false, rows: rows, in: connection)
    }
}

/// The knowledge base's checkable facts by document (schema `grounding_knowledge`, run by the
/// verifier from the knowledge topic): a reply citing the help centre may state them.
public struct KnowledgeGroundingProjection: Projection {
    public let name = "verifier.knowledge_grounding"
    public let schema: String
    public let version = 1
    public let tables = ["knowledge_facts"]
    public let interestedIn: Set<String>? = [KnowledgeDocumentPublished.eventType, KnowledgeCollectionSynced.eventType]
    public init(schema: String = ReadModels.groundingKnowledge.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "knowledge_facts", sql: """
            CREATE TABLE knowledge_facts (
                tenant_id text NOT NULL,
                collection text NOT NULL,
                document_id text NOT NULL,
                token text NOT NULL,
                PRIMARY KEY (tenant_id, document_id, token)
            );
            CREATE INDEX knowledge_facts_token ON knowledge_facts (tenant_id, token);
            """),
    ]

    /// Event by event: a document replaces its facts; a collection sync drops the documents it
    /// no longer lists.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        for event in events.map(\.event) {
            switch event.type {
            case KnowledgeDocumentPublished.eventType:
                let document = try event.decode(KnowledgeDocumentPublished.self)
                try connection.query("DELETE FROM \(identifier: schema).knowledge_facts WHERE tenant_id = \(event.tenantID) AND document_id = \(document.documentID)")
                let tokens = document.chunks.reduce(into: GroundingTokens.extract(document.title)) { $0.formUnion(GroundingTokens.extract($1.text)) }
                try BulkWrite.upsert(
                    schema: schema, table: "knowledge_facts", columns: ["tenant_id", "collection", "document_id", "token"],
                    conflict: ["tenant_id", "document_id", "token"], update: false,
                    rows: tokens.sorted().map { [event.tenantID, document.collection, document.documentID, $0] }, in: connection)
            case KnowledgeCollectionSynced.eventType:
                let synced = try event.decode(KnowledgeCollectionSynced.self)
                let kept = "{" + synced.documentIDs.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
                try connection.query("""
                    DELETE FROM \(identifier: schema).knowledge_facts
                    WHERE tenant_id = \(event.tenantID) AND collection = \(synced.collection) AND NOT (document_id = ANY(\(kept)::text[]))
                    """)
            default:
                continue
            }
        }
    }
}

/// The reads of the grounding read models.
public struct GroundingQueries: Sendable {
    public let pool: PostgresPool
    public let schema: String
    public let knowledgeSchema: String

    public init(pool: PostgresPool, schema: String = ReadModels.grounding.liveSchema, knowledgeSchema: String = ReadModels.groundingKnowledge.liveSchema) {
        self.pool = pool
        self.schema = schema
        self.knowledgeSchema = knowledgeSchema
    }

    /// Which of `tokens` the conversation holds (the customer's words, tool results, agents'
    /// notes on approvals), without the knowledge base.
    public func inConversation(_ tokens: Set<String>, tenant: String, conversation: String) async throws -> Set<String> {
        guard !tokens.isEmpty else { return [] }
        let rows = try await pool.query("""
            SELECT token FROM \(identifier: schema).conversation_facts
            WHERE tenant_id = \(tenant) AND conversation_id = \(conversation) AND token = ANY(\(BulkWrite.arrayLiteral(tokens.sorted()))::text[])
            """)
        return Set(try rows.map { try $0.decode("token", as: String.self) })
    }

    /// Which of `tokens` the tenant's knowledge base holds.
    public func inKnowledge(_ tokens: Set<String>, tenant: String) async throws -> Set<String> {
        guard !tokens.isEmpty else { return [] }
        let rows = try await pool.query("""
            SELECT token FROM \(identifier: knowledgeSchema).knowledge_facts WHERE tenant_id = \(tenant) AND token = ANY(\(BulkWrite.arrayLiteral(tokens.sorted()))::text[])
            """)
        return Set(try rows.map { try $0.decode("token", as: String.self) })
    }

    /// Which of `tokens` the conversation or the tenant's knowledge base holds.
    public func grounded(_ tokens: Set<String>, tenant: String, conversation: String) async throws -> Set<String> {
        guard !tokens.isEmpty else { return [] }
        let list = "{" + tokens.sorted().map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
        let rows = try await pool.query("""
            SELECT token FROM \(identifier: schema).conversation_facts WHERE tenant_id = \(tenant) AND conversation_id = \(conversation) AND token = ANY(\(list)::text[])
            UNION
            SELECT token FROM \(identifier: knowledgeSchema).knowledge_facts WHERE tenant_id = \(tenant) AND token = ANY(\(list)::text[])
            """)
        return Set(try rows.map { try $0.decode("token", as: String.self) })
    }
}
