import Foundation
import Knowledge
import Testing

@Suite struct LoaderTests {
    @Test func loadsMarkdownAndTextRecursivelyInPathOrder() async throws {
        try await Fixtures.withTemporaryDirectory { dir in
            try Fixtures.write("# A\n", to: dir, "b.md")
            try Fixtures.write("Plain text, no heading.", to: dir, "a.txt")
            try Fixtures.write("intro\n\n# Nested Title #\n\ntext", to: dir, "sub/deeper/c.markdown")
            try Fixtures.write("## Only a subheading\n", to: dir, "sub/d.MD")
            try Fixtures.write("{}", to: dir, "ignored.json")
            try Fixtures.write("# Hidden", to: dir, ".hidden.md")
            try Fixtures.write("# Hidden dir", to: dir, ".git/x.md")

            let result = try KnowledgeDocumentLoader().load(directory: dir)
            #expect(result.errors.isEmpty)
            #expect(result.documents.map(\.source) == ["a.txt", "b.md", "sub/d.MD", "sub/deeper/c.markdown"])
            #expect(result.documents.map(\.title) == ["a", "A", "d", "Nested Title"])
            let b = result.documents[1]
            #expect(b.text == "# A\n")
            #expect(b.id == KnowledgeDocument.id(forSource: "b.md"))
            #expect(b.updatedAt != nil)
            // Ids depend on the relative path only: the same tree elsewhere gives the same ids.
            try await Fixtures.withTemporaryDirectory { other in
                try Fixtures.write("# A\n", to: other, "b.md")
                let again = try KnowledgeDocumentLoader().load(directory: other)
                #expect(again.documents.first?.id == b.id)
                #expect(again.documents.first?.contentHash == b.contentHash)
            }
        }
    }

    @Test func contentHashIsSHA256OfTheFileBytes() async throws {
        try await Fixtures.withTemporaryDirectory { dir in
            try Fixtures.write("# A\n", to: dir, "a.md")
            let document = try #require(try KnowledgeDocumentLoader().load(directory: dir).documents.first)
            #expect(document.contentHash == "aa1237b773c38dbddef583c4868aaea7a44c5237ea7923aecca5513764b42d80")
        }
    }

    @Test func badFilesAreReportedWithoutStoppingTheWalk() async throws {
        try await Fixtures.withTemporaryDirectory { dir in
            try Fixtures.write("# Good\n\nfine", to: dir, "good.md")
            try Data(repeating: UInt8(ascii: "a"), count: (1 << 20) + 1).write(to: dir.appendingPathComponent("big.md"))
            try Data(repeating: UInt8(ascii: "a"), count: 1 << 20).write(
                to: dir.appendingPathComponent("exactly-1mib.txt"))
            try Data([0x23, 0x20, 0xC3, 0x28, 0x0A]).write(to: dir.appendingPathComponent("latin.md"))
            try Data([0x61, 0x00, 0x62]).write(to: dir.appendingPathComponent("nul.txt"))
            try FileManager.default.createSymbolicLink(
                atPath: dir.appendingPathComponent("link.md").path,
                withDestinationPath: dir.appendingPathComponent("good.md").path)

            let result = try KnowledgeDocumentLoader().load(directory: dir)
            #expect(result.documents.map(\.source) == ["exactly-1mib.txt", "good.md"])
            let codes = Dictionary(uniqueKeysWithValues: result.errors.map { ($0.path ?? "", $0.code) })
            #expect(
                codes == [
                    "big.md": .fileTooLarge, "latin.md": .notUTF8, "nul.txt": .binaryContent,
                    "link.md": .unsupportedFileType,
                ])
            let big = try #require(result.errors.first { $0.path == "big.md" })
            #expect(big.description.contains("1 MiB"))
            #expect(big.documentId == KnowledgeDocument.id(forSource: "big.md"))
            #expect(!big.isRetriable)
            // Failed files still count as present, so ingest does not evict their last version.
            #expect(result.presentDocumentIds.contains(KnowledgeDocument.id(forSource: "latin.md")))
        }
    }

    @Test func normalisesLineEndingsAndBOM() async throws {
        try await Fixtures.withTemporaryDirectory { dir in
            try Data([0xEF, 0xBB, 0xBF] + Array("# Title\r\n\r\nLine one\rLine two\r\n".utf8)).write(
                to: dir.appendingPathComponent("crlf.md"))
            let document = try #require(try KnowledgeDocumentLoader().load(directory: dir).documents.first)
            #expect(document.text == "# Title\n\nLine one\nLine two\n")
            #expect(document.title == "Title")
        }
    }

    @Test func limitsAreConfigurable() async throws {
        try await Fixtures.withTemporaryDirectory { dir in
            for name in ["a", "b", "c"] {
                try Fixtures.write(String(repeating: "x", count: 100), to: dir, "\(name).md")
            }
            let result = try KnowledgeDocumentLoader(maxFileBytes: 99, maxFiles: 2).load(directory: dir)
            #expect(result.documents.isEmpty)
            #expect(
                result.errors.map(\.code).sorted { $0.rawValue < $1.rawValue } == [
                    .fileTooLarge, .fileTooLarge, .tooManyFiles,
                ])
        }
    }

    @Test func missingDirectoryThrows() {
        #expect(
            throws: KnowledgeError(
                code: .directoryUnreadable, message: "the knowledge directory does not exist or is not a directory")
        ) {
            try KnowledgeDocumentLoader().load(directory: URL(fileURLWithPath: "/nonexistent/knowledge-\(UUID())"))
        }
    }

    @Test func inMemoryDocumentsMatchLoadedOnes() async throws {
        try await Fixtures.withTemporaryDirectory { dir in
            try Fixtures.write("# Hello\n\nworld\n", to: dir, "x/hello.md")
            let loaded = try #require(try KnowledgeDocumentLoader().load(directory: dir).documents.first)
            let built = KnowledgeDocument(source: "x/hello.md", text: "# Hello\n\nworld\n")
            #expect(built.id == loaded.id && built.title == loaded.title && built.contentHash == loaded.contentHash)
        }
    }
}
