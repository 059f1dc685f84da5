import DatabaseTestSupport
import Foundation
import Knowledge
import Postgres
import Testing

@Suite
struct KnowledgeIndexTests {
    @Test func refundQuestionFindsTheRefundDocumentFirst() async throws {
        try await TestDB.withIndex { index in
            let report = try await index.ingest(directory: try Fixtures.corpus)
            #expect(report.inserted.count == 4 && report.errors.isEmpty && report.evicted.isEmpty)

            let retrieval = try await index.retrieve(Fixtures.refundQuestion)
            // No chunk holds every word of the question: the OR fallback found the candidates.
            #expect(retrieval.mode == .anyTerm)
            #expect(retrieval.candidates.count >= 5 && retrieval.candidates.count <= 20)
            #expect(retrieval.hits.count == 5)
            let top = try #require(retrieval.hits.first)
            #expect(top.source == "refunds.md")
            #expect(top.heading.hasPrefix("Refunds"))
            #expect(top.text.contains("Refunds are processed within 2 business days"))
            #expect(try await index.search(Fixtures.refundQuestion).first?.chunkId == top.chunkId)
        }
    }

    @Test func andQueryIsUsedWhenEveryTermMatches() async throws {
        try await TestDB.withIndex { index in
            _ = try await index.ingest(directory: try Fixtures.corpus)
            let retrieval = try await index.retrieve("refund timing")
            #expect(retrieval.mode == .allTerms)
            #expect(retrieval.hits.first?.source == "refunds.md")
            let express = try await index.retrieve("\"express delivery\" courier signature")
            #expect(express.mode == .allTerms)
            #expect(express.hits.first?.source == "shipping.md")
            #expect(express.hits.first?.text.contains("Express delivery takes 1–2 business days") == true)
        }
    }

    @Test func reingestingUnchangedIsANoOp() async throws {
        try await TestDB.withIndex { index in
            let first = try await index.ingest(directory: try Fixtures.corpus)
            let id = KnowledgeDocument.id(forSource: "shipping.md")
            let before = try #require(try await index.record(documentId: id))
            #expect(before.version == 1 && before.chunkCount >= 2 && !before.deleted)

            let second = try await index.ingest(directory: try Fixtures.corpus)
            #expect(second.unchanged.sorted() == first.inserted.sorted())
            #expect(second.inserted.isEmpty && second.updated.isEmpty && second.evicted.isEmpty)
            let after = try #require(try await index.record(documentId: id))
            #expect(after == before)  // same version, ingestedAt, chunk count
        }
    }

    @Test func editedDocumentIsReplacedInOneVersionBump() async throws {
        try await TestDB.withIndex { index in
            try await Fixtures.withCorpusCopy { dir in
                _ = try await index.ingest(directory: dir)
                try Fixtures.write(
                    "# Warranty\n\nEvery product now has a three-year warranty covering zeppelin parts.\n", to: dir,
                    "warranty.md")
                let report = try await index.ingest(directory: dir)
                let id = KnowledgeDocument.id(forSource: "warranty.md")
                #expect(report.updated == [id])
                #expect(report.unchanged.count == 3)
                let record = try #require(try await index.record(documentId: id))
                #expect(record.version == 2 && record.chunkCount == 1)
                #expect(try await index.search("zeppelin").map(\.documentId) == [id])
                #expect(try await index.search("workmanship").allSatisfy { $0.documentId != id })
            }
        }
    }

    @Test func removedFileIsEvictedAndNoLongerFound() async throws {
        try await TestDB.withIndex { index in
            try await Fixtures.withCorpusCopy { dir in
                _ = try await index.ingest(directory: dir)
                let id = KnowledgeDocument.id(forSource: "warranty.md")
                #expect(try await index.search("warranty claim defect").first?.documentId == id)

                try FileManager.default.removeItem(at: dir.appendingPathComponent("warranty.md"))
                let report = try await index.ingest(directory: dir)
                #expect(report.evicted == [id])
                #expect(report.unchanged.count == 3)
                let record = try #require(try await index.record(documentId: id))
                #expect(record.deleted && record.chunkCount == 0)
                #expect(try await index.search("warranty claim defect").allSatisfy { $0.documentId != id })
                #expect(try await index.search("workmanship").isEmpty)

                // Coming back restores it as a new version.
                try FileManager.default.copyItem(
                    at: try Fixtures.corpus.appendingPathComponent("warranty.md"),
                    to: dir.appendingPathComponent("warranty.md"))
                let restored = try await index.ingest(directory: dir)
                #expect(restored.updated == [id])
                #expect(try await index.record(documentId: id)?.version == 2)
                #expect(try await index.search("workmanship").first?.documentId == id)
            }
        }
    }

    @Test func unreadableFileKeepsItsIndexedVersion() async throws {
        try await TestDB.withIndex { index in
            try await Fixtures.withCorpusCopy { dir in
                _ = try await index.ingest(directory: dir)
                try Data([0xFF, 0xFE, 0x00]).write(to: dir.appendingPathComponent("warranty.md"))
                let report = try await index.ingest(directory: dir)
                #expect(report.errors.map(\.code) == [.notUTF8])
                #expect(report.evicted.isEmpty)
                #expect(try await index.search("workmanship").first?.source == "warranty.md")
            }
        }
    }

    @Test func emptyDirectoryRefusesToEvictEverything() async throws {
        try await TestDB.withIndex { index in
            _ = try await index.ingest(directory: try Fixtures.corpus)
            try await Fixtures.withTemporaryDirectory { empty in
                await #expect(throws: KnowledgeError.self) { try await index.ingest(directory: empty) }
            }
            #expect(try await index.search("workmanship").count == 1)
        }
    }

    @Test func evictAndEvictStaleDirectly() async throws {
        try await TestDB.withIndex { index in
            let chunker = Chunker()
            let docs = [
                "a.md": "# Alpha\n\nAardvarks eat ants.", "b.md": "# Beta\n\nBadgers dig burrows.",
                "c.md": "# Gamma\n\nGeese gaggle.",
            ]
            .map { KnowledgeDocument(source: $0.key, text: $0.value) }
            for doc in docs {
                #expect(try await index.upsert(doc, chunks: chunker.chunks(for: doc)) == .inserted)
                #expect(try await index.upsert(doc, chunks: chunker.chunks(for: doc)) == .unchanged)
            }
            let a = KnowledgeDocument.id(forSource: "a.md")
            let b = KnowledgeDocument.id(forSource: "b.md")
            #expect(try await index.evict(documentId: a))
            #expect(try await index.evict(documentId: a) == false)
            #expect(try await index.evict(documentId: "doc_unknown") == false)
            #expect(try await index.search("aardvarks").isEmpty)
            let stale = try await index.evictStale(keeping: [b])
            #expect(stale == [KnowledgeDocument.id(forSource: "c.md")])
            #expect(try await index.search("geese").isEmpty)
            #expect(try await index.search("badgers").map(\.documentId) == [b])
        }
    }

    @Test func upsertRejectsChunksOfAnotherDocument() async throws {
        try await TestDB.withIndex { index in
            let doc = KnowledgeDocument(source: "a.md", text: "# A\n\ntext")
            let foreign = Chunker().chunks(text: "other", documentId: "doc_other")
            await #expect(throws: KnowledgeError.self) { try await index.upsert(doc, chunks: foreign) }
            let record = try await index.record(documentId: doc.id)
            #expect(record == nil)
        }
    }

    @Test func hostileAndEmptyQueriesAreHarmless() async throws {
        try await TestDB.withIndex { index in
            _ = try await index.ingest(directory: try Fixtures.corpus)
            for query in [
                "", "   ", "the and of", "'); DROP TABLE chunks; --", "refund & | ! ( ) : * <-> ' \\ \"", "-refund",
            ] {
                let retrieval = try await index.retrieve(query)
                #expect(retrieval.hits.count <= 5, "\(query)")
            }
            #expect(try await index.retrieve("the and of").mode == .none)
            #expect(try await index.retrieve("refund & | ! ( ) : * <-> ' \\ \"").hits.first?.source == "refunds.md")
            let long = String(repeating: "refund parcel ", count: 2_000)
            #expect(try await index.search(long).isEmpty == false)
            #expect(try await index.search("refund").count <= 5)
        }
    }

    @Test func migrationsAreIdempotentAndSchemaIsValidated() async throws {
        try await TestDB.withIndex { index in
            try await index.migrate()
            try await index.migrate()
            #expect(throws: PostgresError.self) {
                try KnowledgeIndex(pool: index.pool, schema: "bad-schema\"; --", logger: TestDB.logger)
            }
        }
    }
}
