import Events
import Foundation
import Knowledge
import Testing

@Suite struct KnowledgeLogTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/corpus")

    @Test func ingestPublishesEachDocumentChunkedThenTheCollectionsList() throws {
        let report = try KnowledgeIngest.events(directory: Self.corpus, collection: "help", tenant: "default", producer: "kb@test")
        #expect(report.documents == 4 && report.errors.isEmpty)
        #expect(report.events.map(\.type) == Array(repeating: "KnowledgeDocumentPublished", count: 4) + ["KnowledgeCollectionSynced"])
        #expect(Set(report.events.map(\.conversationID)) == ["kb:help"], "one key: the list comes after the documents")
        let documents = try report.events.dropLast().map { try $0.decode(KnowledgeDocumentPublished.self) }
        #expect(documents.map(\.title).sorted() == ["Refunds", "Returns", "Shipping", "Warranty"])
        #expect(documents.allSatisfy { $0.documentID.hasPrefix("help:doc_") && !$0.chunks.isEmpty && $0.chunks.allSatisfy { $0.chunkID.hasPrefix("help:") } })
        #expect(report.chunks == documents.reduce(0) { $0 + $1.chunks.count })
        let synced = try report.events.last!.decode(KnowledgeCollectionSynced.self)
        #expect(Set(synced.documentIDs) == Set(documents.map(\.documentID)))
        // Deterministic: the same directory gives the same ids and chunks.
        let again = try KnowledgeIngest.events(directory: Self.corpus, collection: "help", tenant: "default", producer: "kb@test")
        #expect(try again.events.dropLast().map { try $0.decode(KnowledgeDocumentPublished.self) } == documents)
    }

    @Test func excerptsDropHeadingsAndKeepWholeSentences() {
        let text = "# Refunds > Timing\n\nRefunds take 5 to 10 business days.   They go to the original card.\n" + String(repeating: "More words here. ", count: 40)
        let excerpt = KnowledgeExcerpt.make(text, limit: 80)
        #expect(excerpt == "Refunds take 5 to 10 business days. They go to the original card.")
        #expect(KnowledgeExcerpt.make("no sentence end at all", limit: 12) == "no sentence...")
    }
}
