import Foundation
public import JSON
public import Knowledge

/// A read tool that runs outside the step's database transaction (it reads through an async
/// read model's queries); the executor records its result like an HTTP call's.
public protocol AsyncReadTool: Sendable {
    var name: String { get }
    func run(args: JSONValue, tenantID: String) async throws -> JSONValue
}

/// `search_kb`: the best passages of the help centre for a query, each with the document it
/// comes from, so an answer can cite it. Reads the knowledge read model (schema `knowledge`,
/// filled from the knowledge topic by the planner's consumer) through its queries.
public struct SearchKnowledgeBase: AsyncReadTool {
    public let name = "search_kb"
    let index: KnowledgeIndex

    public init(index: KnowledgeIndex) { self.index = index }

    public func run(args: JSONValue, tenantID: String) async throws -> JSONValue {
        guard case .string(let query)? = args["query"], !query.isEmpty else {
            throw ToolFailure(code: "invalid_args", message: "query missing", retriable: false)
        }
        let limit = args["limit"]?.intValue.map { min(max($0, 1), 10) } ?? 3
        let found = try await index.retrieve(query, candidates: 20, limit: limit)
        return .object([
            "query": .string(query),
            "match": .string(found.mode.rawValue),
            "results": .array(found.hits.map { hit in
                .object([
                    "title": .string(hit.title), "source": .string(hit.source), "document_id": .string(hit.documentId),
                    "excerpt": .string(KnowledgeExcerpt.make(hit.text)),
                ])
            }),
        ])
    }
}
