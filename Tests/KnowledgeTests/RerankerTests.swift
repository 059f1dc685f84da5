import Foundation
import Knowledge
import Testing

private func hit(_ id: String, text: String, heading: String = "", title: String = "Doc", retrieval: Double = 0.1)
    -> KnowledgeHit
{
    KnowledgeHit(
        chunkId: id, documentId: "doc-\(id)", ordinal: 0, title: title, source: "\(id).md", heading: heading,
        text: text,
        retrievalScore: retrieval)
}

@Suite struct RerankerTests {
    let reranker = LexicalReranker()

    @Test func analyzerStemsAndDropsStopWords() {
        #expect(
            TextAnalyzer.terms("How long do refunds take after I send something back?") == [
                "long", "refund", "tak", "send", "someth", "back",
            ])
        #expect(Set(["refund", "refunds", "refunded", "refunding"].map(TextAnalyzer.stem)).count == 1)
        #expect(Set(["ship", "ships", "shipped", "shipping"].map(TextAnalyzer.stem)).count == 1)
        #expect(Set(["deliveries", "delivery"].map(TextAnalyzer.stem)).count == 1)
        #expect(Set(["take", "takes", "taking"].map(TextAnalyzer.stem)).count == 1)
        #expect(TextAnalyzer.terms("It's 100% the café's") == ["100", "café"])
    }

    /// The fixture corpus, chunked, all passed as candidates: the refund document wins.
    @Test func refundQuestionRanksRefundDocFirst() throws {
        let loaded = try KnowledgeDocumentLoader().load(directory: Fixtures.corpus)
        #expect(loaded.documents.count == 4)
        let chunker = Chunker()
        var candidates: [KnowledgeHit] = []
        for document in loaded.documents {
            for chunk in chunker.chunks(for: document) {
                candidates.append(
                    KnowledgeHit(
                        chunkId: chunk.id, documentId: document.id, ordinal: chunk.ordinal, title: document.title,
                        source: document.source, heading: chunk.heading, text: chunk.text, retrievalScore: 0.1))
            }
        }
        let ranked = reranker.rank(query: Fixtures.refundQuestion, candidates: candidates, limit: 5)
        #expect(ranked.count == 5)
        #expect(ranked.first?.source == "refunds.md")
        #expect(zip(ranked, ranked.dropFirst()).allSatisfy { $0.score >= $1.score })
    }

    @Test func headingMatchOutranksTheSameTextWithoutIt() {
        let text = "We process it within two business days after arrival."
        let ranked = reranker.rank(
            query: "refund timing",
            candidates: [
                hit("plain", text: text + " The refund is then sent.", heading: "Doc > Payments"),
                hit("titled", text: text + " The refund is then sent.", heading: "Doc > Refund timing"),
            ], limit: 2)
        #expect(ranked.map(\.chunkId) == ["titled", "plain"])
    }

    @Test func coverageBeatsRepetitionOfOneTerm() {
        let ranked = reranker.rank(
            query: "warranty battery replacement",
            candidates: [
                hit("repeat", text: "Warranty warranty warranty. The warranty is great, warranty for all."),
                hit("covers", text: "The warranty covers the battery and we send a replacement."),
                hit("other", text: "Shipping is free above fifty euros."),
            ], limit: 3)
        #expect(ranked.first?.chunkId == "covers")
        #expect(ranked.last?.chunkId == "other")
    }

    @Test func proximityBreaksTiesBetweenEqualBags() {
        let filler = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
        let ranked = reranker.rank(
            query: "express delivery",
            candidates: [
                hit("far", text: "express \(filler) \(filler) delivery"),
                hit("near", text: "\(filler) express delivery \(filler)"),
            ], limit: 2)
        #expect(ranked.map(\.chunkId) == ["near", "far"])
    }

    @Test func deterministicWithLimitAndEmptyCases() {
        let candidates = (0..<20).map {
            hit("c\($0)", text: "refund policy number \($0) " + String(repeating: "word ", count: $0))
        }
        let a = reranker.rank(query: "refund policy", candidates: candidates, limit: 5)
        let b = reranker.rank(query: "refund policy", candidates: candidates.reversed(), limit: 5)
        #expect(a == b)
        #expect(a.count == 5)
        #expect(reranker.rank(query: "refund", candidates: [], limit: 5).isEmpty)
        #expect(reranker.rank(query: "refund", candidates: candidates, limit: 0).isEmpty)
        // A query of stop words only keeps the retrieval order (by score, then id).
        let byRetrieval = reranker.rank(
            query: "the and of",
            candidates: [hit("x", text: "a", retrieval: 0.2), hit("y", text: "b", retrieval: 0.9)], limit: 2)
        #expect(byRetrieval.map(\.chunkId) == ["y", "x"])
    }

    @Test func conformsToTheAsyncProtocol() async throws {
        let generic: any KnowledgeReranker = reranker
        let ranked = try await generic.rerank(
            query: "battery", candidates: [hit("a", text: "no"), hit("b", text: "battery")], limit: 1)
        #expect(ranked.map(\.chunkId) == ["b"])
    }
}
