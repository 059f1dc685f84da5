import EventBus
public import Events
public import Foundation
import Privacy
public import Postgres
public import Projections

/// The knowledge index (schema `knowledge`, run by the planner): a projection of the knowledge topic,
/// where `switchboard kb ingest` publishes chunked documents. Postgres full-text search over
/// it, reranked, feeds the brains; like every read model it can be dropped and rebuilt from
/// the log (a version bump does that).
public struct KnowledgeProjection: Projection {
    public let name = "planner.knowledge"
    public let schema: String
    public let version = 1
    public let tables = ["documents", "chunks"]
    public let interestedIn: Set<String>? = [KnowledgeDocumentPublished.eventType, KnowledgeCollectionSynced.eventType]

    public init(schema: String = "knowledge") { self.schema = schema }

    public static let migrations: [Migration] = KnowledgeIndex.migrations + [projectionOffsetsMigration(version: 100)]

    /// Event by event: documents are few and large, and each replaces its chunks.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        for event in events.map(\.event) { try apply(event, in: connection) }
    }

    func apply(_ event: EventEnvelope, in connection: PostgresConnection) throws {
        switch event.type {
        case KnowledgeDocumentPublished.eventType:
            let published = try event.decode(KnowledgeDocumentPublished.self)
            let document = KnowledgeDocument(
                id: published.documentID, title: published.title, source: published.source, text: "", contentHash: published.contentHash)
            let chunks = published.chunks.map { chunk in
                KnowledgeChunk(
                    id: chunk.chunkID, documentId: published.documentID, ordinal: chunk.ordinal, headingPath: chunk.headingPath,
                    text: chunk.text, tokenCount: chunk.tokenCount, startOffset: 0, endOffset: 0)
            }
            do {
                _ = try KnowledgeIndex.store(document, chunks: chunks, schema: schema, at: event.occurredAt, on: connection)
            } catch let error as KnowledgeError {
                throw PermanentEventError("knowledge document \(published.documentID): \(error)")
            }
        case KnowledgeCollectionSynced.eventType:
            let synced = try event.decode(KnowledgeCollectionSynced.self)
            let live = try connection.query("SELECT document_id FROM \(identifier: schema).documents WHERE NOT deleted AND starts_with(document_id, \(synced.collection + ":"))")
            let keep = Set(synced.documentIDs)
            for row in live {
                let id = try row.decode("document_id", as: String.self)
                if !keep.contains(id) { _ = try KnowledgeIndex.evict(id, schema: schema, at: event.occurredAt, on: connection) }
            }
        default:
            return
        }
    }
}

/// What `switchboard kb ingest <dir>` publishes: each document of the directory, chunked
/// (300–500 tokens with overlap, at headings and paragraphs), then the collection's complete
/// list so the planner evicts documents that are gone. Ids are scoped by collection.
public enum KnowledgeIngest {
    public struct Report: Sendable {
        public var events: [EventEnvelope]
        public var documents: Int
        public var chunks: Int
        public var errors: [String]
    }

    public static func events(directory: URL, collection: String, tenant: String, producer: String) throws -> Report {
        // Leaves room for the envelope and overlap: an event must stay under the 900 KiB limit.
        let loader = KnowledgeDocumentLoader(maxFileBytes: 600_000)
        let loaded = try loader.load(directory: directory)
        let chunker = Chunker()
        let aggregate = "kb:\(collection)"
        var events: [EventEnvelope] = []
        var chunkCount = 0
        var errors = loaded.errors.map { "\($0)" }
        for document in loaded.documents {
            let chunks = chunker.chunks(for: document)
            chunkCount += chunks.count
            let published = KnowledgeDocumentPublished(
                collection: collection, documentID: "\(collection):\(document.id)", title: document.title, source: document.source,
                contentHash: document.contentHash,
                chunks: chunks.map { .init(chunkID: "\(collection):\($0.id)", ordinal: $0.ordinal, headingPath: $0.headingPath, text: $0.text, tokenCount: $0.tokenCount) })
            let event = try EventEnvelope.start(published, conversationID: aggregate, tenantID: tenant, producer: producer)
            guard EventCodec.encode(event).count <= EventCodec.maxEventBytes else {
                errors.append("\(document.source): too large for one event after chunking; split the file")
                continue
            }
            events.append(event)
        }
        // Present but unreadable files keep their indexed version (not evicted).
        let keep = loaded.presentDocumentIds.map { "\(collection):\($0)" }.sorted()
        events.append(try EventEnvelope.start(KnowledgeCollectionSynced(collection: collection, documentIDs: keep), conversationID: aggregate, tenantID: tenant, producer: producer))
        return Report(events: events, documents: events.count - 1, chunks: chunkCount, errors: errors)
    }
}

/// A passage cut down for a reply: Markdown headings dropped, whitespace collapsed, whole
/// sentences up to about `limit` characters. A help article is untrusted text (anyone with
/// write access to the help centre, or a poisoned import, wrote it): sentences that carry
/// personal data or speak to the assistant are left out of what is quoted to a customer
/// (docs/SECURITY.md). The filter is a second line; the hard ones are the grounding rule for
/// writes and the approval ladder.
public enum KnowledgeExcerpt {
    public static func make(_ text: String, limit: Int = 320) -> String {
        let prose = text.split(separator: "\n", omittingEmptySubsequences: true)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            .joined(separator: " ")
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        var excerpt = ""
        var sentence = ""
        var ended = false
        let characters = Array(prose)
        for (index, character) in characters.enumerated() {
            sentence.append(character)
            // A sentence ends at . ! ? before a space or the end ("example.com" goes on).
            if ".!?".contains(character), index + 1 == characters.count || characters[index + 1] == " " {
                defer { sentence = "" }
                if isUnsafe(sentence) { continue }
                if !excerpt.isEmpty, excerpt.count + sentence.count > limit { ended = true; break }
                excerpt += sentence
            }
        }
        if excerpt.isEmpty, !ended {
            // No whole sentence: the text itself, cut, unless it is unsafe.
            let rest = sentence.isEmpty ? prose : sentence
            guard !isUnsafe(rest) else { return "" }
            guard rest.count > limit else { return rest.trimmingCharacters(in: .whitespaces) }
            let cut = rest.prefix(limit)
            excerpt = String(cut[..<(cut.lastIndex(of: " ") ?? cut.endIndex)]) + "..."
        }
        return excerpt.trimmingCharacters(in: .whitespaces)
    }

    /// A sentence not to quote: personal data (emails, phone and card numbers, national ids),
    /// words addressed to an assistant or a system, or prompt-fence markers.
    public static func isUnsafe(_ sentence: String) -> Bool {
        if !PIIDetector.shared.findings(in: sentence).isEmpty { return true }
        let range = NSRange(sentence.startIndex..., in: sentence)
        return instructionPatterns.contains { $0.firstMatch(in: sentence, range: range) != nil }
    }

    // Fixed and compiled once; NSRegularExpression is thread-safe.
    nonisolated(unsafe) static let instructionPatterns: [NSRegularExpression] = [
        #"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|instructions|rules?|prompt|polic(y|ies)|guidelines)\b"#,
        #"(^|[\s"'(\[])(system|assistant|ai|bot|chatbot|model|agent)\s*:"#,
        #"\b(note|message|instructions?)\s+(for|to)\s+(the\s+)?(assistant|ai|bot|chatbot|model|llm)\b"#,
        #"\b(assistant|chatbot|language model|llm|the ai|the bot|the model)\b.{0,60}\b(must|should|shall|always|never|will now|is now|are now|has to)\b"#,
        #"<<<|>>>|\x{2039}{3}|\x{203A}{3}|\bEND UNTRUSTED\b|\bUNTRUSTED source="#,
        #"\[/?(INST|SYS)\]|<\|?(im_start|im_end|system)\|?>"#,
    ].map { try! NSRegularExpression(pattern: $0, options: [.caseInsensitive]) }
}
